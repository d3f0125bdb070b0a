// Package outbound guards the HTTP connections the server opens to addresses that resources
// or requests name (subscription deliveries, notification webhooks, Slack and Teams, OIDC
// discovery and keys, and the HTTP, REST and cloud-storage connectors to come), so that the
// hub cannot be made to reach its own host, the cloud metadata service or the private
// network it sits in (SSRF).
//
// The check is made when a connection is dialled, on the IP address and port actually being
// connected (net.Dialer.ControlContext): after DNS resolution, for every address a name
// resolves to, on every redirect, whatever the spelling of the address in the URL. Refused
// unless allowed: every address that is not global unicast (see Classify). Proxies from the
// environment (HTTP_PROXY, HTTPS_PROXY) are never used: a proxy would dial the target itself,
// out of the guard's sight.
//
// The allow list (the hub's outbound.allow setting) holds CIDR ranges and IP addresses,
// which allow addresses, and host:port entries, which allow a host name as written in the URL
// (case-insensitive) on that port, whatever it resolves to.
package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrRefused is what a refused address's error Is: errors.Is(err, ErrRefused) tells a
// refusal (permanent until the settings change) from a receiver that is down.
var ErrRefused = errors.New("outbound address refused")

// RefusedError is a connection the guard refused.
type RefusedError struct {
	// Addr is the address refused, IP:port ([IP]:port for IPv6).
	Addr string
	// Reason is the kind of address (loopback, private, link-local, ...).
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("outbound address %s refused (%s); allow it with outbound.allow", e.Addr, e.Reason)
}

// Is makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// MaxRedirects is how many redirects a Client follows; each one is dialled and checked anew.
const MaxRedirects = 5

// dialTimeout bounds a connection attempt when the context does not.
const dialTimeout = 30 * time.Second

// Guard checks outbound connections against the allow list. The zero value, and a nil
// *Guard, allow nothing beyond global unicast addresses. A Guard is safe for concurrent use.
type Guard struct {
	prefixes []netip.Prefix
	hosts    map[string]bool // lower-case host:port as the URL writes it

	once      sync.Once
	transport *http.Transport
}

var defaultGuard = &Guard{}

// or returns g, or the default guard when g is nil, so that a nil *Guard still guards.
func (g *Guard) or() *Guard {
	if g == nil {
		return defaultGuard
	}
	return g
}

