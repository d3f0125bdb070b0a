package auth

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/datahub-oss/datahub/internal/ctrlchar"
	"github.com/datahub-oss/datahub/internal/store"
)

// Source says where a user comes from.
type Source string

// The user sources.
const (
	SourceLocal Source = "local" // created here; may have a password
	SourceOIDC  Source = "oidc"  // created at first OIDC login; roles follow the provider's claim
)

// User is a user as shown: never the password hash.
type User struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	DisplayName string    `json:"display_name,omitempty"`
	Email       string    `json:"email,omitempty"`
	Roles       []Role    `json:"roles"`
	Disabled    bool      `json:"disabled"`
	Source      Source    `json:"source"`
	OIDCIssuer  string    `json:"oidc_issuer,omitempty"`
	OIDCSubject string    `json:"oidc_subject,omitempty"`
	HasPassword bool      `json:"has_password"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// NewUser is what CreateUser needs. Password may be empty: the user then signs in with
// tokens only (a service account).
type NewUser struct {
	Name        string
	DisplayName string
	Email       string
	Password    string
	Roles       []Role
}

// nameRe is what a user name may look like after lower-casing: it shows up in the audit log,
// resource owners and URLs, so no spaces or punctuation beyond what e-mail addresses need.
var nameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._@+-]{0,63}$`)

// NormalizeName lower-cases and checks a user name: names are case-insensitive.
func NormalizeName(name string) (string, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if !nameRe.MatchString(n) {
		return "", usageErr(fmt.Errorf("invalid user name %q: 1 to 64 of a-z 0-9 . _ @ + -, starting with a letter or digit", name))
	}
	return n, nil
}

// checkProfile refuses control and invisible formatting characters in a display name or an
// e-mail address (see package ctrlchar): they are shown to people, in the CLI and the audit
// log, and must neither drive a terminal nor make one user look like another.
func checkProfile(display, email string) error {
	if err := ctrlchar.Check("display_name", display); err != nil {
		return usageErr(err)
	}
	if err := ctrlchar.Check("email", email); err != nil {
		return usageErr(err)
	}
	return nil
}

const userCols = `id, name, display_name, email, password_hash, roles, disabled, source, oidc_issuer, oidc_subject, created_at, updated_at`

// userRow is a user with its hash, never leaving the package.
type userRow struct {
	User
	hash string
}

func scanUser(sc interface{ Scan(...any) error }) (*userRow, error) {
	var (
		u                  userRow
		roles              string
		disabled           int64
		source             string
		issuer, subject    sql.NullString
		created, updatedAt string
	)
	if err := sc.Scan(&u.ID, &u.Name, &u.DisplayName, &u.Email, &u.hash, &roles, &disabled, &source,
		&issuer, &subject, &created, &updatedAt); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(roles), &u.Roles); err != nil {
		return nil, fmt.Errorf("read roles of user %s: %w", u.Name, err)
	}
	if u.Roles == nil {
		u.Roles = []Role{}
	}
	u.Disabled = disabled != 0
	u.Source = Source(source)
	u.OIDCIssuer, u.OIDCSubject = issuer.String, subject.String
	u.HasPassword = u.hash != ""
	var err error
	if u.CreatedAt, err = store.ParseTime(created); err != nil {
		return nil, fmt.Errorf("read user %s: %w", u.Name, err)
	}
	if u.UpdatedAt, err = store.ParseTime(updatedAt); err != nil {
		return nil, fmt.Errorf("read user %s: %w", u.Name, err)
	}
	return &u, nil
}

func rolesJSON(roles []Role) string {
	if roles == nil {
		roles = []Role{}
	}
	b, _ := json.Marshal(roles) // a []string cannot fail
	return string(b)
}

