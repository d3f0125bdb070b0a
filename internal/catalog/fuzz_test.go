package catalog_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/datahub-oss/datahub/internal/catalog"
)

// FuzzParse checks that no input makes Parse panic, and that whatever parses renders back to
// YAML that parses to the same resource (the property export relies on).
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/bad/*.yaml")
	seeds = append(seeds, quickstart)
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("apiVersion: datahub/v1\nkind: Integration\nmetadata: {name: x}\nspec:\n  source: {endpoint: a}\n  destination: {endpoint: b, table: t}\n  trigger: {type: schedule, every: 1.0, at: [\"null\", 0x1F, 2024-01-01, ~]}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("---\n---\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := catalog.Parse(data, "fuzz.yaml")
		if err != nil {
			return
		}
		for i := range rs {
			r := &rs[i]
			want, err := r.Digest()
			if err != nil {
				t.Fatalf("digest of a parsed resource: %v", err)
			}
			y, err := catalog.Render(r)
			if err != nil {
				t.Fatalf("render a parsed resource: %v", err)
			}
			again, err := catalog.Parse(y, "rendered.yaml")
			if err != nil {
				t.Fatalf("rendered resource does not parse: %v\n%s", err, y)
			}
			if len(again) != 1 {
				t.Fatalf("rendered resource parses to %d documents:\n%s", len(again), y)
			}
			if got, _ := again[0].Digest(); got != want {
				a, _ := r.Canonical()
				b, _ := again[0].Canonical()
				t.Fatalf("render and parse changed the resource:\n%s\n%s\n%s", a, b, y)
			}
		}
	})
}
