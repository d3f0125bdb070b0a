package outbound

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// target is an HTTP server on 127.0.0.1 that counts the requests that reach it.
type target struct {
	*httptest.Server
	hits atomic.Int64
	port string
}

func newTarget(t *testing.T, h http.HandlerFunc) *target {
	t.Helper()
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(tg.Close)
	u, _ := url.Parse(tg.URL)
	tg.port = u.Port()
	return tg
}

func mustGuard(t *testing.T, allow ...string) *Guard {
	t.Helper()
	g, err := New(allow)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func get(t *testing.T, c *http.Client, u string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	return nil
}

// TestGuardRefusesEverySpelling dials a loopback listener in every spelling of its address:
// none reaches it without an allow list; the refusal names the address and the reason.
func TestGuardRefusesEverySpelling(t *testing.T) {
	tg := newTarget(t, nil)
	c := (*Guard)(nil).Client(5 * time.Second)
	for _, tc := range []struct {
		host string
		// resolved: Go's resolver reads the spelling as an address (or /etc/hosts names it), so
		// the guard must refuse it; other spellings go to DNS, which may fail instead.
		resolved bool
	}{
		{"127.0.0.1", true}, {"localhost", true}, {"LOCALHOST", true}, {"[::ffff:127.0.0.1]", true}, {"[::ffff:7f00:1]", true},
		{"[::1]", true}, {"0.0.0.0", true}, {"[::]", true},
		{"0x7f000001", false}, {"2130706433", false}, {"127.1", false}, {"0177.0.0.1", false}, {"127.0.0.1.", false},
	} {
		err := get(t, c, "http://"+tc.host+":"+tg.port+"/")
		switch {
		case err == nil:
			t.Errorf("%s: reached the listener", tc.host)
		case tc.resolved && !errors.Is(err, ErrRefused):
			t.Errorf("%s: %v, want a refusal", tc.host, err)
		case errors.Is(err, ErrRefused) && !strings.Contains(Reason(err), "refused ("):
			t.Errorf("%s: reason %q", tc.host, Reason(err))
		}
	}
	if n := tg.hits.Load(); n != 0 {
		t.Fatalf("%d requests reached the loopback listener", n)
	}
	err := get(t, c, "http://127.0.0.1:"+tg.port+"/")
	want := "outbound address 127.0.0.1:" + tg.port + " refused (loopback); allow it with outbound.allow"
	if Reason(err) != want {
		t.Errorf("reason %q, want %q", Reason(err), want)
	}
}

// TestGuardRefusesRanges dials addresses of every refused kind: the guard refuses before a
// packet is sent, so nothing needs to listen there.
func TestGuardRefusesRanges(t *testing.T) {
	c := (*Guard)(nil).Client(2 * time.Second)
	for _, tc := range []struct{ url, reason string }{
		{"http://169.254.169.254/latest/meta-data/", "link-local"},
		{"http://[::ffff:169.254.169.254]/", "link-local"}, // Go dials it as 169.254.169.254
		{"http://10.0.0.1/", "private"},
		{"http://172.16.5.4:8443/", "private"},
		{"http://192.168.0.1/", "private"},
		{"http://100.64.0.1/", "carrier-grade NAT"},
		{"http://[fd00::1]/", "private"},
		{"http://[fe80::1%25lo]/", "link-local"},
		{"http://224.0.0.1/", "multicast"},
		{"http://255.255.255.255/", "broadcast"},
		{"http://[64:ff9b::a9fe:a9fe]/", "link-local, NAT64"},
		{"http://[2002:7f00:1::]/", "loopback, 6to4"},
	} {
		err := get(t, c, tc.url)
		var re *RefusedError
		if !errors.As(err, &re) || re.Reason != tc.reason {
			t.Errorf("%s: %v, want refused (%s)", tc.url, err, tc.reason)
		}
	}
}

func TestGuardAllows(t *testing.T) {
	tg := newTarget(t, nil)
	for _, tc := range []struct {
		name  string
		allow []string
		url   string
		ok    bool
	}{
		{"cidr", []string{"127.0.0.0/8"}, "http://127.0.0.1:%s/", true},
		{"cidr, mapped spelling", []string{"127.0.0.0/8"}, "http://[::ffff:127.0.0.1]:%s/", true},
		{"ip", []string{"127.0.0.1"}, "http://127.0.0.1:%s/", true},
		{"other cidr", []string{"10.0.0.0/8", "::1/128"}, "http://127.0.0.1:%s/", false},
		{"host:port", []string{"localhost:%s"}, "http://localhost:%s/", true},
		{"host:port any case", []string{"LocalHost:%s"}, "http://localHOST:%s/", true},
		{"host:port other port", []string{"localhost:1"}, "http://localhost:%s/", false},
		{"host:port is not the address", []string{"localhost:%s"}, "http://127.0.0.1:%s/", false},
		{"ip:port", []string{"127.0.0.1:%s"}, "http://127.0.0.1:%s/", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			allow := make([]string, len(tc.allow))
			for i, a := range tc.allow {
				allow[i] = strings.ReplaceAll(a, "%s", tg.port)
			}
			before := tg.hits.Load()
			err := get(t, mustGuard(t, allow...).Client(5*time.Second), fmt.Sprintf(tc.url, tg.port))
			if tc.ok != (err == nil) {
				t.Fatalf("allow %v, %s: %v", allow, tc.url, err)
			}
			if !tc.ok && !errors.Is(err, ErrRefused) && !strings.Contains(err.Error(), "no such host") {
				t.Fatalf("not a refusal: %v", err)
			}
			if got := tg.hits.Load() - before; got != map[bool]int64{true: 1}[tc.ok] {
				t.Fatalf("%d hits", got)
			}
		})
	}
}