// CreateUser creates a local user.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (*User, error) {
	name, err := NormalizeName(nu.Name)
	if err != nil {
		return nil, err
	}
	if err := checkProfile(nu.DisplayName, nu.Email); err != nil {
		return nil, err
	}
	roles, err := normRoles(nu.Roles)
	if err != nil {
		return nil, err
	}
	var hash string
	if nu.Password != "" {
		if err := checkPassword(nu.Password); err != nil {
			return nil, err
		}
		if hash, err = s.hash(ctx, nu.Password); err != nil {
			return nil, fmt.Errorf("create user %s: %w", name, err)
		}
	}
	now := s.stamp()
	id := newID()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		return insertUser(ctx, tx, id, name, nu.DisplayName, nu.Email, hash, roles, SourceLocal, nil, nil, now)
	})
	if err != nil {
		return nil, fmt.Errorf("create user %s: %w", name, err)
	}
	return s.Get(ctx, id)
}

func insertUser(ctx context.Context, tx *store.Tx, id, name, display, email, hash string, roles []Role, src Source, issuer, subject *string, now string) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM auth_users WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return ErrNameTaken
	}
	_, err := tx.Exec(ctx, `INSERT INTO auth_users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)`,
		id, name, strings.TrimSpace(display), strings.TrimSpace(email), hash, rolesJSON(roles), string(src), issuer, subject, now, now)
	if isUniqueViolation(err) {
		return ErrNameTaken
	}
	return err
}

// isUniqueViolation recognises a UNIQUE failure on either driver.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint failed") || strings.Contains(m, "SQLSTATE 23505")
}

