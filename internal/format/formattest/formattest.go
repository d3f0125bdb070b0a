// Package formattest holds what the codecs' tests share: rows of every logical type with
// awkward values, golden-file comparison, and reading a whole stream.
package formattest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Golden compares got with testdata/name, or rewrites the file when the test runs with -update.
func Golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// AllTypes is one nullable column per logical type and rows of awkward values.
func AllTypes() (connector.Schema, [][]any) {
	var s connector.Schema
	for _, t := range connector.AllTypes {
		s.Columns = append(s.Columns, connector.Column{Name: "c_" + t.String(), Type: t, Nullable: true})
	}
	u, _ := connector.ParseUUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	tz := time.FixedZone("", 2*3600)
	rows := [][]any{
		{int64(1), 1.5, connector.Decimal("12.50"), "plain", true, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC), time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC),
			[]byte("hi"), json.RawMessage(`{"a":[1,2]}`), u},
		{int64(-9223372036854775808), math.Inf(-1), connector.Decimal("-0.000000000000000000000000000001"), "comma, \"quote\"\r\nline", false,
			time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
			time.Date(1999, 12, 31, 23, 0, 0, 123456000, tz), []byte{0, 0xff}, json.RawMessage(`"x,y"`), u},
		{nil, math.NaN(), nil, "", nil, nil, nil, nil, []byte{}, nil, nil},
		{int64(0), 1e300, connector.Decimal("99999999999999999999999999999999999999.9"), " padded ", true, nil, nil, nil, nil, json.RawMessage(`[null]`), nil},
		{nil, nil, nil, `\.`, nil, nil, nil, nil, nil, nil, nil},
		{nil, nil, nil, "ünïcødé ✓ 日本 🚀 \u2028", nil, nil, nil, nil, nil, nil, nil},
	}
	return s, rows
}

// Result is everything a reader returned.
type Result struct {
	Schema  connector.Schema
	Rows    [][]any
	Lines   []int64
	Rejects []connector.Reject
	Bytes   int64
	Batches []*connector.Batch
}

// ReadAll drains r.
func ReadAll(t testing.TB, r format.Reader) Result {
	t.Helper()
	res := Result{Schema: r.Schema()}
	for {
		b, err := r.Read(context.Background())
		if errors.Is(err, connector.ErrEndOfInput) {
			return res
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if len(b.Lines) != len(b.Rows) {
			t.Fatalf("%d lines for %d rows", len(b.Lines), len(b.Rows))
		}
		res.Rows = append(res.Rows, b.Rows...)
		res.Lines = append(res.Lines, b.Lines...)
		res.Rejects = append(res.Rejects, b.Rejects...)
		res.Bytes += b.Bytes
		res.Batches = append(res.Batches, b)
	}
}

// Write encodes rows with w and closes it.
func Write(t testing.TB, w format.Writer, rows [][]any) {
	t.Helper()
	if err := w.Write(&connector.Batch{Rows: rows}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// CheckValues compares rows read back from a file with the rows written, after converting
// each value read to the written column's type (as the engine would).
func CheckValues(t testing.TB, s connector.Schema, got connector.Schema, want, rows [][]any) {
	t.Helper()
	if len(rows) != len(want) {
		t.Fatalf("read %d rows, wrote %d", len(rows), len(want))
	}
	for i, row := range want {
		for j, v := range row {
			gi := got.Index(s.Columns[j].Name)
			if gi < 0 {
				t.Fatalf("column %s missing from %v", s.Columns[j].Name, got.Names())
			}
			back, err := connector.Convert(rows[i][gi], got.Columns[gi].Type, s.Columns[j])
			if err != nil {
				t.Errorf("row %d column %s: %#v does not convert back: %v", i, s.Columns[j].Name, rows[i][gi], err)
				continue
			}
			if !connector.Equal(s.Columns[j].Type, v, back) {
				t.Errorf("row %d column %s: wrote %#v, read %#v", i, s.Columns[j].Name, v, back)
			}
		}
	}
}

// Resumes checks that a reader opened at each batch's position yields exactly the rest.
func Resumes(t *testing.T, full Result, open func(pos *format.Position) format.Reader) {
	t.Helper()
	var rows [][]any
	var lines []int64
	var rejects []connector.Reject
	for _, b := range full.Batches {
		rows, lines, rejects = append(rows, b.Rows...), append(lines, b.Lines...), append(rejects, b.Rejects...)
		pos, err := format.DecodePosition(b.Pos)
		if err != nil {
			t.Fatal(err)
		}
		rest := ReadAll(t, open(pos))
		gotRows := append(append([][]any{}, rows...), rest.Rows...)
		gotLines := append(append([]int64{}, lines...), rest.Lines...)
		gotRej := append(append([]connector.Reject{}, rejects...), rest.Rejects...)
		if !equalRows(full.Schema, gotRows, full.Rows) || !equalInts(gotLines, full.Lines) || !equalRejects(gotRej, full.Rejects) {
			t.Fatalf("resumed at %s: rows %v lines %v rejects %+v\nwant %v %v %+v", b.Pos, gotRows, gotLines, gotRej, full.Rows, full.Lines, full.Rejects)
		}
	}
}

func equalRows(s connector.Schema, a, b [][]any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		for j := range a[i] {
			if !connector.Equal(s.Columns[j].Type, a[i][j], b[i][j]) {
				return false
			}
		}
	}
	return true
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalRejects(a, b []connector.Reject) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Line != b[i].Line || a[i].Record != b[i].Record || a[i].Reason != b[i].Reason || a[i].Raw != b[i].Raw {
			return false
		}
	}
	return true
}