// New returns a guard with an allow list of CIDR ranges (10.0.0.0/8), IP addresses
// (10.1.2.3, ::1) and host:port entries (api.example.org:443, [fd00::1]:8443). The error
// names the first bad entry.
func New(allow []string) (*Guard, error) {
	g := &Guard{hosts: map[string]bool{}}
	for _, e := range allow {
		if err := g.add(strings.TrimSpace(e)); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// ValidateAllow checks allow-list entries as New does.
func ValidateAllow(allow []string) error {
	_, err := New(allow)
	return err
}

func (g *Guard) add(e string) error {
	if e == "" {
		return nil
	}
	if p, err := netip.ParsePrefix(e); err == nil {
		g.prefixes = append(g.prefixes, p.Masked())
		return nil
	}
	if a, err := netip.ParseAddr(e); err == nil {
		a = a.WithZone("")
		g.prefixes = append(g.prefixes, netip.PrefixFrom(a, a.BitLen()))
		return nil
	}
	hp, err := normHostPort(e)
	if err != nil {
		return fmt.Errorf("outbound.allow: %q %w", e, err)
	}
	g.hosts[hp] = true
	return nil
}

// normHostPort checks a host:port entry and returns it in the form DialContext compares.
func normHostPort(e string) (string, error) {
	host, port, err := net.SplitHostPort(e)
	if err != nil || host == "" {
		return "", errors.New("is not a CIDR range (10.0.0.0/8), an IP address (10.1.2.3) nor host:port (api.example.org:443)")
	}
	n := 0
	for _, c := range port {
		if c < '0' || c > '9' || n > 65535 {
			n = -1
			break
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return "", fmt.Errorf("has port %q: want a number between 1 and 65535", port)
	}
	if a, _, ok := ParseHost(host); ok {
		return net.JoinHostPort(a.WithZone("").String(), port), nil
	}
	if strings.IndexFunc(host, notHostChar) >= 0 {
		return "", fmt.Errorf("has host %q: want a host name (letters, digits, '-', '.') or an IP address", host)
	}
	return strings.ToLower(host) + ":" + port, nil
}

func notHostChar(c rune) bool {
	return (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '.' && c != '_'
}

// WithURLHost returns a copy of g that also allows the host:port of rawURL (as written,
// with the scheme's default port): for an address the hub's own settings name, such as the
// OIDC issuer. A URL without a host changes nothing.
func (g *Guard) WithURLHost(rawURL string) *Guard {
	g = g.or()
	out := &Guard{prefixes: g.prefixes, hosts: make(map[string]bool, len(g.hosts)+1)}
	for h := range g.hosts {
		out.hosts[h] = true
	}
	if hp := urlHostPort(rawURL); hp != "" {
		if n, err := normHostPort(hp); err == nil {
			out.hosts[n] = true
		}
	}
	return out
}

// urlHostPort is the host:port a URL is dialled at: its host, and its port or the scheme's.
func urlHostPort(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// hostAllowed reports whether a host:port (as the transport dials it) is on the allow list.
func (g *Guard) hostAllowed(hostport string) bool {
	if len(g.hosts) == 0 {
		return false
	}
	n, err := normHostPort(hostport)
	return err == nil && g.hosts[n]
}

// allowed reports whether an address is in an allowed range (IPv4-mapped addresses also by
// the address they map).
func (g *Guard) allowed(a netip.Addr) bool {
	a = a.WithZone("")
	for _, p := range g.prefixes {
		if p.Contains(a) || (a.Is4In6() && p.Contains(a.Unmap())) {
			return true
		}
	}
	return false
}

// CheckAddr refuses an address the guard does not let through, with a *RefusedError.
func (g *Guard) CheckAddr(ap netip.AddrPort) error {
	g = g.or()
	if g.allowed(ap.Addr()) {
		return nil
	}
	if r := Classify(ap.Addr()); r != "" {
		return &RefusedError{Addr: ap.String(), Reason: r}
	}
	return nil
}

// control checks the address a socket is about to connect to: resolved, in canonical form.
func (g *Guard) control(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &RefusedError{Addr: address, Reason: "not an IP address"}
	}
	return g.CheckAddr(ap)
}

// DialContext dials a TCP connection through the guard; it fits http.Transport.DialContext
// and any client library that takes a dial function. The address is checked after
// resolution, for every address tried; a host:port on the allow list is dialled unchecked.
func (g *Guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	g = g.or()
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("outbound: network %q is not allowed, only tcp", network)
	}
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	if !g.hostAllowed(address) {
		d.ControlContext = g.control
	}
	return d.DialContext(ctx, network, address)
}

// Transport returns a new HTTP transport that dials through the guard and uses no proxy
// (HTTP_PROXY and HTTPS_PROXY are ignored: a proxy would connect to the target out of the
// guard's sight). Callers may tune it; Client shares one transport per guard instead.
func (g *Guard) Transport() *http.Transport {
	g = g.or()
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = g.DialContext
	t.DialTLSContext = nil
	return t
}

// Client returns an HTTP client that dials through the guard (sharing one transport per
// guard), with a whole-request timeout (0: none) and at most MaxRedirects redirects, each
// checked when it is dialled. Callers that must not follow redirects at all set
// CheckRedirect to NoRedirects.
func (g *Guard) Client(timeout time.Duration) *http.Client {
	g = g.or()
	g.once.Do(func() { g.transport = g.Transport() })
	return &http.Client{Transport: g.transport, Timeout: timeout, CheckRedirect: limitRedirects}
}

func limitRedirects(_ *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("stopped after %d redirects", MaxRedirects)
	}
	return nil
}

// NoRedirects is a CheckRedirect that follows none: the redirect response is the answer.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
