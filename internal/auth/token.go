package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/datahub-oss/datahub/internal/ctrlchar"
	"github.com/datahub-oss/datahub/internal/store"
)

// Token format: TokenPrefix and 32 random bytes in unpadded base64url. The fixed prefix lets
// secret scanners and log redaction recognise hub tokens.
const (
	TokenPrefix  = "dht_"
	tokenBytes   = 32
	tokenLen     = len(TokenPrefix) + 43 // base64url of 32 bytes, unpadded
	shownPrefix  = 8                     // characters kept in clear for lists
	maxTokenName = 100
)

// Session token names, so that lists tell sessions from API tokens.
const (
	SessionName     = "session"
	OIDCSessionName = "oidc session"
)

// Token is an API token as listed: never the token itself nor its hash.
type Token struct {
	ID     string `json:"id"`
	UserID string `json:"user_id"`
	Name   string `json:"name"`
	// Prefix is the token's first 8 characters, to recognise it.
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"` // nil: never
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

// NewToken is what CreateToken needs.
type NewToken struct {
	UserID string
	Name   string
	// TTL is the lifetime; zero means the service's default (90 days unless configured).
	TTL time.Duration
	// NoExpiry asks for a token that never expires: only for service accounts (local users
	// without a password), and only by a holder of tokens.manage.
	NoExpiry bool
}

// CreateToken creates an API token for nt.UserID on behalf of by and returns the token,
// which is not kept and cannot be shown again, and its listing. Users create their own
// tokens; tokens for others, lifetimes beyond the maximum and tokens that never expire need
// tokens.manage.
func (s *Service) CreateToken(ctx context.Context, by *Principal, nt NewToken) (string, *Token, error) {
	name := strings.TrimSpace(nt.Name)
	if name == "" || utf8.RuneCountInString(name) > maxTokenName {
		return "", nil, usageErr(fmt.Errorf("a token needs a name of 1 to %d characters", maxTokenName))
	}
	if err := ctrlchar.Check("token name", name); err != nil {
		return "", nil, usageErr(err)
	}
	if !by.CanManageTokensOf(nt.UserID) {
		return "", nil, fmt.Errorf("create token for user %s: %w", nt.UserID, ErrForbidden)
	}
	if nt.TTL < 0 || (nt.NoExpiry && nt.TTL != 0) {
		return "", nil, usageErr(errors.New("a token's lifetime must be positive, or none at all"))
	}
	manager := by.Can(PermTokensManage)
	ttl := nt.TTL
	if ttl == 0 {
		ttl = s.tokenTTL
	}
	if !nt.NoExpiry && ttl > s.maxTokenTTL && !manager {
		return "", nil, fmt.Errorf("create token: a lifetime over %s needs %s: %w", s.maxTokenTTL, PermTokensManage, ErrForbidden)
	}
	u, err := s.Get(ctx, nt.UserID)
	if err != nil {
		return "", nil, fmt.Errorf("create token: %w", err)
	}
	if u.Disabled {
		return "", nil, usageErr(fmt.Errorf("create token for %s: the user is disabled", u.Name))
	}
	var expires *time.Time
	if nt.NoExpiry {
		if !manager {
			return "", nil, fmt.Errorf("create token: a token that never expires needs %s: %w", PermTokensManage, ErrForbidden)
		}
		if u.Source != SourceLocal || u.HasPassword {
			return "", nil, usageErr(fmt.Errorf("create token for %s: only service accounts (local users without a password) may have tokens that never expire", u.Name))
		}
	} else {
		e := s.now().Add(ttl)
		expires = &e
	}
	var plain string
	var tok *Token
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		plain, tok, err = s.insertToken(ctx, tx, u.ID, name, expires)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("create token for %s: %w", u.Name, err)
	}
	return plain, tok, nil
}

// IssueSession creates the short-lived token a login (password or OIDC) hands to the
// browser or CLI. It lasts SessionTTL.
func (s *Service) IssueSession(ctx context.Context, p *Principal) (string, *Token, error) {
	if p == nil || p.UserID == "" {
		return "", nil, fmt.Errorf("issue session: %w", ErrForbidden)
	}
	name := SessionName
	if p.Via == ViaOIDC {
		name = OIDCSessionName
	}
	exp := s.now().Add(SessionTTL)
	var plain string
	var tok *Token
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		plain, tok, err = s.insertToken(ctx, tx, p.UserID, name, &exp)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("issue session for %s: %w", p.Name, err)
	}
	return plain, tok, nil
}

// newToken returns a fresh token and the hex SHA-256 stored in its place. The token is
// 256 bits from crypto/rand, so a fast hash is enough: nothing can be guessed offline.
func newToken() (plain, hash string, err error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate token: %w", err)
	}
	plain = TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return plain, hashToken(plain), nil
}

