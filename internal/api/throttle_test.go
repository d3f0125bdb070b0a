package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/auth"
)

// testClock is the login back-off's clock in tests: time moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func throttledHub(t *testing.T, mods ...func(d *Deps, url string)) (*hub, *testClock) {
	c := &testClock{t: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	h := newHub(t, false, append([]func(d *Deps, url string){func(d *Deps, _ string) { d.Now = c.now }}, mods...)...)
	return h, c
}

// retryAfter is a 429's Retry-After in seconds (0 when the answer is not a well-formed 429).
func retryAfter(t *testing.T, r response) time.Duration {
	t.Helper()
	if r.status != http.StatusTooManyRequests || r.errorCode() != CodeThrottled {
		return 0
	}
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("429 with Retry-After %q", r.header.Get("Retry-After"))
	}
	return time.Duration(n) * time.Second
}

// TestLoginBackoff is finding 13 of issue 8: 100 wrong passwords, then the right one. The
// right one is refused too while the back-off lasts, and works after it; only the attempts
// that were checked are audited; a success clears the user's failures.
func TestLoginBackoff(t *testing.T) {
	t.Parallel()
	h, clock := throttledHub(t)
	login := func(user, pw string) response {
		return h.do(http.MethodPost, BasePath+"/auth/login", "", map[string]string{"username": user, "password": pw})
	}
	checked, refused := 0, 0
	for range 100 {
		switch r := login("u-viewer", "wrong-password-123"); {
		case r.status == http.StatusUnauthorized:
			checked++
		case retryAfter(t, r) > 0:
			refused++
		default:
			t.Fatalf("wrong password: %d %s", r.status, r)
		}
	}
	// 5 free failures and the one that starts the first back-off; the rest refused unchecked.
	if checked != 6 || refused != 94 {
		t.Fatalf("100 wrong passwords at once: %d checked, %d refused", checked, refused)
	}
	r := login("u-viewer", password)
	wait := retryAfter(t, r)
	if wait == 0 {
		t.Fatalf("the right password during the back-off: %d %s, want 429", r.status, r)
	}
	if es := h.auditEntries("action=auth.login_failed"); len(es) != checked {
		t.Errorf("%d failed logins audited, want the %d checked ones", len(es), checked)
	}
	// The other users are not locked out by this one's failures.
	h.must(http.StatusOK, login("u-operator", password), "another user's login")

	clock.add(wait)
	h.must(http.StatusOK, login("U-Viewer ", password), "the right password after the back-off")
	// The success cleared the user's failures: the next wrong one is checked, not refused.
	h.must(http.StatusUnauthorized, login("u-viewer", "wrong-password-123"), "a wrong password after a success")

	// Each further failure doubles the back-off.
	for range 5 {
		login("u-viewer", "wrong-password-123")
	}
	for _, want := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second} {
		clock.add(want / 2)
		h.must(http.StatusUnauthorized, login("u-viewer", "wrong-password-123"), "a wrong password after the back-off")
		if got := retryAfter(t, login("u-viewer", password)); got != want {
			t.Fatalf("back-off %s, want %s", got, want)
		}
	}
}

// TestLoginBackoffPerAddress: one address guessing at many user names is backed off too,
// even for a name it never tried; bearer tokens are not throttled at all.
func TestLoginBackoffPerAddress(t *testing.T) {
	t.Parallel()
	h, clock := throttledHub(t)
	checked := 0
	for i := range 40 {
		r := h.do(http.MethodPost, BasePath+"/auth/login", "", map[string]string{"username": fmt.Sprintf("guess-%d", i), "password": "wrong-password-123"})
		if r.status == http.StatusUnauthorized {
			checked++
		}
	}
	if checked != 21 {
		t.Fatalf("%d of 40 guesses at different names checked, want 21", checked)
	}
	r := h.do(http.MethodPost, BasePath+"/auth/login", "", map[string]string{"username": "u-admin", "password": password})
	wait := retryAfter(t, r)
	if wait == 0 {
		t.Fatalf("a login from the guessing address: %d %s", r.status, r)
	}
	// Hundreds of calls with a bad token: 401 at once, every one (the anonymous check).
	for range 300 {
		if r := h.do(http.MethodGet, BasePath+"/me", "dht_garbage", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("a bad bearer token: %d %s", r.status, r)
		}
	}
	// Valid tokens keep working during a login back-off.
	h.must(http.StatusOK, h.do(http.MethodGet, BasePath+"/me", h.admin(), nil), "a valid token")
	clock.add(wait)
	h.must(http.StatusOK, h.do(http.MethodPost, BasePath+"/auth/login", "", map[string]string{"username": "u-admin", "password": password}), "after the back-off")
}

// TestOIDCLoginBackoff: failed OIDC callbacks back off by client address.
func TestOIDCLoginBackoff(t *testing.T) {
	t.Parallel()
	p := newFakeProvider(t)
	h, clock := throttledHub(t, func(d *Deps, hubURL string) {
		o, err := auth.NewOIDC(context.Background(), d.Auth, auth.OIDCConfig{IssuerURL: p.srv.URL, ClientID: "datahub",
			ClientSecret: "s", RedirectURL: hubURL + BasePath + "/auth/oidc/callback"})
		if err != nil {
			t.Fatal(err)
		}
		d.OIDC = o
	})
	cb := BasePath + "/auth/oidc/callback?code=c&state=s"
	checked, refused := 0, 0
	for range 30 {
		switch r := h.do(http.MethodGet, cb, "", nil); {
		case r.status == http.StatusUnauthorized:
			checked++
		case retryAfter(t, r) > 0:
			refused++
		default:
			t.Fatalf("callback: %d %s", r.status, r)
		}
	}
	if checked != 21 || refused != 9 {
		t.Fatalf("30 failing callbacks: %d checked, %d refused", checked, refused)
	}
	if es := h.auditEntries("action=auth.login_failed"); len(es) != checked {
		t.Errorf("%d failed OIDC logins audited, want %d", len(es), checked)
	}
	clock.add(retryAfter(t, h.do(http.MethodGet, cb, "", nil)))
	h.must(http.StatusUnauthorized, h.do(http.MethodGet, cb, "", nil), "a callback after the back-off is checked again")
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1":            "127.0.0.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"::ffff:192.0.2.1":     "192.0.2.1",
		"not an address":       "not an address",
	} {
		if got := addrKey(in); got != want {
			t.Errorf("addrKey(%q) = %q, want %q", in, got, want)
		}
	}
}
