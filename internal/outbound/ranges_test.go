package outbound

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"2606:4700::1111", ""},
		{"0.0.0.0", ReasonUnspecified},
		{"0.1.2.3", ReasonUnspecified},
		{"127.0.0.1", ReasonLoopback},
		{"127.255.255.254", ReasonLoopback},
		{"10.1.2.3", ReasonPrivate},
		{"172.16.0.1", ReasonPrivate},
		{"172.31.255.255", ReasonPrivate},
		{"172.32.0.1", ""},
		{"192.168.1.1", ReasonPrivate},
		{"100.64.0.1", ReasonCGNAT},
		{"100.127.255.255", ReasonCGNAT},
		{"100.128.0.1", ""},
		{"169.254.169.254", ReasonLinkLocal},
		{"224.0.0.1", ReasonMulticast},
		{"239.255.255.250", ReasonMulticast},
		{"255.255.255.255", ReasonBroadcast},
		{"240.0.0.1", ReasonReserved},
		{"192.0.0.170", ReasonReserved},
		{"192.0.2.1", ReasonDocs},
		{"198.18.0.1", ReasonBenchmark},
		{"::", ReasonUnspecified},
		{"::1", ReasonLoopback},
		{"fe80::1", ReasonLinkLocal},
		{"fe80::1%eth0", ReasonLinkLocal},
		{"fc00::1", ReasonPrivate},
		{"fd12:3456::1", ReasonPrivate},
		{"ff02::1", ReasonMulticast},
		{"fec0::1", ReasonSiteLocal},
		{"2001:db8::1", ReasonDocs},
		{"2001:0:4136:e378::1", ReasonTeredo},
		{"100::1", ReasonDiscard},
		{"::ffff:127.0.0.1", "loopback, IPv4-mapped"},
		{"::ffff:169.254.169.254", "link-local, IPv4-mapped"},
		{"::ffff:7f00:1", "loopback, IPv4-mapped"},
		{"::ffff:8.8.8.8", ""},
		{"::127.0.0.1", ReasonCompat},
		{"::8.8.8.8", ReasonCompat},
		{"64:ff9b::127.0.0.1", "loopback, NAT64"},
		{"64:ff9b::a9fe:a9fe", "link-local, NAT64"},
		{"64:ff9b::8.8.8.8", ""},
		{"64:ff9b:1::1", ReasonPrivate},
		{"2002:7f00:1::", "loopback, 6to4"},
		{"2002:a9fe:a9fe::1", "link-local, 6to4"},
		{"2002:808:808::1", ""},
		{"4000::1", ReasonReserved},
		{"::2", ReasonCompat},
	} {
		if got := Classify(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Classify(%s) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	if got := Classify(netip.Addr{}); got != ReasonUnspecified {
		t.Errorf("Classify(zero) = %q", got)
	}
}
