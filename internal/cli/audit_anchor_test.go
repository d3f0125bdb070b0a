package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/audit"
)

func TestAnchorParam(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, audit.AnchorFileName)
	h1, h2 := strings.Repeat("a", 64), strings.Repeat("b", 64)
	for _, a := range []audit.Anchor{{Seq: 5, Hash: h1, At: time.Now()}, {Seq: 9, Hash: h2, At: time.Now()}} {
		if err := audit.AddAnchor(file, a, 0); err != nil {
			t.Fatal(err)
		}
	}
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, []byte(`{"format":"`+audit.AnchorFormat+`","anchors":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, want, err string }{
		{"", "", ""},
		{"7:" + h1, "7:" + h1, ""},
		{file, "9:" + h2, ""},
		{empty, "", "holds no anchor"},
		{filepath.Join(dir, "missing.json"), "", "neither SEQ:HASH nor a readable anchor file"},
		{"7:nothex", "", "neither SEQ:HASH"},
	} {
		got, err := anchorParam(c.in)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("anchorParam(%q) = %q, %v; want %q, %q", c.in, got, err, c.want, c.err)
		}
	}
}
