package secret

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
)

func init() {
	store.Register(store.Migration{Component: "secret", Version: 1, SQL: schemaSQL("BLOB"), Postgres: schemaSQL("BYTEA")})
}

func schemaSQL(blob string) string {
	return `CREATE TABLE secret_values (
	name       TEXT PRIMARY KEY,
	ciphertext ` + blob + ` NOT NULL,
	key_id     TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	created_by TEXT NOT NULL
)`
}

// MaxValueSize bounds a secret's value; secrets are passwords, tokens and keys, not files.
const MaxValueSize = 64 << 10

// ErrNotFound means no secret has the name.
var ErrNotFound = errors.New("secret not found")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidName reports whether name is a valid secret name: a letter or digit, then up to 127
// letters, digits, '.', '_' or '-'.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid secret name %q: use 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Info describes a stored secret; it never carries the value.
type Info struct {
	Name      string    `json:"name"`
	KeyID     string    `json:"key_id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	CreatedBy string    `json:"created_by"`
}

// Service stores secrets encrypted in the metadata store and resolves references to them.
type Service struct {
	db  *store.DB
	red *Redactor
	now func() time.Time

	// mu guards ring; Rotate holds it for writing so no Put seals with the old key meanwhile.
	mu   sync.RWMutex
	ring *Keyring
}

// New returns a Service over db that seals with ring's primary key. Every value it decrypts or
// resolves is added to its Redactor.
func New(db *store.DB, ring *Keyring) *Service {
	return &Service{db: db, ring: ring, red: NewRedactor(), now: time.Now}
}

// Redactor is the redactor that learns every value this service hands out.
func (s *Service) Redactor() *Redactor { return s.red }

// KeyID is the id of the master key new secrets are sealed with.
func (s *Service) KeyID() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ring.Primary().ID()
}

// Put stores value under name, replacing any earlier value. Empty values are refused: they are
// nearly always a mistake (an unset variable piped in).
func (s *Service) Put(ctx context.Context, name string, value []byte, actor string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if len(value) == 0 {
		return fmt.Errorf("put secret %s: the value is empty", name)
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("put secret %s: the value is %d bytes, more than the %d allowed", name, len(value), MaxValueSize)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ct, err := s.ring.Encrypt(name, value)
	if err != nil {
		return fmt.Errorf("put secret %s: %w", name, err)
	}
	now := store.Time(s.now())
	_, err = s.db.Exec(ctx, `INSERT INTO secret_values (name, ciphertext, key_id, created_at, updated_at, created_by)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET ciphertext = excluded.ciphertext, key_id = excluded.key_id, updated_at = excluded.updated_at`,
		name, ct, s.ring.Primary().ID(), now, now, actor)
	if err != nil {
		return fmt.Errorf("put secret %s in %s: %w", name, s.db.Where, err)
	}
	s.red.Add(string(value))
	return nil
}

// Get returns the secret's value. A missing secret gives an error wrapping ErrNotFound.
func (s *Service) Get(ctx context.Context, name string) ([]byte, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	// Held across read and decrypt, so a Rotate in between cannot pair an old ciphertext with
	// the new keyring.
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ct []byte
	err := s.db.QueryRow(ctx, `SELECT ciphertext FROM secret_values WHERE name = ?`, name).Scan(&ct)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %s from %s: %w", name, s.db.Where, err)
	}
	v, err := s.ring.Decrypt(name, ct)
	if err != nil {
		return nil, fmt.Errorf("decrypt secret %s: %w", name, err)
	}
	s.red.Add(string(v))
	return v, nil
}

// Delete removes a secret. A missing secret gives an error wrapping ErrNotFound.
func (s *Service) Delete(ctx context.Context, name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	res, err := s.db.Exec(ctx, `DELETE FROM secret_values WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete secret %s from %s: %w", name, s.db.Where, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("delete secret: %w: %s", ErrNotFound, name)
	}
	return nil
}

// List returns every secret's name and dates, by name. Values are not read.
func (s *Service) List(ctx context.Context) ([]Info, error) {
	rows, err := s.db.Query(ctx, `SELECT name, key_id, created_at, updated_at, created_by FROM secret_values ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list secrets in %s: %w", s.db.Where, err)
	}
	defer func() { _ = rows.Close() }()
	var out []Info
	for rows.Next() {
		var in Info
		var created, updated string
		if err := rows.Scan(&in.Name, &in.KeyID, &created, &updated, &in.CreatedBy); err != nil {
			return nil, fmt.Errorf("list secrets in %s: %w", s.db.Where, err)
		}
		if in.CreatedAt, err = store.ParseTime(created); err != nil {
			return nil, fmt.Errorf("list secrets: %s: created_at: %w", in.Name, err)
		}
		if in.UpdatedAt, err = store.ParseTime(updated); err != nil {
			return nil, fmt.Errorf("list secrets: %s: updated_at: %w", in.Name, err)
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list secrets in %s: %w", s.db.Where, err)
	}
	return out, nil
}

// Rotate re-encrypts every secret under newKey in one transaction and returns how many it
// re-encrypted; from then on the service seals and opens with newKey only. Secrets are opened
// with any key the current keyring holds, so a rotation interrupted after the new key was made
// primary elsewhere can be finished. The caller must then persist newKey (WriteKeyFile, or
// DATAHUB_MASTER_KEY on every server sharing the store): servers still holding the old key
// can no longer read the secrets. Each of also runs at the end of the same transaction (the
// audit chain is re-keyed there), so the rotation commits whole or not at all.
func (s *Service) Rotate(ctx context.Context, newKey Key, also ...func(ctx context.Context, tx *store.Tx) error) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if newKey.ID() == s.ring.Primary().ID() {
		return 0, errors.New("rotate secrets: the new master key is the current one")
	}
	next, err := NewKeyring(newKey)
	if err != nil {
		return 0, fmt.Errorf("rotate secrets: %w", err)
	}
	type row struct {
		name string
		ct   []byte
	}
	var n int
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		n = 0
		if tx.Dialect == store.Postgres {
			// Another server's Put must not slip in between the read and the rewrite.
			if _, err := tx.Exec(ctx, `LOCK TABLE secret_values IN EXCLUSIVE MODE`); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, `SELECT name, ciphertext FROM secret_values ORDER BY name`)
		if err != nil {
			return err
		}
		var all []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.name, &r.ct); err != nil {
				_ = rows.Close()
				return err
			}
			all = append(all, r)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range all {
			pt, err := s.ring.Decrypt(r.name, r.ct)
			if err != nil {
				return fmt.Errorf("decrypt secret %s: %w", r.name, err)
			}
			ct, err := next.Encrypt(r.name, pt)
			clear(pt)
			if err != nil {
				return fmt.Errorf("encrypt secret %s: %w", r.name, err)
			}
			// updated_at stays: the value did not change, and key_id shows the rotation.
			if _, err := tx.Exec(ctx, `UPDATE secret_values SET ciphertext = ?, key_id = ? WHERE name = ?`,
				ct, newKey.ID(), r.name); err != nil {
				return fmt.Errorf("update secret %s: %w", r.name, err)
			}
			n++
		}
		for _, fn := range also {
			if err := fn(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("rotate secrets in %s: %w", s.db.Where, err)
	}
	s.ring = next
	return n, nil
}