func hashToken(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

func (s *Service) insertToken(ctx context.Context, tx *store.Tx, userID, name string, expires *time.Time) (string, *Token, error) {
	plain, hash, err := newToken()
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	tok := &Token{ID: newID(), UserID: userID, Name: name, Prefix: plain[:shownPrefix], CreatedAt: now.UTC()}
	var exp *string
	if expires != nil {
		e := store.Time(*expires)
		exp = &e
		t := expires.UTC()
		tok.ExpiresAt = &t
	}
	_, err = tx.Exec(ctx, `INSERT INTO auth_tokens (id, user_id, name, prefix, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		tok.ID, userID, name, tok.Prefix, hash, store.Time(now), exp)
	if err != nil {
		return "", nil, err
	}
	return plain, tok, nil
}

// wellFormed reports whether s looks like a hub token, before touching the database.
func wellFormed(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s[len(TokenPrefix):])
	return err == nil && len(b) == tokenBytes
}

// Verify checks a token and returns its principal. A malformed, unknown or disabled user's
// token is ErrInvalidToken; an expired or revoked one ErrTokenExpired or ErrTokenRevoked
// (both match ErrInvalidToken). The token never appears in an error.
func (s *Service) Verify(ctx context.Context, token string) (*Principal, error) {
	if !wellFormed(token) {
		return nil, ErrInvalidToken
	}
	want := hashToken(token)
	var (
		id, hash, userID, name, roles string
		expires, revoked, lastUsed    sql.NullString
		disabled                      int64
	)
	err := s.db.QueryRow(ctx, `SELECT t.id, t.hash, t.expires_at, t.revoked_at, t.last_used_at, u.id, u.name, u.roles, u.disabled
FROM auth_tokens t JOIN auth_users u ON u.id = t.user_id WHERE t.hash = ?`, want).
		Scan(&id, &hash, &expires, &revoked, &lastUsed, &userID, &name, &roles, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("verify token: %w", err)
	}
	// The index lookup already matched; comparing again in constant time costs nothing and
	// keeps the check independent of how the database compares text.
	if subtle.ConstantTimeCompare([]byte(hash), []byte(want)) != 1 {
		return nil, ErrInvalidToken
	}
	now := s.now()
	if revoked.Valid {
		return nil, ErrTokenRevoked
	}
	if expires.Valid {
		exp, err := store.ParseTime(expires.String)
		if err != nil {
			return nil, fmt.Errorf("verify token %s: %w", id, err)
		}
		if !now.Before(exp) {
			return nil, ErrTokenExpired
		}
	}
	if disabled != 0 {
		return nil, ErrInvalidToken
	}
	p := &Principal{UserID: userID, Name: name, TokenID: id, Via: ViaToken}
	if err := json.Unmarshal([]byte(roles), &p.Roles); err != nil {
		return nil, fmt.Errorf("verify token %s: read roles of %s: %w", id, name, err)
	}
	if err := s.touch(ctx, id, lastUsed, now); err != nil {
		return nil, fmt.Errorf("verify token %s: %w", id, err)
	}
	return p, nil
}

// touch records the token's use at most once per lastUsedEvery. The condition is in the
// UPDATE so concurrent requests do not write twice.
func (s *Service) touch(ctx context.Context, id string, last sql.NullString, now time.Time) error {
	if last.Valid {
		if t, err := store.ParseTime(last.String); err == nil && now.Sub(t) < lastUsedEvery {
			return nil
		}
	}
	cutoff := store.Time(now.Add(-lastUsedEvery))
	_, err := s.db.Exec(ctx, `UPDATE auth_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)`,
		store.Time(now), id, cutoff)
	return err
}

const tokCols = `id, user_id, name, prefix, created_at, expires_at, last_used_at, revoked_at`

func scanToken(sc interface{ Scan(...any) error }) (*Token, error) {
	var (
		t                         Token
		created                   string
		expires, lastUsed, revoke sql.NullString
	)
	if err := sc.Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, &created, &expires, &lastUsed, &revoke); err != nil {
		return nil, err
	}
	var err error
	if t.CreatedAt, err = store.ParseTime(created); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		src sql.NullString
		dst **time.Time
	}{{expires, &t.ExpiresAt}, {lastUsed, &t.LastUsedAt}, {revoke, &t.RevokedAt}} {
		if !f.src.Valid {
			continue
		}
		if *f.dst, err = parseTimePtr(&f.src.String); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// ListTokens lists the tokens of userID, or of every user when userID is empty (which needs
// tokens.manage), newest first, revoked and expired ones included.
func (s *Service) ListTokens(ctx context.Context, by *Principal, userID string) ([]Token, error) {
	q := `SELECT ` + tokCols + ` FROM auth_tokens`
	var args []any
	if userID == "" {
		if !by.Can(PermTokensManage) {
			return nil, fmt.Errorf("list tokens of every user: %w", ErrForbidden)
		}
	} else {
		if !by.CanManageTokensOf(userID) {
			return nil, fmt.Errorf("list tokens of user %s: %w", userID, ErrForbidden)
		}
		q += ` WHERE user_id = ?`
		args = append(args, userID)
	}
	rows, err := s.db.Query(ctx, q+` ORDER BY created_at DESC, id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// Revoke revokes a token and returns it, for the audit log. Revoking a revoked token keeps
// the first revocation time. A token the principal may not manage is reported not found, so
// that token ids of other users cannot be probed.
func (s *Service) Revoke(ctx context.Context, by *Principal, tokenID string) (*Token, error) {
	var tok *Token
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		t, err := scanToken(tx.QueryRow(ctx, `SELECT `+tokCols+` FROM auth_tokens WHERE id = ?`, tokenID))
		if errors.Is(err, sql.ErrNoRows) || (err == nil && !by.CanManageTokensOf(t.UserID)) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if t.RevokedAt == nil {
			now := s.now().UTC()
			if _, err := tx.Exec(ctx, `UPDATE auth_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`, store.Time(now), tokenID); err != nil {
				return err
			}
			t.RevokedAt = &now
		}
		tok = t
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("revoke token %s: %w", tokenID, err)
	}
	return tok, nil
}