// Get returns a user by id.
func (s *Service) Get(ctx context.Context, id string) (*User, error) {
	r, err := s.row(ctx, s.db, `id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", id, err)
	}
	return &r.User, nil
}

// GetByName returns a user by name (case-insensitive).
func (s *Service) GetByName(ctx context.Context, name string) (*User, error) {
	r, err := s.row(ctx, s.db, `name = ?`, strings.ToLower(strings.TrimSpace(name)))
	if err != nil {
		return nil, fmt.Errorf("get user %s: %w", name, err)
	}
	return &r.User, nil
}

type rowQuerier interface {
	QueryRow(ctx context.Context, q string, args ...any) *sql.Row
}

func (s *Service) row(ctx context.Context, q rowQuerier, where string, args ...any) (*userRow, error) {
	r, err := scanUser(q.QueryRow(ctx, `SELECT `+userCols+` FROM auth_users WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

// List returns every user, by name.
func (s *Service) List(ctx context.Context) ([]User, error) {
	rows, err := s.db.Query(ctx, `SELECT `+userCols+` FROM auth_users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []User
	for rows.Next() {
		r, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, r.User)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// SetPassword sets a local user's password.
func (s *Service) SetPassword(ctx context.Context, id, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	u, err := s.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if u.Source != SourceLocal {
		return usageErr(fmt.Errorf("set password of %s: the user signs in through OIDC", u.Name))
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return fmt.Errorf("set password of %s: %w", u.Name, err)
	}
	if _, err := s.db.Exec(ctx, `UPDATE auth_users SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, s.stamp(), id); err != nil {
		return fmt.Errorf("set password of %s: %w", u.Name, err)
	}
	return nil
}

// SetRoles replaces a user's roles and returns them before and after, for the audit log.
// Taking admin from the last enabled admin fails with ErrLastAdmin.
func (s *Service) SetRoles(ctx context.Context, id string, roles []Role) (before, after []Role, err error) {
	after, err = normRoles(roles)
	if err != nil {
		return nil, nil, err
	}
	err = s.guardedTx(ctx, func(tx *store.Tx) error {
		u, err := s.row(ctx, tx, `id = ?`, id)
		if err != nil {
			return err
		}
		before = u.Roles
		if !u.Disabled && slices.Contains(before, RoleAdmin) && !slices.Contains(after, RoleAdmin) {
			if err := lastAdminCheck(ctx, tx, id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE auth_users SET roles = ?, updated_at = ? WHERE id = ?`, rolesJSON(after), s.stamp(), id)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("set roles of user %s: %w", id, err)
	}
	return before, after, nil
}

// Disable stops a user from signing in; their tokens stop working too. Disabling the last
// enabled admin fails with ErrLastAdmin.
func (s *Service) Disable(ctx context.Context, id string) error {
	err := s.guardedTx(ctx, func(tx *store.Tx) error {
		u, err := s.row(ctx, tx, `id = ?`, id)
		if err != nil {
			return err
		}
		if u.Disabled {
			return nil
		}
		if slices.Contains(u.Roles, RoleAdmin) {
			if err := lastAdminCheck(ctx, tx, id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE auth_users SET disabled = 1, updated_at = ? WHERE id = ?`, s.stamp(), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("disable user %s: %w", id, err)
	}
	return nil
}

// Enable lets a disabled user sign in again.
func (s *Service) Enable(ctx context.Context, id string) error {
	res, err := s.db.Exec(ctx, `UPDATE auth_users SET disabled = 0, updated_at = ? WHERE id = ?`, s.stamp(), id)
	if err == nil {
		err = mustAffect(res)
	}
	if err != nil {
		return fmt.Errorf("enable user %s: %w", id, err)
	}
	return nil
}

func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// guardedTx runs fn in a transaction that sees a stable set of admins: SQLite transactions
// take the write lock up front (_txlock=immediate); on PostgreSQL the transaction is
// serializable, and InTx retries it on a serialization failure, so two concurrent demotions
// cannot both pass the last-admin check.
func (s *Service) guardedTx(ctx context.Context, fn func(tx *store.Tx) error) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		if tx.Dialect == store.Postgres {
			if _, err := tx.ExecContext(ctx, `SET TRANSACTION ISOLATION LEVEL SERIALIZABLE`); err != nil {
				return err
			}
		}
		return fn(tx)
	})
}

// lastAdminCheck fails when no enabled admin other than except exists.
func lastAdminCheck(ctx context.Context, tx *store.Tx, except string) error {
	rows, err := tx.Query(ctx, `SELECT roles FROM auth_users WHERE disabled = 0 AND id <> ? AND roles LIKE ?`, except, `%"admin"%`)
	if err != nil {
		return err
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var js string
		if err := rows.Scan(&js); err != nil {
			return err
		}
		var roles []Role
		if json.Unmarshal([]byte(js), &roles) == nil && slices.Contains(roles, RoleAdmin) {
			return nil
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return ErrLastAdmin
}

// dummyHash is a hash to verify against when the user is unknown or has no password, so
// that the answer takes as long as for a real user.
type dummyHash struct {
	once sync.Once
	hash string
	err  error
}

func (s *Service) dummyPHC() (string, error) {
	s.dummy.once.Do(func() {
		s.dummy.hash, s.dummy.err = hashPassword("not a password of anyone", s.params)
	})
	return s.dummy.hash, s.dummy.err
}

// Authenticate checks a user name and password. Every failure is ErrInvalidCredentials and
// costs one argon2id hash, known user or not. A hash made with older parameters is redone.
func (s *Service) Authenticate(ctx context.Context, name, password string) (*Principal, error) {
	u, err := s.row(ctx, s.db, `name = ?`, strings.ToLower(strings.TrimSpace(name)))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	hash := ""
	if u != nil {
		hash = u.hash
	}
	usable := hash != "" && len(password) <= MaxPasswordLen
	if !usable {
		if hash, err = s.dummyPHC(); err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
	}
	pw := password
	if len(pw) > MaxPasswordLen {
		pw = "" // the same cost, without hashing an oversized input
	}
	release, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	ok, rehash, verr := verifyPassword(hash, pw, s.params)
	release()
	if verr != nil {
		return nil, fmt.Errorf("authenticate: %w", verr)
	}
	if !usable || !ok || u.Disabled || u.Source != SourceLocal {
		return nil, ErrInvalidCredentials
	}
	if rehash {
		nh, err := s.hash(ctx, password)
		if err != nil {
			return nil, fmt.Errorf("authenticate %s: rehash: %w", u.Name, err)
		}
		// Only replace the hash that was checked: a concurrent SetPassword wins.
		if _, err := s.db.Exec(ctx, `UPDATE auth_users SET password_hash = ? WHERE id = ? AND password_hash = ?`, nh, u.ID, hash); err != nil {
			return nil, fmt.Errorf("authenticate %s: rehash: %w", u.Name, err)
		}
	}
	return &Principal{UserID: u.ID, Name: u.Name, Roles: u.Roles, Via: ViaPassword}, nil
}
