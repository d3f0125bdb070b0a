package outbound

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestParseHost(t *testing.T) {
	for _, tc := range []struct {
		host     string
		want     string // "" when not an address
		standard bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"8.8.8.8", "8.8.8.8", true},
		{"0x7f000001", "127.0.0.1", false},
		{"0X7F000001", "127.0.0.1", false},
		{"2130706433", "127.0.0.1", false},
		{"017700000001", "127.0.0.1", false},
		{"0177.0.0.1", "127.0.0.1", false},
		{"0x7f.0.0.1", "127.0.0.1", false},
		{"127.1", "127.0.0.1", false},
		{"127.0.1", "127.0.0.1", false},
		{"169.254.43518", "169.254.169.254", false},
		{"0xa9.0xfe.0xa9.0xfe", "169.254.169.254", false},
		{"0", "0.0.0.0", false},
		{"127.0.0.1.", "127.0.0.1", false},
		{"::1", "::1", true},
		{"fe80::1%eth0", "fe80::1%eth0", true},
		{"::ffff:169.254.169.254", "::ffff:169.254.169.254", false},
		{"::ffff:a9fe:a9fe", "::ffff:169.254.169.254", false},
		{"::127.0.0.1", "::7f00:1", false},
		{"64:ff9b::7f00:1", "64:ff9b::7f00:1", false},
		{"2002:7f00:1::", "2002:7f00:1::", false},
		{"example.org", "", false},
		{"localhost", "", false},
		{"1.2.3.4.5", "", false},
		{"256.0.0.1", "", false},
		{"1.2.3.256", "", false},
		{"1.2.65536", "", false},
		{"4294967296", "", false},
		{"08.0.0.1", "", false},
		{"0xg", "", false},
		{"", "", false},
		{"1..2", "", false},
		{"1e3", "", false},
	} {
		a, std, ok := ParseHost(tc.host)
		if got := map[bool]string{true: a.String()}[ok]; got != tc.want || ok && std != tc.standard {
			t.Errorf("ParseHost(%q) = %v, standard %v, ok %v; want %q, standard %v", tc.host, a, std, ok, tc.want, tc.standard)
		}
	}
}

func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "0x7f000001", "2130706433", "127.1", "0177.0.0.1", "::ffff:1.2.3.4", "fe80::1%eth0", "a.b", "1.2.3.4.5", "0x", "00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		a, std, ok := ParseHost(host)
		if !ok {
			if a.IsValid() {
				t.Fatalf("ParseHost(%q): not ok but an address %v", host, a)
			}
			return
		}
		if !a.IsValid() {
			t.Fatalf("ParseHost(%q): ok but no address", host)
		}
		_ = Classify(a)
		if std && a.Is4() && a.String() != host {
			t.Fatalf("ParseHost(%q) = %v: standard, but not written as such", host, a)
		}
		if n, err := strconv.ParseUint(host, 10, 32); err == nil && !strings.HasPrefix(host, "0") {
			b := a.As4()
			if got := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3]); got != n {
				t.Fatalf("ParseHost(%q) = %v, want the number %d", host, a, n)
			}
		}
	})
}

func TestCheckURL(t *testing.T) {
	g, err := New([]string{"10.9.0.0/16", "metadata.internal:80", "169.254.10.10"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		url  string
		want string // "" passes, else a part of the refusal
	}{
		{"https://hooks.example.org/x", ""},
		{"http://8.8.8.8/x", ""},
		{"http://127.0.0.1:8080/x", ""}, // plain loopback: left to the dial-time check
		{"http://10.1.2.3/x", ""},       // plain private: ditto
		{"http://localhost:8080/x", ""}, // a name: ditto
		{"http://0x7f000001:8080/x", "127.0.0.1:8080 refused (loopback, written 0x7f000001)"},
		{"http://2130706433/x", "127.0.0.1:80 refused (loopback, written 2130706433)"},
		{"http://127.1/x", "127.0.0.1:80 refused (loopback, written 127.1)"},
		{"https://0177.0.0.1/x", "127.0.0.1:443 refused"},
		{"http://169.254.169.254/latest/meta-data", "169.254.169.254:80 refused (link-local)"},
		{"http://[::ffff:169.254.169.254]/x", "[::ffff:169.254.169.254]:80 refused (link-local, IPv4-mapped"},
		{"http://[::ffff:127.0.0.1]:8080/x", "refused (loopback, IPv4-mapped);"},
		{"http://[::ffff:a9fe:a9fe]/x", "refused (link-local, IPv4-mapped, written ::ffff:a9fe:a9fe);"},
		{"http://[fe80::1%25eth0]/x", "[fe80::1]:80 refused (link-local)"},
		{"http://0.0.0.0:8080/x", "0.0.0.0:8080 refused (unspecified)"},
		{"http://[::]/x", "refused (unspecified)"},
		{"http://224.0.0.1/x", "refused (multicast)"},
		{"http://0xa9fea9fe/x", "169.254.169.254:80 refused (link-local, written 0xa9fea9fe)"},
		{"http://10.9.1.1/x", ""},          // allowed range
		{"http://0x0a090101/x", ""},        // allowed range, any spelling
		{"http://metadata.internal/x", ""}, // allowed host:port
		{"http://169.254.10.10/x", ""},     // allowed address
		{"http://[::ffff:10.9.0.1]/x", ""}, // allowed, mapped
		{"::not a url", ""},
	} {
		err := g.CheckURL(tc.url)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckURL(%s): %v", tc.url, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrRefused)):
			t.Errorf("CheckURL(%s) = %v, want %q", tc.url, err, tc.want)
		}
	}
	var nilGuard *Guard
	if err := nilGuard.CheckURL("http://169.254.169.254/"); !errors.Is(err, ErrRefused) {
		t.Errorf("nil guard: %v", err)
	}
}
