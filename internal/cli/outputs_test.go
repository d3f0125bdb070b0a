package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// busYAML adds a topic and a pull subscription to catalogDir's catalog, for the bus commands.
const busYAML = `apiVersion: datahub/v1
kind: Topic
metadata: {name: orders}
spec: {retention: {maxAge: 1d}}
---
apiVersion: datahub/v1
kind: Subscription
metadata: {name: orders-pull}
spec:
  topic: orders
  delivery: {type: pull}
`

// TestEveryPrintingCommandHasOneOutputFlag runs every command that prints against a real hub
// with -o json, -o yaml and --json: each output parses, a list has the one shape (items and
// next, both always there), a single object (show, version, a summary) stays an object, and
// --json prints exactly what -o json prints.
func TestEveryPrintingCommandHasOneOutputFlag(t *testing.T) {
	hub(t)
	dir := runCatalog(t, 3)
	writeFile(t, filepath.Join(dir, "5-bus.yaml"), busYAML)
	remoteRun(t, 0, "apply", "-f", dir)
	if code, _, errOut := runIn(context.Background(), t, "v1\n", "secret", "put", "s1", "--from-stdin"); code != 0 {
		t.Fatalf("secret put: exit %d\n%s", code, errOut)
	}
	runOut, _ := remoteRun(t, 0, "run", "crm-to-dwh", "--env", "dev", "--wait", "--json")
	id := runID(t, runOut)
	msg := filepath.Join(t.TempDir(), "msg.json")
	writeFile(t, msg, `{"id": 1}`)
	data := filepath.Join(t.TempDir(), "data")
	out, _ := remoteRun(t, 0, "user", "create", "bot", "--role", "viewer", "-o", "json")
	var u map[string]any
	if err := json.Unmarshal([]byte(out), &u); err != nil || u["name"] != "bot" {
		t.Errorf("user create -o json: %v\n%s", err, out)
	}
	in := filepath.Join(t.TempDir(), "in.csv")
	writeFile(t, in, "id,name\n1,a\n")

	for _, tc := range []struct {
		args []string
		list bool
		// summary: the JSON form is one line (a copy's or a run's summary).
		summary bool
		// fresh: the command changes something, so --json is not compared with -o json.
		fresh bool
		// empty: the list has no items here.
		empty bool
	}{
		{args: []string{"version"}},
		{args: []string{"apply", "-f", dir}, list: true},
		{args: []string{"connectors"}, list: true},
		{args: []string{"get", "integrations"}, list: true},
		{args: []string{"get", "integration", "crm-to-dwh"}},
		{args: []string{"history", "system", "crm"}, list: true},
		{args: []string{"secret", "list"}, list: true},
		{args: []string{"token", "list"}, list: true},
		{args: []string{"user", "list"}, list: true},
		{args: []string{"audit", "list", "--limit", "5"}, list: true},
		{args: []string{"audit", "verify"}},
		{args: []string{"notifications", "list"}, list: true, empty: true},
		{args: []string{"dlq", "list", "orders-pull"}, list: true, empty: true},
		{args: []string{"runs", "list"}, list: true},
		{args: []string{"runs", "show", id}},
		{args: []string{"runs", "show", "last"}},
		{args: []string{"runs", "list", "--local", "--data", data}, list: true, empty: true},
		{args: []string{"publish", "orders", "--file", msg}, fresh: true},
		{args: []string{"dlq", "replay", "orders-pull"}},
		{args: []string{"user", "set-roles", "bot", "--role", "operator"}, fresh: true},
		{args: []string{"secret", "put", "s2", "--from-file", msg}, fresh: true},
		{args: []string{"run", "crm-to-dwh", "--env", "dev", "--wait"}, summary: true, fresh: true},
		{args: []string{"copy", "--data", data, in, filepath.Join(t.TempDir(), "out.ndjson")}, summary: true, fresh: true},
	} {
		name := strings.Join(tc.args[:min(2, len(tc.args))], " ")
		t.Run(name, func(t *testing.T) {
			if tc.args[0] == "copy" {
				// A new destination each time: the copy is run three times.
				tc.args[len(tc.args)-1] = filepath.Join(t.TempDir(), "out.ndjson")
			}
			js, _ := remoteRun(t, 0, append(tc.args, "-o", "json")...)
			checkShape(t, "-o json", js, json.Unmarshal, tc.list, tc.empty)
			if tc.summary && strings.Count(js, "\n") != 1 {
				t.Errorf("-o json of a summary is not one line: %q", js)
			}
			ya, _ := remoteRun(t, 0, append(tc.args, "-o", "yaml")...)
			checkShape(t, "-o yaml", ya, yaml.Unmarshal, tc.list, tc.empty)
			short, _ := remoteRun(t, 0, append(tc.args, "--json")...)
			checkShape(t, "--json", short, json.Unmarshal, tc.list, tc.empty)
			if !tc.fresh && short != js {
				t.Errorf("--json differs from -o json:\n%s\n%s", short, js)
			}
		})
	}

	// pull prints one message a line (JSON, its default), a document (YAML) or a block. The
	// table's publish makes the fourth message for the four pulls.
	if out, _ := remoteRun(t, 0, "publish", "orders", "--file", msg); !strings.HasPrefix(out, "published orders seq 4 ") {
		t.Errorf("publish: %q", out)
	}
	pulled := map[string]func(string) error{
		"json": func(out string) error { return json.Unmarshal([]byte(out), new(map[string]any)) },
		"yaml": func(out string) error { return yaml.Unmarshal([]byte(out), new(map[string]any)) },
		"table": func(out string) error {
			if !strings.HasPrefix(out, "--- seq ") || !strings.Contains(out, " ack ") {
				return fmt.Errorf("not a header line and a body")
			}
			return nil
		},
	}
	for _, format := range []string{"", "json", "yaml", "table"} {
		args := []string{"pull", "orders-pull", "--max", "1"}
		if format != "" {
			args = append(args, "-o", format)
		}
		out, _ := remoteRun(t, 0, args...)
		if err := pulled[cmp.Or(format, "json")](out); err != nil || !strings.Contains(out, "id") {
			t.Errorf("pull -o %s: %v\n%s", format, err, out)
		}
	}

	// ack answers as the API does.
	remoteRun(t, 0, "publish", "orders", "--file", msg)
	out, _ = remoteRun(t, 0, "pull", "orders-pull", "--max", "1", "--no-ack")
	tok, _ := mustJSON(t, out)["ack_token"].(string)
	if out, _ = remoteRun(t, 0, "ack", "orders-pull", tok, "-o", "json"); out != "{\n  \"settled\": 1\n}\n" {
		t.Errorf("ack -o json: %q", out)
	}

	out, _ = remoteRun(t, 0, "delete", "subscription", "orders-pull", "-o", "yaml")
	var ch map[string]any
	if err := yaml.Unmarshal([]byte(out), &ch); err != nil || ch["action"] != "deleted" || ch["name"] != "orders-pull" {
		t.Errorf("delete -o yaml: %v\n%s", err, out)
	}
}

