package auth

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

func TestTokenLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s, clk := newTestService(t, db)
		alice := mustUser(t, s, "alice", RoleIntegrator)
		me := principalOf(alice)

		plain, tok, err := s.CreateToken(ctx, me, NewToken{UserID: alice.ID, Name: "laptop"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(plain, "dht_") || len(plain) != 47 || tok.Prefix != plain[:8] {
			t.Fatalf("token %q prefix %q", plain[:8], tok.Prefix)
		}
		if tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(clk.Now().Add(90*24*time.Hour)) {
			t.Fatalf("default expiry %v, want 90 days", tok.ExpiresAt)
		}
		p, err := s.Verify(ctx, plain)
		if err != nil || p.UserID != alice.ID || p.TokenID != tok.ID || p.Via != ViaToken || p.Roles[0] != RoleIntegrator {
			t.Fatalf("Verify = %+v, %v", p, err)
		}

		// last_used_at: set on first use, then at most once a minute.
		lastUsed := func() time.Time {
			ts, err := s.ListTokens(ctx, me, alice.ID)
			if err != nil || len(ts) != 1 || ts[0].LastUsedAt == nil {
				t.Fatalf("ListTokens = %+v, %v", ts, err)
			}
			return *ts[0].LastUsedAt
		}
		first := lastUsed()
		if !first.Equal(clk.Now()) {
			t.Fatalf("last used %v, want %v", first, clk.Now())
		}
		clk.Advance(30 * time.Second)
		if _, err := s.Verify(ctx, plain); err != nil {
			t.Fatal(err)
		}
		if !lastUsed().Equal(first) {
			t.Fatal("last_used_at written twice within a minute")
		}
		clk.Advance(31 * time.Second)
		if _, err := s.Verify(ctx, plain); err != nil {
			t.Fatal(err)
		}
		if !lastUsed().Equal(clk.Now()) {
			t.Fatal("last_used_at not refreshed after a minute")
		}

		// Malformed and unknown tokens.
		other, _, _ := newToken()
		for _, bad := range []string{"", "dht_", plain[:46], plain + "A", "xyz_" + plain[4:], other, strings.ToUpper(plain)} {
			if _, err := s.Verify(ctx, bad); !errors.Is(err, ErrInvalidToken) || connector.CodeOf(err) != connector.CodeAuth {
				t.Errorf("Verify(bad) = %v", err)
			}
		}

		// Expiry.
		short, _, err := s.CreateToken(ctx, me, NewToken{UserID: alice.ID, Name: "ci", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Hour - time.Second)
		if _, err := s.Verify(ctx, short); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		clk.Advance(time.Second)
		if _, err := s.Verify(ctx, short); !errors.Is(err, ErrTokenExpired) || !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("at expiry: %v", err)
		}

		// Revocation: idempotent, keeps the first time.
		r, err := s.Revoke(ctx, me, tok.ID)
		if err != nil || r.RevokedAt == nil {
			t.Fatalf("Revoke = %+v, %v", r, err)
		}
		clk.Advance(time.Minute)
		r2, err := s.Revoke(ctx, me, tok.ID)
		if err != nil || !r2.RevokedAt.Equal(*r.RevokedAt) {
			t.Fatalf("second Revoke = %+v, %v", r2, err)
		}
		if _, err := s.Verify(ctx, plain); !errors.Is(err, ErrTokenRevoked) || !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("revoked: %v", err)
		}
		if _, err := s.Revoke(ctx, me, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Revoke unknown: %v", err)
		}

		// A disabled user's tokens stop working; enabled again, they work.
		live, _, err := s.CreateToken(ctx, me, NewToken{UserID: alice.ID, Name: "again"})
		if err != nil {
			t.Fatal(err)
		}
		mustUser(t, s, "admin", RoleAdmin)
		if err := s.Disable(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(ctx, live); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("disabled user's token: %v", err)
		}
		if err := s.Enable(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(ctx, live); err != nil {
			t.Fatal(err)
		}

		// Roles changes apply to existing tokens at once.
		if _, _, err := s.SetRoles(ctx, alice.ID, []Role{RoleViewer}); err != nil {
			t.Fatal(err)
		}
		if p, err := s.Verify(ctx, live); err != nil || p.Roles[0] != RoleViewer {
			t.Fatalf("after SetRoles: %+v %v", p, err)
		}
	})
}

