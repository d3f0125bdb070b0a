package ctrlchar

import (
	"strings"
	"testing"
)

func TestFindAndEscape(t *testing.T) {
	tests := []struct {
		in, escaped string
		refused     bool
	}{
		{"plain name", "plain name", false},
		{"Zoë Ångström 山田", "Zoë Ångström 山田", false},
		{"back\\slash", "back\\slash", false},
		{"family 👩\u200d👩\u200d👧", "family 👩\u200d👩\u200d👧", false}, // ZWJ emoji
		{"می\u200cخواهم", "می\u200cخواهم", false},                   // ZWNJ in Persian
		{"replacement \ufffd", "replacement \ufffd", false},
		{"esc \x1b[31mred\x1b[0m", `esc \x1b[31mred\x1b[0m`, true},
		{"title \x1b]0;pwned\x07", `title \x1b]0;pwned\a`, true},
		{"tab\there", `tab\there`, true},
		{"new\nline", `new\nline`, true},
		{"cr\r", `cr\r`, true},
		{"nul\x00", `nul\x00`, true},
		{"del\x7f", `del\x7f`, true},
		{"c1 \u009b", `c1 \u009b`, true},
		{"admin\u202enls.exe", `admin\u202enls.exe`, true},
		{"isolate \u2066x\u2069", `isolate \u2066x\u2069`, true},
		{"lrm \u200e", `lrm \u200e`, true},
		{"ad\u200bmin", `ad\u200bmin`, true},
		{"bom \ufeff", `bom \ufeff`, true},
		{"soft\u00adhyphen", `soft\u00adhyphen`, true},
		{"line\u2028sep", `line\u2028sep`, true},
		{"tag \U000E0041", `tag \U000e0041`, true},
		{"bad \xff utf8", `bad \xff utf8`, true},
	}
	for _, tc := range tests {
		_, _, found := Find(tc.in)
		if found != tc.refused {
			t.Errorf("Find(%q) = %v, want %v", tc.in, found, tc.refused)
		}
		if got := Escape(tc.in); got != tc.escaped {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.escaped)
		}
		if _, _, again := Find(Escape(tc.in)); again {
			t.Errorf("Escape(%q) still holds a refused character", tc.in)
		}
		if _, _, again := Find(Strip(tc.in)); again {
			t.Errorf("Strip(%q) still holds a refused character", tc.in)
		}
	}
}

func TestEscapeText(t *testing.T) {
	if got := EscapeText("line one\nline \x1b[2Ktwo\r\n"); got != "line one\nline \\x1b[2Ktwo\\r\n" {
		t.Errorf("EscapeText = %q", got)
	}
}

func TestCheck(t *testing.T) {
	if err := Check("email", "ann@example.org"); err != nil {
		t.Fatal(err)
	}
	err := Check("display_name", "Ann\x1b[2J")
	if err == nil || !strings.HasPrefix(err.Error(), "display_name: U+001B at byte 3 ") || strings.Contains(err.Error(), "\x1b") {
		t.Fatalf("Check: %v", err)
	}
	if err := Check("name", "a\xffb"); err == nil || !strings.Contains(err.Error(), "not UTF-8") {
		t.Fatalf("Check on a bad byte: %v", err)
	}
	if got := Strip("ad\u200bmin\u202e\x1b"); got != "admin" {
		t.Errorf("Strip = %q", got)
	}
}
