package outbound

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ParseHost reads the host of a URL as an IP address in every spelling a resolver may accept:
// IPv6 (with a zone or not), dotted-quad IPv4, and the inet_aton forms, where each of one to
// four parts is decimal, octal (leading 0) or hex (0x), and the last part fills the
// remaining bytes (2130706433, 0x7f000001, 0177.0.0.1, 127.1). standard is false for the
// inet_aton forms and for IPv6 forms that carry an IPv4 address (IPv4-mapped, -compatible,
// NAT64, 6to4). ok is false for a host name.
func ParseHost(host string) (a netip.Addr, standard, ok bool) {
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Is4() {
			return a, true, true
		}
		b := a.WithZone("")
		embeds := b.Is4In6() || (compat4.Contains(b) && b.Compare(netip.IPv6Loopback()) > 0) ||
			nat64.Contains(b) || sixToFour.Contains(b)
		return a, !embeds, true
	}
	if a, ok := parseInetAton(strings.TrimSuffix(host, ".")); ok {
		return a, false, true
	}
	return netip.Addr{}, false, false
}

// parseInetAton parses the BSD inet_aton forms of an IPv4 address.
func parseInetAton(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		v, ok := parseAtonPart(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	last := len(vals) - 1
	for i, v := range vals[:last] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n |= v << (8 * (3 - i))
	}
	if vals[last] >= 1<<(8*(4-last)) {
		return netip.Addr{}, false
	}
	n |= vals[last]
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(n)) //nolint:gosec // n < 1<<32: every part was range-checked above
	return netip.AddrFrom4(b), true
}

func parseAtonPart(p string) (uint64, bool) {
	base := 10
	switch {
	case p == "":
		return 0, false
	case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
		base, p = 16, p[2:]
		if p == "" {
			return 0, true // "0x" is 0 to inet_aton
		}
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	for _, c := range p {
		if !isDigit(c, base) {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(p, base, 32)
	return v, err == nil
}

// isDigit reports whether c is a digit of base 8, 10 or 16 (8 lets 8 and 9 through, for
// ParseUint to refuse).
func isDigit(c rune, base int) bool {
	if c >= '0' && c <= '9' {
		return true
	}
	return base == 16 && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F')
}

// earlyReasons are the kinds of address no HTTP receiver lives at: CheckURL refuses them
// however they are written. Loopback, private and carrier-grade NAT addresses written in the
// standard form are left to the dial-time check, because the allow list is the running
// server's setting and may allow them by the time anything is delivered.
var earlyReasons = map[string]bool{
	ReasonUnspecified: true, ReasonLinkLocal: true, ReasonMulticast: true, ReasonBroadcast: true,
	ReasonReserved: true, ReasonDocs: true, ReasonBenchmark: true, ReasonCompat: true,
	ReasonTeredo: true, ReasonDiscard: true, ReasonSiteLocal: true,
}

// CheckURL is the early check of an http(s) URL a resource names, for apply time: it refuses
// (with a *RefusedError) a host that is a literal IP address the guard would refuse, when
// that address is written in a non-standard spelling (0x7f000001, 2130706433, 127.1,
// [::ffff:169.254.169.254]) or is of a kind no receiver lives at (link-local, unspecified,
// multicast, broadcast, reserved), unless the allow list allows it. Host names, and
// loopback and private addresses written plainly, pass: the dial-time check decides.
// A URL that does not parse passes too (the caller reports it).
func (g *Guard) CheckURL(rawURL string) error {
	g = g.or()
	hp := urlHostPort(rawURL)
	if hp == "" || g.hostAllowed(hp) {
		return nil
	}
	host, port, _ := net.SplitHostPort(hp)
	a, standard, ok := ParseHost(host)
	if !ok || g.allowed(a) {
		return nil
	}
	r := Classify(a)
	if base, _, _ := strings.Cut(r, ","); r == "" || standard && !earlyReasons[base] {
		return nil
	}
	if !strings.EqualFold(host, a.String()) {
		r += ", written " + host
	}
	p, _ := strconv.ParseUint(port, 10, 16)
	return &RefusedError{Addr: netip.AddrPortFrom(a.WithZone(""), uint16(p)).String(), Reason: r}
}
