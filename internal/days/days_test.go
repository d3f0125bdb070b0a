package days

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7d", 7 * 24 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{" 36h ", 36 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"0d", 0, true},
		{"0", 0, true},
		{"36500d", Max, true},
		{"36501d", 0, false},
		{"36500d1h", 0, false},
		{"-1d", 0, false},
		{"-5h", 0, false},
		{"d", 0, false},
		{"7", 0, false},
		{"7days", 0, false},
		{"", 0, false},
		{"1d-2h", 0, false},
		{"9223372036854775807d", 0, false},
	} {
		got, err := Parse(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("Parse(%q) = %s, %v; want %s (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"7d", "1d12h", "36h", "-1d", "", "99999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err == nil && (d < 0 || d > Max) {
			t.Fatalf("Parse(%q) = %s", s, d)
		}
	})
}
