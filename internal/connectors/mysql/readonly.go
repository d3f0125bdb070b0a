package mysql

import (
	"strings"
	"unicode"
)

// writesFile reports whether a source query holds SELECT ... INTO OUTFILE or INTO DUMPFILE,
// which write a file on the database server and which a READ ONLY transaction allows. It
// scans the query as the server's lexer would: quoted strings ('...', "...", `...`, with
// backslash and doubled-quote escapes) and comments (-- , #, /* */) are skipped, but the
// body of an executable comment (/*! ... */, /*M! ... */) is code.
//
// Hand-written because no Go MySQL parser is both maintained and exact on MariaDB syntax, and
// only two keywords matter: a false positive needs those words outside any string, which no
// read-only query has.
func writesFile(q string) bool {
	var prev string
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			i = skipQuoted(q, i)
			prev = ""
		case c == '#' || (c == '-' && strings.HasPrefix(q[i:], "--") && (i+2 == len(q) || isSpace(q[i+2]))):
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			if strings.HasPrefix(q[i:], "/*!") || strings.HasPrefix(q[i:], "/*M!") {
				// Executable: its content is code, only the markers are skipped.
				i += 3
				if q[i-1] != '!' {
					i++
				}
				for i < len(q) && q[i] >= '0' && q[i] <= '9' {
					i++ // the version number
				}
				continue
			}
			if end := strings.Index(q[i+2:], "*/"); end >= 0 {
				i += 2 + end + 2
			} else {
				i = len(q)
			}
		case c == '*' && strings.HasPrefix(q[i:], "*/"):
			i += 2 // the end of an executable comment
		case isWord(c):
			j := i
			for j < len(q) && isWord(q[j]) {
				j++
			}
			w := strings.ToUpper(q[i:j])
			if prev == "INTO" && (w == "OUTFILE" || w == "DUMPFILE") {
				return true
			}
			prev, i = w, j
		default:
			if !isSpace(c) {
				prev = ""
			}
			i++
		}
	}
	return false
}

// skipQuoted returns the index after the quoted text that starts at q[i].
func skipQuoted(q string, i int) int {
	quote := q[i]
	for i++; i < len(q); i++ {
		switch {
		case q[i] == '\\' && quote != '`':
			i++
		case q[i] == quote:
			if i+1 < len(q) && q[i+1] == quote {
				i++ // a doubled quote stands for itself
				continue
			}
			return i + 1
		}
	}
	return len(q)
}

func isWord(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c))
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
