// Package auth is the hub's identity and authorisation: roles and the permission table, local
// users with argon2id passwords, API tokens (stored as SHA-256 hashes only), the first
// admin's bootstrap token, and OIDC login. The API layer attaches one Permission to every
// route and asks Allowed; the few rules that depend on the object (a run's environment, a
// token's owner) are checked here or through CanRun.
package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/datahub-oss/datahub/internal/store"
)

func init() {
	// Roles are a JSON array on the user row: a hub has tens or hundreds of users, the set is
	// always read whole, and it keeps every change to a user one UPDATE. Local users have NULL
	// issuer and subject, which the UNIQUE constraint ignores on both dialects. The token hash
	// is hex text (portable) and unique, so Verify is one indexed lookup.
	store.Register(store.Migration{Component: "auth", Version: 1, SQL: `
CREATE TABLE auth_users (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL UNIQUE,
	display_name  TEXT NOT NULL DEFAULT '',
	email         TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL DEFAULT '',
	roles         TEXT NOT NULL DEFAULT '[]',
	disabled      INTEGER NOT NULL DEFAULT 0,
	source        TEXT NOT NULL DEFAULT 'local',
	oidc_issuer   TEXT,
	oidc_subject  TEXT,
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL,
	UNIQUE (oidc_issuer, oidc_subject)
);
CREATE TABLE auth_tokens (
	id           TEXT PRIMARY KEY,
	user_id      TEXT NOT NULL REFERENCES auth_users (id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	prefix       TEXT NOT NULL,
	hash         TEXT NOT NULL UNIQUE,
	created_at   TEXT NOT NULL,
	expires_at   TEXT,
	last_used_at TEXT,
	revoked_at   TEXT
);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id)`})
}

// Token lifetimes.
const (
	// DefaultTokenTTL is an API token's lifetime when none is asked for.
	DefaultTokenTTL = 90 * 24 * time.Hour
	// DefaultMaxTokenTTL is the longest lifetime a user may give their own token; only
	// holders of tokens.manage may go beyond it or ask for a token that never expires.
	DefaultMaxTokenTTL = 366 * 24 * time.Hour
	// SessionTTL is the lifetime of a login session's token.
	SessionTTL = 12 * time.Hour
	// lastUsedEvery bounds how often Verify writes last_used_at: a busy client must not turn
	// every request into a write.
	lastUsedEvery = time.Minute
	// hashSlots bounds concurrent argon2id hashes (each takes Params.Memory).
	hashSlots = 4
)

// Service manages users and tokens in the metadata store.
type Service struct {
	db          *store.DB
	now         func() time.Time
	params      Params
	tokenTTL    time.Duration
	maxTokenTTL time.Duration
	slots       chan struct{}
	dummy       dummyHash
}

// Option changes a Service's defaults.
type Option func(*Service)

// WithClock sets the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithParams sets the argon2id parameters for new hashes. Stored hashes made with other
// parameters are redone at the user's next successful login.
func WithParams(p Params) Option { return func(s *Service) { s.params = p } }

// WithTokenTTL sets the default lifetime of new API tokens and the longest one a user may
// ask for without tokens.manage. Zero keeps the default.
func WithTokenTTL(def, maxTTL time.Duration) Option {
	return func(s *Service) {
		if def > 0 {
			s.tokenTTL = def
		}
		if maxTTL > 0 {
			s.maxTokenTTL = maxTTL
		}
	}
}

// New returns a Service on a migrated store.
func New(db *store.DB, opts ...Option) *Service {
	s := &Service{
		db:          db,
		now:         time.Now,
		params:      DefaultParams,
		tokenTTL:    DefaultTokenTTL,
		maxTokenTTL: DefaultMaxTokenTTL,
		slots:       make(chan struct{}, hashSlots),
	}
	for _, o := range opts {
		o(s)
	}
	if s.maxTokenTTL < s.tokenTTL {
		s.maxTokenTTL = s.tokenTTL
	}
	return s
}

// acquire takes a hashing slot; release with the returned func.
func (s *Service) acquire(ctx context.Context) (func(), error) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// hash hashes a password under the service's parameters, within a slot.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	release, err := s.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return hashPassword(pw, s.params)
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func (s *Service) stamp() string { return store.Time(s.now()) }

func parseTimePtr(ns *string) (*time.Time, error) {
	if ns == nil || *ns == "" {
		return nil, nil
	}
	t, err := store.ParseTime(*ns)
	if err != nil {
		return nil, fmt.Errorf("read stored time %q: %w", *ns, err)
	}
	return &t, nil
}
