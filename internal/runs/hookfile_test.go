package runs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/catalog"
	_ "github.com/datahub-oss/datahub/internal/connectors/all"
)

func TestHookSourceConfined(t *testing.T) {
	data := t.TempDir()
	hooks := filepath.Join(data, "hooks")
	dir := filepath.Join(hooks, "orders")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "d1.csv")
	other := filepath.Join(hooks, "invoices", "d2.csv")
	outside := filepath.Join(data, "secret.csv")
	link := filepath.Join(dir, "link.csv")
	for _, f := range []string{good, other, outside} {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("id\n1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	data2 := &catalog.IntegrationSpec{Trigger: catalog.Trigger{Type: "webhook", Settings: map[string]any{"body": "data"}}}
	ignore := &catalog.IntegrationSpec{Trigger: catalog.Trigger{Type: "webhook"}}
	src := connector.Endpoint{URL: filepath.Join(data, "in.csv"), Options: map[string]string{"header": "true", "format": "csv"}}
	opts := ResolveOptions{HooksDir: hooks}

	e, err := hookSource(data2, opts, "orders", good, src)
	if err != nil {
		t.Fatal(err)
	}
	if e.URL != good || e.Root != dir || e.Options["header"] != "true" || e.Options["format"] != "" {
		t.Errorf("endpoint %+v", e)
	}
	for name, c := range map[string]struct {
		spec *catalog.IntegrationSpec
		opts ResolveOptions
		file string
	}{
		"body ignore":           {ignore, opts, good},
		"no hooks folder":       {data2, ResolveOptions{}, good},
		"another integration's": {data2, opts, other},
		"outside":               {data2, opts, outside},
		"dot dot":               {data2, opts, filepath.Join(dir, "..", "..", "secret.csv")},
		"relative":              {data2, opts, "d1.csv"},
		"symlink":               {data2, opts, link},
		"missing":               {data2, opts, filepath.Join(dir, "none.csv")},
		"the folder":            {data2, opts, dir},
	} {
		if _, err := hookSource(c.spec, c.opts, "orders", c.file, src); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestHookBodyIsDataEvent(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		body any
		want bool
	}{{"event", nil, true}, {"event", "data", true}, {"event", "ignore", false}, {"webhook", nil, false}, {"webhook", "data", true}, {"schedule", "data", false}} {
		s := map[string]any{}
		if tc.body != nil {
			s["body"] = tc.body
		}
		spec := &catalog.IntegrationSpec{Trigger: catalog.Trigger{Type: tc.typ, Settings: s}}
		if got := HookBodyIsData(spec); got != tc.want {
			t.Errorf("%s body %v: %v", tc.typ, tc.body, got)
		}
	}
}