// checkShape checks that out parses, as one object or as a list in the one list shape, with
// items unless empty ([] then, never null).
func checkShape(t *testing.T, how, out string, parse func([]byte, any) error, isList, empty bool) {
	t.Helper()
	var m map[string]any
	if err := parse([]byte(out), &m); err != nil {
		t.Fatalf("%s does not parse as one object: %v\n%s", how, err, out)
	}
	if !isList {
		if _, ok := m["items"]; ok {
			t.Errorf("%s of one object is a list:\n%s", how, out)
		}
		return
	}
	items, ok := m["items"].([]any)
	if _, hasNext := m["next"].(string); !ok || !hasNext || len(m) != 2 {
		t.Errorf("%s is not {items, next}:\n%s", how, out)
	}
	if (len(items) == 0) != empty {
		t.Errorf("%s: %d items, want none: %v\n%s", how, len(items), empty, out)
	}
}

// TestOutputFlagUsage: an unknown -o and --json with another -o are usage errors, before
// anything is done.
func TestOutputFlagUsage(t *testing.T) {
	for _, args := range [][]string{
		{"connectors", "-o", "xml"},
		{"version", "-o", "yaml", "--json"},
		{"runs", "list", "--local", "-o", "csv"},
		{"runs", "rejects", "last", "--local", "-o", "yaml"},
		{"copy", "-o", "toml", "a.csv", "b.csv"},
	} {
		if code, out, errOut := run(t, args...); code != ExitUsage || !strings.Contains(errOut, "-o") && !strings.Contains(errOut, "json") {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
		}
	}
}
