package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"sort"
	"strings"

	"github.com/datahub-oss/datahub/internal/catalog"
)

// Parties are the people an event concerns, from the catalog.
type Parties struct {
	// Owner is the integration's owner (an address or a team name).
	Owner   string
	Systems []SystemParties
}

// SystemParties are a system's owner and contacts.
type SystemParties struct {
	Name     string
	Owner    string
	Contacts []catalog.Contact
}

// Directory finds who an event concerns. CatalogDirectory reads the catalog; tests use fakes.
type Directory interface {
	// Parties returns the integration's owner and its systems' owners and contacts, or the
	// system's when there is no integration. Either name may be empty.
	Parties(ctx context.Context, integration, system string) (Parties, error)
}

// CatalogDirectory resolves parties from catalog resources: an Integration's owner, its source
// and destination Endpoints' Systems (and the event's System) with their owners and contacts.
type CatalogDirectory struct {
	Catalog interface {
		Get(ctx context.Context, kind catalog.Kind, name string) (catalog.Entry, error)
	}
}

var _ Directory = CatalogDirectory{}

// Parties implements Directory. Resources that no longer exist are skipped: a notification
// about a deleted integration still reaches its plain addresses.
func (d CatalogDirectory) Parties(ctx context.Context, integration, system string) (Parties, error) {
	var p Parties
	var systems []string
	if integration != "" {
		e, err := d.Catalog.Get(ctx, catalog.KindIntegration, integration)
		switch {
		case errors.Is(err, catalog.ErrNotFound):
		case err != nil:
			return p, fmt.Errorf("find recipients of integration %q: %w", integration, err)
		default:
			p.Owner = e.Resource.Metadata.Owner
			if spec := e.Resource.Integration(); spec != nil {
				for _, ep := range []string{spec.Source.Endpoint, spec.Destination.Endpoint} {
					ee, err := d.Catalog.Get(ctx, catalog.KindEndpoint, ep)
					if errors.Is(err, catalog.ErrNotFound) {
						continue
					}
					if err != nil {
						return p, fmt.Errorf("find recipients of integration %q: %w", integration, err)
					}
					if es := ee.Resource.Endpoint(); es != nil {
						systems = append(systems, es.System)
					}
				}
			}
		}
	}
	if system != "" {
		systems = append(systems, system)
	}
	seen := map[string]bool{}
	for _, name := range systems {
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		e, err := d.Catalog.Get(ctx, catalog.KindSystem, name)
		if errors.Is(err, catalog.ErrNotFound) {
			continue
		}
		if err != nil {
			return p, fmt.Errorf("find recipients of system %q: %w", name, err)
		}
		if s := e.Resource.System(); s != nil {
			p.Systems = append(p.Systems, SystemParties{Name: name, Owner: s.Owner, Contacts: s.Contacts})
		}
	}
	return p, nil
}

// needsDirectory reports whether any of the recipients is a role.
func needsDirectory(to []string) bool {
	for _, t := range to {
		if isRole(t) {
			return true
		}
	}
	return false
}

// resolveRecipients expands roles into addresses, dropping duplicates and names that are not
// addresses (an owner may be a team name); the result is sorted.
func resolveRecipients(to []string, p Parties) []string {
	set := map[string]bool{}
	add := func(s string) {
		if a, err := mail.ParseAddress(strings.TrimSpace(s)); err == nil {
			set[strings.ToLower(a.Address)] = true
		}
	}
	for _, t := range to {
		switch {
		case t == RoleOwner:
			add(p.Owner)
		case t == RoleSystemOwners:
			for _, s := range p.Systems {
				add(s.Owner)
			}
		case t == RoleSystemContacts:
			for _, s := range p.Systems {
				for _, c := range s.Contacts {
					add(c.Email)
				}
			}
		case strings.HasPrefix(t, RolePrefix):
			role := strings.TrimPrefix(t, RolePrefix)
			for _, s := range p.Systems {
				for _, c := range s.Contacts {
					if strings.EqualFold(c.Role, role) {
						add(c.Email)
					}
				}
			}
		default:
			add(t)
		}
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// validAddress reports whether s is one bare email address.
func validAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}
