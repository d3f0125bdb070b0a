package cli

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/app/apptest"
	"github.com/datahub-oss/datahub/internal/testutil"
)

// complete runs `datahub __complete ARGS...` as the shell scripts do and returns the
// suggestions (without descriptions) and what went to stderr besides cobra's own trailer.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	code, out, errb := runIn(context.Background(), t, "", append([]string{"__complete"}, args...)...)
	if code != 0 {
		t.Fatalf("__complete %v: exit %d: %s", args, code, errb)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" || strings.HasPrefix(l, ":") {
			continue // the directive
		}
		name, _, _ := strings.Cut(l, "\t")
		got = append(got, name)
	}
	errb = strings.TrimSpace(strings.ReplaceAll(errb, "Completion ended with directive: ShellCompDirectiveNoFileComp", ""))
	return got, errb
}

// TestCompletionFlagValues: the enumerated flags complete their values, with or without a
// server.
func TestCompletionFlagValues(t *testing.T) {
	t.Setenv("DATAHUB_SERVER", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"copy", "--mode", ""}, "append replace upsert"},
		{[]string{"copy", "--progress", ""}, "auto always never"},
		{[]string{"copy", "--from-format", ""}, "csv tsv ndjson jsonl json"},
		{[]string{"copy", "a.csv", "--to-format", ""}, "csv tsv ndjson jsonl json"},
		{[]string{"run", "x", "--env", ""}, "DEV SIT UAT MPE PROD"},
		{[]string{"version", "-o", ""}, "table json yaml"},
		{[]string{"runs", "list", "-o", ""}, "table json yaml"},
		{[]string{"copy", "a.csv", "--output", ""}, "table json yaml"},
		{[]string{"get", "integrations", "-o", ""}, "table json yaml"},
		{[]string{"connectors", "-o", ""}, "table json yaml"},
		{[]string{"get", ""}, "systems endpoints integrations topics subscriptions notificationrules"},
		{[]string{"run", ""}, ""}, // no server: nothing, and no file names
	} {
		got, errb := complete(t, tc.args...)
		if strings.Join(got, " ") != tc.want || errb != "" {
			t.Errorf("%v: %q (stderr %q), want %q", tc.args, got, errb, tc.want)
		}
	}
}

// TestCompletionFromServer: with a server configured, `run` completes integrations, `get
// KIND` that kind's names and `runs show` run ids.
func TestCompletionFromServer(t *testing.T) {
	hub(t)
	runCatalog(t, 3)
	out, _ := remoteRun(t, 0, "run", "crm-to-dwh", "--wait", "--json")
	id := runID(t, out)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", ""}, "crm-broken crm-partial crm-to-dwh"},
		{[]string{"run", "crm-to-dwh", ""}, ""},
		{[]string{"get", "endpoints", ""}, "crm-db dwh"},
		{[]string{"get", "Endpoint", ""}, "crm-db dwh"},
		{[]string{"get", "nokind", ""}, ""},
		{[]string{"runs", "show", ""}, id},
	} {
		got, errb := complete(t, tc.args...)
		if strings.Join(got, " ") != tc.want || errb != "" {
			t.Errorf("%v: %q (stderr %q), want %q", tc.args, got, errb, tc.want)
		}
	}
}

// TestCompletionSilentOnError: a server that does not answer HTTP, or refuses the token,
// gives no suggestions and prints nothing; the call is bounded by completionTimeout.
func TestCompletionSilentOnError(t *testing.T) {
	t.Setenv("DATAHUB_TOKEN", "")
	for _, server := range []string{"http://" + testutil.NotHTTP(t, "INFO {}\r\n"), apptest.Start(t).URL} {
		t.Setenv("DATAHUB_SERVER", server)
		t.Setenv("DATAHUB_TOKEN", "dht_wrong")
		for _, args := range [][]string{{"run", ""}, {"runs", "show", ""}, {"get", "integrations", ""}} {
			got, errb := complete(t, args...)
			if len(got) != 0 || errb != "" {
				t.Errorf("%s %v: %q (stderr %q), want nothing", server, args, got, errb)
			}
		}
	}
	// A server that accepts the connection and never answers: the Tab returns, empty, once
	// completionTimeout has passed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("DATAHUB_SERVER", "http://"+ln.Addr().String())
	if got, errb := complete(t, "run", ""); len(got) != 0 || errb != "" {
		t.Errorf("silent server: %q (stderr %q), want nothing", got, errb)
	}
}
