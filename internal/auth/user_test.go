package auth

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

func TestUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s, clk := newTestService(t, db)

		u, err := s.CreateUser(ctx, NewUser{Name: " Alice ", DisplayName: "Alice A.", Email: "alice@example.com",
			Password: "correct horse battery", Roles: []Role{RoleViewer, RoleIntegrator, RoleViewer}})
		if err != nil {
			t.Fatal(err)
		}
		if u.Name != "alice" || u.Source != SourceLocal || !u.HasPassword || u.Disabled ||
			!slices.Equal(u.Roles, []Role{RoleIntegrator, RoleViewer}) || u.CreatedAt.IsZero() {
			t.Fatalf("created %+v", u)
		}
		if _, err := s.CreateUser(ctx, NewUser{Name: "ALICE", Password: "another long password"}); !errors.Is(err, ErrNameTaken) {
			t.Fatalf("duplicate name: %v", err)
		}
		for name, nu := range map[string]NewUser{
			"short password": {Name: "bob", Password: "short"},
			"bad name":       {Name: "bob smith"},
			"empty name":     {Name: ""},
			"unknown role":   {Name: "bob", Roles: []Role{"root"}},
		} {
			_, err := s.CreateUser(ctx, nu)
			if err == nil || connector.CodeOf(err) != connector.CodeUsage {
				t.Errorf("%s: %v (code %s), want a usage error", name, err, connector.CodeOf(err))
			}
		}
		if _, err := s.CreateUser(ctx, NewUser{Name: "bob", Password: "short"}); !errors.Is(err, ErrWeakPassword) {
			t.Errorf("short password: %v", err)
		}
		svc, err := s.CreateUser(ctx, NewUser{Name: "etl-bot", Roles: []Role{RoleOperator}})
		if err != nil || svc.HasPassword {
			t.Fatalf("service account: %+v %v", svc, err)
		}

		got, err := s.GetByName(ctx, "ALICE")
		if err != nil || got.ID != u.ID || got.Email != "alice@example.com" || got.DisplayName != "Alice A." {
			t.Fatalf("GetByName = %+v, %v", got, err)
		}
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) || connector.CodeOf(err) != connector.CodeNotFound {
			t.Fatalf("Get unknown: %v", err)
		}
		list, err := s.List(ctx)
		if err != nil || len(list) != 2 || list[0].Name != "alice" || list[1].Name != "etl-bot" {
			t.Fatalf("List = %+v, %v", list, err)
		}

		// Roles, with before and after for the audit log.
		clk.Advance(time.Second)
		before, after, err := s.SetRoles(ctx, u.ID, []Role{RoleOperator})
		if err != nil || !slices.Equal(before, []Role{RoleIntegrator, RoleViewer}) || !slices.Equal(after, []Role{RoleOperator}) {
			t.Fatalf("SetRoles = %v %v %v", before, after, err)
		}
		got, _ = s.Get(ctx, u.ID)
		if !slices.Equal(got.Roles, []Role{RoleOperator}) || !got.UpdatedAt.After(got.CreatedAt) {
			t.Fatalf("after SetRoles: %+v", got)
		}
		if _, _, err := s.SetRoles(ctx, u.ID, []Role{"root"}); err == nil {
			t.Fatal("SetRoles accepted an unknown role")
		}
		if _, _, err := s.SetRoles(ctx, "nope", nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("SetRoles unknown user: %v", err)
		}

		// Password change, then login with old and new.
		if err := s.SetPassword(ctx, u.ID, "short"); !errors.Is(err, ErrWeakPassword) {
			t.Fatalf("SetPassword short: %v", err)
		}
		if err := s.SetPassword(ctx, u.ID, "a much better passphrase"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, "alice", "correct horse battery"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("old password: %v", err)
		}
		p, err := s.Authenticate(ctx, "Alice", "a much better passphrase")
		if err != nil || p.UserID != u.ID || p.Name != "alice" || p.Via != ViaPassword || !slices.Equal(p.Roles, []Role{RoleOperator}) {
			t.Fatalf("Authenticate = %+v, %v", p, err)
		}
	})
}