// TestGuardRedirects: every redirect is dialled and checked anew, and redirects are capped.
func TestGuardRedirects(t *testing.T) {
	refusedTarget := newTarget(t, nil)
	hop := newTarget(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:"+refusedTarget.port+"/", http.StatusFound)
	})
	g := mustGuard(t, "localhost:"+hop.port)
	err := get(t, g.Client(5*time.Second), "http://localhost:"+hop.port+"/")
	if !errors.Is(err, ErrRefused) || hop.hits.Load() != 1 || refusedTarget.hits.Load() != 0 {
		t.Fatalf("redirect to a refused address: %v; hits %d, %d", err, hop.hits.Load(), refusedTarget.hits.Load())
	}

	var loop *target
	loop = newTarget(t, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, loop.URL+"/again", http.StatusFound) })
	err = get(t, mustGuard(t, "127.0.0.0/8").Client(5*time.Second), loop.URL)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("stopped after %d redirects", MaxRedirects)) {
		t.Fatalf("redirect loop: %v", err)
	}
	if n := loop.hits.Load(); n != MaxRedirects+1 {
		t.Fatalf("redirect loop: %d requests", n)
	}
}

// TestGuardIgnoresProxy: a proxy from the environment is never used, so it cannot carry a
// request past the guard.
func TestGuardIgnoresProxy(t *testing.T) {
	proxy := newTarget(t, nil)
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	if (*Guard)(nil).Transport().Proxy != nil {
		t.Fatal("the transport has a proxy")
	}
	err := get(t, mustGuard(t, "127.0.0.0/8").Client(2*time.Second), "http://10.255.255.1/")
	if !errors.Is(err, ErrRefused) || proxy.hits.Load() != 0 {
		t.Fatalf("through the proxy: %v, %d hits", err, proxy.hits.Load())
	}
}

func TestGuardNetworks(t *testing.T) {
	if _, err := (*Guard)(nil).DialContext(t.Context(), "unix", "/tmp/x.sock"); err == nil {
		t.Fatal("dialled a unix socket")
	}
	if _, err := (*Guard)(nil).DialContext(t.Context(), "udp", "8.8.8.8:53"); err == nil {
		t.Fatal("dialled udp")
	}
}

func TestNewAllow(t *testing.T) {
	for _, tc := range []struct {
		entry, want string // want "" is valid
	}{
		{"127.0.0.0/8", ""},
		{"::1/128", ""},
		{"10.1.2.3", ""},
		{"fd00::1", ""},
		{"api.example.org:443", ""},
		{"[fd00::1]:8443", ""},
		{" 10.0.0.0/8 ", ""},
		{"", ""},
		{"10.0.0.0/33", `outbound.allow: "10.0.0.0/33" is not a CIDR`},
		{"example.org", `outbound.allow: "example.org" is not a CIDR range (10.0.0.0/8), an IP address (10.1.2.3) nor host:port`},
		{"example.org:0", `"example.org:0" has port "0"`},
		{"example.org:99999", `has port "99999"`},
		{"example.org:http", `has port "http"`},
		{"exa mple.org:80", `has host "exa mple.org"`},
		{"http://example.org:80", `outbound.allow: "http://example.org:80"`},
		{":80", `is not a CIDR`},
	} {
		err := ValidateAllow([]string{"127.0.0.1", tc.entry})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.entry, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v, want %q", tc.entry, err, tc.want)
		}
	}
}

func TestWithURLHost(t *testing.T) {
	tg := newTarget(t, nil)
	base := mustGuard(t)
	g := base.WithURLHost("http://localhost:" + tg.port + "/realms/x")
	if err := get(t, g.Client(5*time.Second), "http://localhost:"+tg.port+"/.well-known/openid-configuration"); err != nil {
		t.Fatal(err)
	}
	if err := get(t, g.Client(5*time.Second), "http://127.0.0.1:"+tg.port+"/"); !errors.Is(err, ErrRefused) {
		t.Fatalf("another spelling of the issuer's host: %v", err)
	}
	if err := get(t, base.Client(5*time.Second), "http://localhost:"+tg.port+"/"); !errors.Is(err, ErrRefused) {
		t.Fatalf("the base guard changed: %v", err)
	}
}
