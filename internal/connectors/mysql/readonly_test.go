package mysql

import (
	"strings"
	"testing"
)

func TestWritesFile(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"SELECT * FROM t", false},
		{"SELECT * FROM t INTO OUTFILE '/tmp/x'", true},
		{"select a from t into\n\tdumpfile '/tmp/x'", true},
		{"SELECT a INTO @v FROM t", false},
		{"SELECT 'INTO OUTFILE' AS s", false},
		{`SELECT "into outfile", ` + "`into outfile`", false},
		{`SELECT 'it''s' INTO OUTFILE '/x'`, true},
		{`SELECT 'a\' INTO OUTFILE' FROM t`, false},
		{"SELECT 1 -- INTO OUTFILE '/x'\n", false},
		{"SELECT 1 # INTO OUTFILE '/x'", false},
		{"SELECT 1 /* INTO OUTFILE '/x' */", false},
		{"SELECT 1 /*! INTO OUTFILE '/x' */", true},
		{"SELECT 1 /*!50100 INTO DUMPFILE '/x' */", true},
		{"SELECT 1 /*M!100100 INTO OUTFILE '/x' */", true},
		{"SELECT 1 INTO/**/OUTFILE '/x'", true},
		{"SELECT 1--1 INTO OUTFILE '/x'", true},
		{"SELECT into_outfile FROM t", false},
		{"SELECT 1 INTO OUTFILEX", false},
		{"", false},
	} {
		if got := writesFile(tc.q); got != tc.want {
			t.Errorf("writesFile(%q) = %v, want %v", tc.q, got, tc.want)
		}
	}
}

// FuzzWritesFile: the scanner never panics, and a query that ends by writing a file is seen
// whatever precedes it, once that is closed off.
func FuzzWritesFile(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SELECT 'a", "/*! x", "`a``b`", "-- x", `"\`, "/*M!1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		_ = writesFile(q)
		if strings.ContainsAny(q, "'\"`#-/*\\") {
			return // the suffix could be swallowed by an open string or comment
		}
		if !writesFile(q + " INTO OUTFILE '/x'") {
			t.Fatalf("missed INTO OUTFILE after %q", q)
		}
	})
}
