package sqlkit

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const separator = "-- decoded --\n"

// legacyByName is the legacy reader a golden file's first line names; mysql:01 is
// LegacyMySQL with key column 1 binary.
func legacyByName(t *testing.T, name string) Legacy {
	switch {
	case name == "none":
		return nil
	case name == "postgres":
		return LegacyPostgres
	case name == "sqlite":
		return LegacySQLite
	case strings.HasPrefix(name, "mysql:"):
		var binary []bool
		for _, c := range strings.TrimPrefix(name, "mysql:") {
			binary = append(binary, c == '1')
		}
		return LegacyMySQL(binary)
	}
	t.Fatalf("unknown legacy reader %q", name)
	return nil
}

// TestKeysetGolden decodes each position in testdata/keyset (a line naming the legacy reader,
// a line with the position) and compares what it reads, and its re-encoding in the current
// format, with the rest of the file. These files guard the stored format: positions live in
// transaction logs and checkpoint tables across versions of the hub.
func TestKeysetGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/keyset/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, want, _ := strings.Cut(string(data), separator)
			lines := strings.SplitN(input, "\n", 3)
			if len(lines) < 2 {
				t.Fatalf("want a legacy line and a position line")
			}
			got := describeDecode(legacyByName(t, lines[0]), lines[1])
			if *update {
				if err := os.WriteFile(file, []byte(lines[0]+"\n"+lines[1]+"\n"+separator+got), 0o600); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("decoded:\n%s\nwant:\n%s(run go test -update to accept)", got, want)
			}
		})
	}
}

func describeDecode(legacy Legacy, raw string) string {
	k, err := DecodeKeyset([]byte(raw), legacy)
	if err != nil {
		if !errors.Is(err, ErrPosition) {
			return "error not wrapping ErrPosition: " + err.Error() + "\n"
		}
		return "error: " + err.Error() + "\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "key: %q\n", k.Key)
	for _, v := range k.After {
		fmt.Fprintf(&b, "after: %T %#v\n", v, v)
	}
	if k.Key == nil {
		k.Key = make([]string, len(k.After))
		for i := range k.Key {
			k.Key[i] = fmt.Sprintf("k%d", i+1)
		}
	}
	enc, err := k.Encode()
	if err != nil {
		return b.String() + "encode error: " + err.Error() + "\n"
	}
	fmt.Fprintf(&b, "encoded: %s\n", enc)
	return b.String()
}

func TestKeysetRoundTrip(t *testing.T) {
	in := Keyset{Key: []string{"a", "b", "c", "d"}, After: []any{int64(7), 2.5, "x\x00y", []byte{0, 255}}}
	pos, err := in.Encode()
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeKeyset(pos, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out) != fmt.Sprint(in) {
		t.Errorf("round trip: %v, want %v", out, in)
	}
	// An older hub reads {"key","after"} (or an array, MySQL): it must find no values in a
	// position of this version, and refuse it rather than resume at the wrong row.
	var old legacyJSON
	if err := json.Unmarshal(pos, &old); err != nil || old.After != nil {
		t.Errorf("an older hub would read values %q from %s", old.After, pos)
	}
	if _, err := LegacyPostgres(pos); err == nil {
		t.Errorf("the legacy PostgreSQL reader takes %s", pos)
	}
	if _, err := (Keyset{Key: []string{"a"}, After: []any{true}}).Encode(); err == nil {
		t.Error("a bool key value encoded")
	}
	if _, err := (Keyset{Key: []string{"a"}}).Encode(); err == nil {
		t.Error("a key without a value encoded")
	}
}

func TestKeysetFits(t *testing.T) {
	k := Keyset{Key: []string{"ID", "b"}, After: []any{int64(1), "x"}}
	for _, tt := range []struct {
		key  []string
		fold bool
		ok   bool
	}{
		{[]string{"ID", "b"}, false, true},
		{[]string{"id", "b"}, false, false},
		{[]string{"id", "B"}, true, true},
		{[]string{"ID"}, true, false},
		{[]string{"b", "ID"}, true, false},
	} {
		if err := k.Fits(tt.key, tt.fold); (err == nil) != tt.ok {
			t.Errorf("Fits(%v, %v) = %v", tt.key, tt.fold, err)
		}
	}
	// A legacy MySQL position names no key: only the count is checked.
	legacy := Keyset{After: []any{"1"}}
	if legacy.Fits([]string{"id"}, true) != nil || legacy.Fits([]string{"a", "b"}, true) == nil {
		t.Error("legacy MySQL position: wrong fit")
	}
}