func TestTokenPermissions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s, _ := newTestService(t, db, WithTokenTTL(30*24*time.Hour, 60*24*time.Hour))
		admin := principalOf(mustUser(t, s, "admin", RoleAdmin))
		alice := mustUser(t, s, "alice", RoleIntegrator)
		bob := mustUser(t, s, "bob", RoleOperator)
		bot, err := s.CreateUser(ctx, NewUser{Name: "etl-bot", Roles: []Role{RoleOperator}})
		if err != nil {
			t.Fatal(err)
		}
		pa, pb := principalOf(alice), principalOf(bob)

		_, tok, err := s.CreateToken(ctx, pa, NewToken{UserID: alice.ID, Name: "a"})
		if err != nil || tok.ExpiresAt.Sub(tok.CreatedAt) != 30*24*time.Hour {
			t.Fatalf("configured default TTL: %+v %v", tok, err)
		}
		for name, tc := range map[string]struct {
			by   *Principal
			nt   NewToken
			want error
		}{
			"for someone else":      {pb, NewToken{UserID: alice.ID, Name: "x"}, ErrForbidden},
			"over the maximum":      {pa, NewToken{UserID: alice.ID, Name: "x", TTL: 61 * 24 * time.Hour}, ErrForbidden},
			"never, not admin":      {pa, NewToken{UserID: alice.ID, Name: "x", NoExpiry: true}, ErrForbidden},
			"never, human":          {admin, NewToken{UserID: alice.ID, Name: "x", NoExpiry: true}, nil},
			"negative TTL":          {pa, NewToken{UserID: alice.ID, Name: "x", TTL: -time.Hour}, nil},
			"no name":               {pa, NewToken{UserID: alice.ID, Name: " "}, nil},
			"nil principal":         {nil, NewToken{UserID: alice.ID, Name: "x"}, ErrForbidden},
			"admin for unknown one": {admin, NewToken{UserID: "nope", Name: "x"}, ErrNotFound},
		} {
			_, _, err := s.CreateToken(ctx, tc.by, tc.nt)
			switch {
			case err == nil:
				t.Errorf("%s: accepted", name)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Errorf("%s: %v, want %v", name, err, tc.want)
			case tc.want == nil && connector.CodeOf(err) != connector.CodeUsage:
				t.Errorf("%s: %v, want a usage error", name, err)
			}
		}
		// Admins may give anyone a token, any lifetime, and service accounts one that never expires.
		if _, _, err := s.CreateToken(ctx, admin, NewToken{UserID: bob.ID, Name: "x", TTL: 400 * 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}
		never, nt, err := s.CreateToken(ctx, admin, NewToken{UserID: bot.ID, Name: "etl", NoExpiry: true})
		if err != nil || nt.ExpiresAt != nil {
			t.Fatalf("never-expiring service token: %+v %v", nt, err)
		}
		if _, err := s.Verify(ctx, never); err != nil {
			t.Fatal(err)
		}

		// Lists: own for everyone, others' and all for tokens.manage.
		if _, err := s.ListTokens(ctx, pb, alice.ID); !errors.Is(err, ErrForbidden) {
			t.Fatalf("bob lists alice's tokens: %v", err)
		}
		if _, err := s.ListTokens(ctx, pa, ""); !errors.Is(err, ErrForbidden) {
			t.Fatalf("alice lists all tokens: %v", err)
		}
		all, err := s.ListTokens(ctx, admin, "")
		if err != nil || len(all) != 3 {
			t.Fatalf("admin lists all: %d %v", len(all), err)
		}
		// Revoking someone else's token looks like a missing one; an admin may.
		if _, err := s.Revoke(ctx, pb, tok.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("bob revokes alice's token: %v", err)
		}
		if _, err := s.Revoke(ctx, admin, tok.ID); err != nil {
			t.Fatal(err)
		}
	})
}

func TestIssueSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s, clk := newTestService(t, db)
		p, err := s.Authenticate(ctx, mustUser(t, s, "alice", RoleViewer).Name, "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		plain, tok, err := s.IssueSession(ctx, p)
		if err != nil || tok.Name != SessionName || !tok.ExpiresAt.Equal(clk.Now().Add(12*time.Hour)) {
			t.Fatalf("IssueSession = %+v, %v", tok, err)
		}
		clk.Advance(12 * time.Hour)
		if _, err := s.Verify(ctx, plain); !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("session after 12 h: %v", err)
		}
	})
}

// TestSecretsNotStored: neither a token nor a password is anywhere in the database. On SQLite
// the database and its write-ahead log are read as bytes; on PostgreSQL every row of every
// table is read as text.
func TestSecretsNotStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s, _ := newTestService(t, db)
		u := mustUser(t, s, "alice", RoleAdmin)
		plain, _, err := s.CreateToken(ctx, principalOf(u), NewToken{UserID: u.ID, Name: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(ctx, plain); err != nil {
			t.Fatal(err)
		}
		session, _, err := s.IssueSession(ctx, principalOf(u))
		if err != nil {
			t.Fatal(err)
		}
		var dump []byte
		if db.Dialect == store.SQLite {
			for _, f := range []string{db.Where, db.Where + "-wal"} {
				b, err := os.ReadFile(f)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				dump = append(dump, b...)
			}
		} else {
			rows, err := db.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`)
			if err != nil {
				t.Fatal(err)
			}
			var tables []string
			for rows.Next() {
				var n string
				_ = rows.Scan(&n)
				tables = append(tables, n)
			}
			_ = rows.Close()
			for _, tbl := range tables {
				rows, err := db.Query(ctx, fmt.Sprintf(`SELECT r::text FROM %q r`, tbl))
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var line string
					_ = rows.Scan(&line)
					dump = append(dump, line...)
				}
				_ = rows.Close()
			}
		}
		// The dump must hold what was written, or the check proves nothing.
		if !bytes.Contains(dump, []byte(hashToken(plain))) {
			t.Fatal("the token's hash is not in the dump: the test reads the wrong thing")
		}
		for what, secret := range map[string]string{
			"token": plain, "token body": plain[8:], "session": session, "session body": session[8:],
			"password": "correct horse battery",
		} {
			if bytes.Contains(dump, []byte(secret)) {
				t.Errorf("the %s is stored in clear", what)
			}
		}
	})
}
