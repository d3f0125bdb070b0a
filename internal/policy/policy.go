// Package policy is the one place that says whether a run, a delivery or an apply may touch
// what its resources name. The server trusts no resource:
//
//   - local file and SQLite endpoints only point inside the hub's file roots (file_roots, and
//     always the data folder's files/ folder), and never into the rest of the data folder
//     (store, embedded NATS, master key, admin token, rejects, hooks), whatever the spelling:
//     "..", symbolic links and hard links included;
//   - no database endpoint reaches the hub's own metadata store;
//   - secret: references are for every author, env: and file: ones for admins or for the
//     names and paths the settings allow;
//   - a run carries the rights of whoever asked for it: a user, or for a trigger's runs
//     whoever last applied the integration, checked against their current roles.
//
// The worker calls CheckRun for every run after planning and before the engine opens
// anything; the API checks every applied document with ApplyCheck; deliveries check their
// endpoints with CheckEndpoint. `datahub copy` runs with its user's own rights and is not
// confined.
package policy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/store"
)

// FilesDir is the data folder's sub-folder that is always a file root.
const FilesDir = "files"

// Settings are the hub's settings the policy enforces.
type Settings struct {
	// DataDir is the data folder.
	DataDir string
	// FileRoots are the folders local file and SQLite endpoints may point into, besides
	// <DataDir>/files. Relative ones are taken from the working directory.
	FileRoots []string
	// Store is the metadata store's URL ("" = SQLite in DataDir).
	Store string
	// EnvAllow are glob patterns (path.Match) of the environment variable names that
	// non-admins may reference (env:NAME).
	EnvAllow []string
	// FileAllow are glob patterns (filepath.Match) of the absolute file paths that non-admins
	// may reference (file:PATH).
	FileAllow []string
}

// Users looks up a user's current roles; *auth.Service is one.
type Users interface {
	GetByName(ctx context.Context, name string) (*auth.User, error)
}

// Policy enforces Settings. Its methods are safe for concurrent use.
type Policy struct {
	data      string // the data folder, absolute
	files     string // <data>/files, absolute
	roots     []string
	storeFile string    // the SQLite store, absolute; "" for PostgreSQL
	store     *pgTarget // the PostgreSQL store; nil for SQLite
	envAllow  []string
	fileAllow []string
	users     Users

	// lookupIP and localIPs are the resolver and the machine's addresses (replaced in tests).
	lookupIP func(ctx context.Context, host string) ([]net.IP, error)
	localIPs func() []net.IP
}

// New returns the policy of s; users (nil: no rights are checked, for tests of other parts)
// gives the current roles of run requesters and authors. It creates <DataDir>/files.
func New(s Settings, users Users) (*Policy, error) {
	if s.DataDir == "" {
		return nil, errors.New("policy: no data folder")
	}
	data, err := filepath.Abs(s.DataDir)
	if err != nil {
		return nil, fmt.Errorf("policy: data folder: %w", err)
	}
	p := &Policy{data: data, files: filepath.Join(data, FilesDir), users: users,
		envAllow: s.EnvAllow, fileAllow: s.FileAllow, lookupIP: lookupIP, localIPs: localIPs}
	if err := os.MkdirAll(p.files, 0o750); err != nil {
		return nil, fmt.Errorf("create the file root %s: %w", p.files, err)
	}
	p.roots = []string{p.files}
	for _, r := range s.FileRoots {
		if strings.TrimSpace(r) == "" {
			continue
		}
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, fmt.Errorf("file root %s: %w", r, err)
		}
		if !slices.Contains(p.roots, abs) {
			p.roots = append(p.roots, abs)
		}
	}
	for _, g := range append(slices.Clone(s.EnvAllow), s.FileAllow...) {
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("secrets allow pattern %q: %w", g, err)
		}
	}
	switch {
	case s.Store == "":
		p.storeFile = filepath.Join(data, store.FileName)
	case strings.HasPrefix(s.Store, "sqlite:"):
		if p.storeFile, err = filepath.Abs(strings.TrimPrefix(s.Store, "sqlite:")); err != nil {
			return nil, fmt.Errorf("policy: store: %w", err)
		}
	default:
		if p.store, err = parsePG(s.Store); err != nil {
			return nil, fmt.Errorf("policy: store: %w", err)
		}
	}
	return p, nil
}

// Roots are the file roots, absolute, <data>/files first.
func (p *Policy) Roots() []string { return slices.Clone(p.roots) }

// ErrRefused is wrapped by every refusal of the policy.
var ErrRefused = errors.New("refused by the hub's policy")

// Error is a refusal: what was refused (a path, an address, a reference, a run), why, and
// what to do. Endpoint and Env name the Endpoint resource when there is one.
type Error struct {
	Endpoint string
	Env      string
	What     string
	Why      string
	Hint     string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Endpoint != "" {
		fmt.Fprintf(&b, "endpoint %q", e.Endpoint)
		if e.Env != "" {
			fmt.Fprintf(&b, " in %s", e.Env)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.What)
	b.WriteString(" is refused: ")
	b.WriteString(e.Why)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Problem is the refusal without the endpoint's name, for a field error of an apply.
func (e *Error) Problem() string {
	c := *e
	c.Endpoint, c.Env = "", ""
	return c.Error()
}

// Is makes errors.Is(err, ErrRefused) hold.
func (e *Error) Is(target error) bool { return target == ErrRefused }

// at names the endpoint a refusal concerns.
func at(err error, endpoint, env string) error {
	var pe *Error
	if errors.As(err, &pe) {
		pe.Endpoint, pe.Env = endpoint, env
	}
	return err
}