func TestAuthenticateFailuresAreUniform(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s, _ := newTestService(t, db)
		mustUser(t, s, "admin", RoleAdmin)
		dis := mustUser(t, s, "carol", RoleViewer)
		if err := s.Disable(ctx, dis.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateUser(ctx, NewUser{Name: "robot"}); err != nil {
			t.Fatal(err)
		}
		var msgs []string
		for _, tc := range []struct{ name, pw string }{
			{"nobody", "correct horse battery"}, // unknown user
			{"admin", "wrong horse battery"},    // wrong password
			{"carol", "correct horse battery"},  // disabled
			{"robot", ""},                       // no password
			{"robot", "correct horse battery"},
			{"admin", string(make([]byte, 2000))}, // over the length limit
		} {
			_, err := s.Authenticate(ctx, tc.name, tc.pw)
			if !errors.Is(err, ErrInvalidCredentials) || connector.CodeOf(err) != connector.CodeAuth {
				t.Errorf("Authenticate(%s) = %v, want ErrInvalidCredentials", tc.name, err)
				continue
			}
			msgs = append(msgs, err.Error())
		}
		for _, m := range msgs {
			if m != msgs[0] {
				t.Errorf("failures differ: %q vs %q", m, msgs[0])
			}
		}
		// Enabling again lets carol in.
		if err := s.Enable(ctx, dis.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, "carol", "correct horse battery"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAuthenticateTiming checks that an unknown user costs a hash like a known one. Timing
// tests are noisy, so the bound is loose: an unknown name must take at least a third of a
// wrong password's time (without the dummy hash it would take a hundredth).
func TestAuthenticateTiming(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := t.Context()
	s := New(db, WithParams(Params{Time: 2, Memory: 16 * 1024, Threads: 1, SaltLen: 16, KeyLen: 32}))
	if _, err := s.CreateUser(ctx, NewUser{Name: "dave", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	_, _ = s.Authenticate(ctx, "nobody", "warm up the dummy hash")
	measure := func(name string) time.Duration {
		best := time.Hour
		for range 5 {
			start := time.Now()
			_, _ = s.Authenticate(ctx, name, "wrong horse battery")
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := measure("dave"), measure("nobody")
	if unknown < known/3 {
		t.Errorf("unknown user took %v, known user %v: the dummy hash is not used", unknown, known)
	}
}

func TestAuthenticateRehashes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		old := New(db, WithParams(fastParams))
		u, err := old.CreateUser(ctx, NewUser{Name: "erin", Password: "correct horse battery"})
		if err != nil {
			t.Fatal(err)
		}
		hashOf := func() string {
			var h string
			if err := db.QueryRow(ctx, `SELECT password_hash FROM auth_users WHERE id = ?`, u.ID).Scan(&h); err != nil {
				t.Fatal(err)
			}
			return h
		}
		first := hashOf()
		newer := fastParams
		newer.Time = 2
		s := New(db, WithParams(newer))
		if _, err := s.Authenticate(ctx, "erin", "wrong horse battery"); err == nil {
			t.Fatal("wrong password accepted")
		}
		if hashOf() != first {
			t.Fatal("a failed login rewrote the hash")
		}
		if _, err := s.Authenticate(ctx, "erin", "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		second := hashOf()
		if p, _, _, err := parsePHC(second); err != nil || p != newer {
			t.Fatalf("hash after login %q: %+v %v, want the new parameters", second, p, err)
		}
		if _, err := s.Authenticate(ctx, "erin", "correct horse battery"); err != nil {
			t.Fatal(err)
		}
		if hashOf() != second {
			t.Fatal("a current hash was redone")
		}
	})
}

func TestLastAdmin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		s, _ := newTestService(t, db)
		a := mustUser(t, s, "root1", RoleAdmin)
		if _, _, err := s.SetRoles(ctx, a.ID, []Role{RoleViewer}); !errors.Is(err, ErrLastAdmin) {
			t.Fatalf("demote last admin: %v", err)
		}
		if err := s.Disable(ctx, a.ID); !errors.Is(err, ErrLastAdmin) {
			t.Fatalf("disable last admin: %v", err)
		}
		b := mustUser(t, s, "root2", RoleAdmin, RoleViewer)
		if _, _, err := s.SetRoles(ctx, a.ID, []Role{RoleViewer}); err != nil {
			t.Fatal(err)
		}
		if err := s.Disable(ctx, b.ID); !errors.Is(err, ErrLastAdmin) {
			t.Fatalf("disable the remaining admin: %v", err)
		}
		// Keeping admin among other roles is fine.
		if _, _, err := s.SetRoles(ctx, b.ID, []Role{RoleAdmin, RoleApprover}); err != nil {
			t.Fatal(err)
		}

		// Two admins demoted at the same time: exactly one demotion passes.
		if _, _, err := s.SetRoles(ctx, a.ID, []Role{RoleAdmin}); err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 2)
		var wg sync.WaitGroup
		for _, id := range []string{a.ID, b.ID} {
			wg.Go(func() {
				_, _, err := s.SetRoles(ctx, id, []Role{RoleViewer})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		var ok, last int
		for err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrLastAdmin):
				last++
			default:
				t.Errorf("concurrent demotion: %v", err)
			}
		}
		if ok != 1 || last != 1 {
			t.Fatalf("concurrent demotions: %d passed, %d refused; want 1 and 1", ok, last)
		}
	})
}
