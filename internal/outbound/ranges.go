package outbound

import "net/netip"

// block is a range of addresses the guard refuses unless allowed, and why.
type block struct {
	prefix netip.Prefix
	reason string
}

// Reasons an address is refused.
const (
	ReasonUnspecified = "unspecified"
	ReasonLoopback    = "loopback"
	ReasonPrivate     = "private"
	ReasonLinkLocal   = "link-local"
	ReasonCGNAT       = "carrier-grade NAT"
	ReasonMulticast   = "multicast"
	ReasonBroadcast   = "broadcast"
	ReasonReserved    = "reserved"
	ReasonDocs        = "documentation"
	ReasonBenchmark   = "benchmarking"
	ReasonCompat      = "IPv4-compatible"
	ReasonTeredo      = "Teredo"
	ReasonDiscard     = "discard-only"
	ReasonSiteLocal   = "site-local"
)

// blocks4 are the IPv4 ranges that are not global unicast (IANA special-purpose registry):
// nothing a resource may reach by default lives there.
var blocks4 = []block{
	{netip.MustParsePrefix("0.0.0.0/8"), ReasonUnspecified}, // "this network"; 0.0.0.0 reaches the local host on Linux
	{netip.MustParsePrefix("10.0.0.0/8"), ReasonPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), ReasonCGNAT},
	{netip.MustParsePrefix("127.0.0.0/8"), ReasonLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), ReasonLinkLocal}, // cloud metadata services live here
	{netip.MustParsePrefix("172.16.0.0/12"), ReasonPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), ReasonReserved}, // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), ReasonDocs},
	{netip.MustParsePrefix("192.88.99.0/24"), ReasonReserved}, // the 6to4 relay anycast, deprecated
	{netip.MustParsePrefix("192.168.0.0/16"), ReasonPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), ReasonBenchmark},
	{netip.MustParsePrefix("198.51.100.0/24"), ReasonDocs},
	{netip.MustParsePrefix("203.0.113.0/24"), ReasonDocs},
	{netip.MustParsePrefix("224.0.0.0/4"), ReasonMulticast},
	{netip.MustParsePrefix("255.255.255.255/32"), ReasonBroadcast},
	{netip.MustParsePrefix("240.0.0.0/4"), ReasonReserved},
}

// blocks6 are the IPv6 ranges refused by name; anything else outside 2000::/3 (global
// unicast) is refused as reserved. IPv4-mapped addresses are checked as the IPv4 address
// they map, NAT64 and 6to4 addresses as the IPv4 address they embed.
var blocks6 = []block{
	{netip.MustParsePrefix("::/128"), ReasonUnspecified},
	{netip.MustParsePrefix("::1/128"), ReasonLoopback},
	{netip.MustParsePrefix("::/96"), ReasonCompat},           // ::a.b.c.d, deprecated
	{netip.MustParsePrefix("64:ff9b:1::/48"), ReasonPrivate}, // local-use NAT64
	{netip.MustParsePrefix("100::/64"), ReasonDiscard},
	{netip.MustParsePrefix("2001::/32"), ReasonTeredo}, // embeds an obfuscated client address
	{netip.MustParsePrefix("2001:db8::/32"), ReasonDocs},
	{netip.MustParsePrefix("fc00::/7"), ReasonPrivate}, // unique local
	{netip.MustParsePrefix("fe80::/10"), ReasonLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), ReasonSiteLocal},
	{netip.MustParsePrefix("ff00::/8"), ReasonMulticast},
}

var (
	compat4    = netip.MustParsePrefix("::/96")
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
	globalUni6 = netip.MustParsePrefix("2000::/3")
)

// Classify returns why the guard refuses a (not allowed) address, or "" for a global unicast
// address it lets through. Zones are ignored; IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4
// (2002::/16) addresses are judged by the IPv4 address they carry.
func Classify(a netip.Addr) string {
	a = a.WithZone("")
	switch {
	case !a.IsValid():
		return ReasonUnspecified
	case a.Is4In6():
		if r := classify4(a.Unmap()); r != "" {
			return r + ", IPv4-mapped"
		}
		return ""
	case a.Is4():
		return classify4(a)
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		if r := classify4(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return r + ", NAT64"
		}
		return ""
	case sixToFour.Contains(a):
		if r := classify4(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
			return r + ", 6to4"
		}
		return ""
	}
	for _, bl := range blocks6 {
		if bl.prefix.Contains(a) {
			return bl.reason
		}
	}
	if !globalUni6.Contains(a) {
		return ReasonReserved
	}
	return ""
}

func classify4(a netip.Addr) string {
	for _, bl := range blocks4 {
		if bl.prefix.Contains(a) {
			return bl.reason
		}
	}
	return ""
}
