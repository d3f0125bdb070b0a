package notify

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The chat payloads are a format others parse: golden files guard them.
func TestChatPayloadsGolden(t *testing.T) {
	e := failedRun(time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC))
	e.ID = "01950000-0000-7000-8000-000000000001"
	msg, err := renderEvent(e, "prod-failures", "https://hub.example.org", "")
	if err != nil {
		t.Fatal(err)
	}
	for name, build := range map[string]func(rendered) ([]byte, error){"slack": slackPayload, "teams": teamsPayload} {
		t.Run(name, func(t *testing.T) {
			b, err := build(msg)
			if err != nil {
				t.Fatal(err)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, b, "", "  "); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, pretty.Bytes(), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s payload differs from %s:\n%s", name, path, pretty.Bytes())
			}
		})
	}
}
