package all

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

// badValues are values no option of the type takes.
var badValues = map[connector.OptionType]string{
	connector.OptInt:      "ten",
	connector.OptBool:     "perhaps",
	connector.OptDuration: "soon",
	connector.OptSize:     "big",
	connector.OptEnum:     "bogus",
	connector.OptChar:     "ab",
}

// TestEveryConnectorParsesByItsSpec: for every built-in connector and every typed option it
// declares, a bad value is refused when the endpoint is opened, as a usage error that names
// the option and the value, before anything is connected to. Nothing is re-parsed by hand.
func TestEveryConnectorParsesByItsSpec(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bases := map[string]string{
		"file":     filepath.Join(dir, "x.csv"),
		"sqlite":   "sqlite:" + filepath.Join(dir, "x.db") + "?table=t",
		"postgres": "postgres://nobody@127.0.0.1:1/db?table=t",
		"mysql":    "mysql://nobody@127.0.0.1:1/db?table=t",
		"sftp":     "sftp://nobody@127.0.0.1:1/x",
	}
	for _, sp := range connector.Specs() {
		base, ok := bases[sp.Name]
		if sp.Name == "faulty" {
			continue // this package's test connector
		}
		if !ok {
			t.Errorf("connector %s has no base URL in this test", sp.Name)
			continue
		}
		for _, o := range sp.Options {
			bad, ok := badValues[o.Kind()]
			if !ok {
				continue
			}
			sep := "?"
			if strings.Contains(base, "?") {
				sep = "&"
			}
			e := connector.Endpoint{URL: base + sep + o.Name + "=" + bad}
			t.Run(sp.Name+"/"+o.Name, func(t *testing.T) {
				err := openEither(ctx, sp, e)
				var oe *connector.OptionError
				if !errors.As(err, &oe) || oe.Option != o.Name || !strings.Contains(err.Error(), `"`+bad+`"`) {
					t.Fatalf("%s: %v; want the option error of %s", e.URL, err, o.Name)
				}
			})
		}
	}
}

// openEither makes and opens a source (or a sink, for write-only connectors): some parse
// their endpoint when made, others when opened.
func openEither(ctx context.Context, sp *connector.Spec, e connector.Endpoint) error {
	if sp.CanRead() {
		src, err := sp.NewSource(ctx, e)
		if err != nil {
			return err
		}
		defer func() { _ = src.Close(ctx) }()
		return src.Open(ctx, nil)
	}
	snk, err := sp.NewSink(ctx, e)
	if err != nil {
		return err
	}
	defer func() { _ = snk.Close(ctx) }()
	_, err = snk.Open(ctx, connector.Schema{}, connector.SinkOptions{})
	return err
}
