package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/service"
)

// A connector registered by the program that calls the entry point, as an outside module's
// init would.
func init() {
	connector.Register(connector.Spec{
		Name: "svctest", Schemes: []string{"svctest"}, Summary: "test: registered outside the hub's connectors",
		NewSource: func(context.Context, connector.Endpoint) (connector.Source, error) { return nil, nil },
	})
}

func TestExecute(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		code int
	}{
		{"ok", []string{"version"}, 0},
		{"usage", []string{"copy"}, 2},
		{"unknown command", []string{"no-such-command"}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := service.Execute(context.Background(), c.args, &out, &errOut); code != c.code {
				t.Fatalf("exit %d, want %d; stdout %q, stderr %q", code, c.code, out.String(), errOut.String())
			}
		})
	}
}

// TestExecuteHasTheCallersConnectors: the command line lists the built-in connectors and the
// caller's, with their directions.
func TestExecuteHasTheCallersConnectors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := service.Execute(context.Background(), []string{"connectors", "--json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var specs struct {
		Items []struct {
			Name  string `json:"name"`
			Read  bool   `json:"read"`
			Write bool   `json:"write"`
		} `json:"items"`
	}
	if err := json.Unmarshal(out.Bytes(), &specs); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	got := map[string][2]bool{}
	for _, s := range specs.Items {
		got[s.Name] = [2]bool{s.Read, s.Write}
	}
	for name, dirs := range map[string][2]bool{"svctest": {true, false}, "file": {true, true}, "postgres": {true, true}} {
		if d, ok := got[name]; !ok || d != dirs {
			t.Errorf("connector %s: listed %v with read/write %v, want %v", name, ok, d, dirs)
		}
	}
}
