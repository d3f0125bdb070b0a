package auth

import (
	"flag"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// fastParams keep tests quick; the real parameters are exercised in password_test.go.
var fastParams = Params{Time: 1, Memory: 1024, Threads: 1, SaltLen: 16, KeyLen: 32}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Now().UTC().Truncate(time.Second)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestService(t *testing.T, db *store.DB, opts ...Option) (*Service, *fakeClock) {
	t.Helper()
	clk := newClock()
	return New(db, append([]Option{WithParams(fastParams), WithClock(clk.Now)}, opts...)...), clk
}

func mustUser(t *testing.T, s *Service, name string, roles ...Role) *User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), NewUser{Name: name, Password: "correct horse battery", Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func principalOf(u *User) *Principal {
	return &Principal{UserID: u.ID, Name: u.Name, Roles: u.Roles, Via: ViaPassword}
}
