package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/client"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// evil holds what a name must not do to a terminal: set the window title, clear the screen,
// turn text around and break a table with a tab and a line feed.
const evil = "ci\x1b]0;pwned\x07\x1b[2J\u202eexe.\tx\ny"

// escapedEvil is how a table shows it.
const escapedEvil = `ci\x1b]0;pwned\a\x1b[2J\u202eexe.\tx\ny`

// TestTablesEscapeControlCharacters is finding 13 of issue 8: names already in a store (a
// hub that accepted them before, or another server) are printed with their control
// characters escaped in human-readable tables and messages, and exactly as they are in JSON.
func TestTablesEscapeControlCharacters(t *testing.T) {
	h := hub(t)
	// The API refuses such a name now: it is put in the store behind its back.
	remoteRun(t, 0, "token", "create", "placeholder", "--expires", "30d")
	if _, err := h.DB.ExecContext(context.Background(), `UPDATE auth_tokens SET name = ? WHERE name = 'placeholder'`, evil); err != nil {
		t.Fatal(err)
	}
	out, _ := remoteRun(t, 0, "token", "list")
	if !strings.Contains(out, escapedEvil) || strings.ContainsAny(out, "\x1b\x07\u202e\t") || strings.Count(out, "\n") != 3 {
		t.Errorf("token list does not escape the name:\n%q", out)
	}
	out, _ = remoteRun(t, 0, "token", "list", "-o", "json")
	var toks list[client.Token]
	// The admin's tokens: that one and the bootstrap token.
	if err := json.Unmarshal([]byte(out), &toks); err != nil || len(toks.Items) != 2 || toks.Items[0].Name != evil {
		t.Errorf("token list -o json changed the name: %v %q", err, out)
	}
}

func TestRunsListEscapes(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	tl, err := txlog.Open(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	rec := &txlog.Run{ID: txlog.NewID(), Kind: "copy", Source: "file:" + evil, Destination: "sqlite:out.db", Mode: "append",
		Status: "failed", StartedAt: time.Now(), Error: "bad row " + evil}
	if err := tl.Start(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	_ = tl.Close()

	code, out, stderr := run(t, "runs", "list", "--data", data)
	if code != 0 || !strings.Contains(out, `file:ci\x1b]0;pwned\a`) || strings.ContainsAny(out, "\x1b\x07\u202e") {
		t.Errorf("runs list: %d %q %s", code, out, stderr)
	}
	code, out, _ = run(t, "runs", "show", "--data", data, rec.ID)
	if code != 0 || strings.ContainsAny(out, "\x1b\x07\u202e") || !strings.Contains(out, "source       file:"+escapedEvil) {
		t.Errorf("runs show: %d %q", code, out)
	}
	_, out, _ = run(t, "runs", "show", "--data", data, "--json", rec.ID)
	var got txlog.Run
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Source != rec.Source {
		t.Errorf("runs show --json changed the source: %v %q", err, out)
	}
}
