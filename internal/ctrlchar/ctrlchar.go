// Package ctrlchar finds, refuses and escapes the characters that must not be in a name: the
// ones a terminal obeys (escape sequences that move the cursor, retitle the window or hide
// text) and the invisible ones that make a name look like another (a right-to-left override
// turning "admin\u202Enls.exe" around, a zero-width space inside "admin").
//
// The set, decided once for every name, display name and e-mail address the hub keeps:
//   - control characters (Unicode category Cc): C0 U+0000–U+001F (tab, line feed and ESC
//     included), DEL U+007F and C1 U+0080–U+009F;
//   - format characters (Cf): the bidirectional embeddings, overrides and isolates
//     (U+202A–U+202E, U+2066–U+2069), the marks U+200E, U+200F and U+061C, the zero-width
//     space U+200B, word joiner and invisible operators U+2060–U+2064, the byte order mark
//     U+FEFF, soft hyphen U+00AD, interlinear annotations and tag characters (U+E0000 block),
//     except the zero-width non-joiner U+200C and joiner U+200D, which scripts and emoji need;
//   - the line and paragraph separators U+2028 and U+2029;
//   - bytes that are not UTF-8.
package ctrlchar

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Refused reports whether the character r is in the set (bytes that are not UTF-8 are
// Find's and Escape's to see).
func Refused(r rune) bool {
	switch r {
	case '\u200c', '\u200d':
		return false
	case '\u2028', '\u2029':
		return true
	}
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r)
}

// Find returns the first refused character of s and its byte offset, or ok false. A byte
// that is not UTF-8 is returned as utf8.RuneError.
func Find(s string) (r rune, at int, ok bool) {
	for i, c := range s {
		if c == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size <= 1 {
				return c, i, true
			}
			continue // a real U+FFFD is a visible character
		}
		if Refused(c) {
			return c, i, true
		}
	}
	return 0, 0, false
}

// Check refuses a value of field that holds a refused character, with an error naming the
// field, the character and where it is (never the value: it may be meant to fool a reader).
func Check(field, s string) error {
	r, at, ok := Find(s)
	if !ok {
		return nil
	}
	what := fmt.Sprintf("%U", r)
	if r == utf8.RuneError {
		what = "a byte that is not UTF-8"
	}
	return fmt.Errorf("%s: %s at byte %d is a control or invisible formatting character; "+
		"names, display names and e-mail addresses may not contain them", field, what, at)
}

// Escape writes s with every refused character as a Go escape (\x1b, \u202e, \x00), so that
// a value shown to a person on a terminal is seen for what it is and does nothing to the
// terminal. Everything else, the backslash included, is left as it is: this is for people,
// not a quoting that round-trips; data and JSON output must never go through it.
func Escape(s string) string { return escape(s, false) }

// EscapeText is Escape for a message of several lines: line feeds are kept.
func EscapeText(s string) string { return escape(s, true) }

func escape(s string, keepLF bool) string {
	if _, _, ok := Find(s); !ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n' && keepLF:
			b.WriteByte('\n')
		case Refused(r):
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\u202e', '\t'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Strip drops every refused character: for names the hub is handed and cannot send back
// (an identity provider's claims), where refusing would lock the person out.
func Strip(s string) string {
	if _, _, ok := Find(s); !ok {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r != utf8.RuneError || size > 1) && !Refused(r) {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
