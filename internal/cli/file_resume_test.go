package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/testutil"
)

// TestFileAppendKillAndResume kills a CSV → NDJSON append copy with SIGKILL part-way and
// checks that --resume leaves every source row in the NDJSON exactly once: the file sink cuts
// off what the killed run wrote after its last Flush and resumes the source from the position
// it recorded with the flushed rows.
func TestFileAppendKillAndResume(t *testing.T) {
	const n = 400000
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	out := filepath.Join(dir, "out.ndjson")
	side := func() string {
		m, _ := filepath.Glob(filepath.Join(dir, ".out.ndjson.datahub-pos-*"))
		if len(m) == 0 {
			return ""
		}
		return m[0]
	}
	var b bytes.Buffer
	b.WriteString("id,name,note\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d,name %d,note number %d of the source\n", i, i, i)
	}
	if err := os.WriteFile(in, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	args := []string{"copy", "--json", "--data", data, "--mode", "append",
		"--batch-size", "2000", "--checkpoint-rows", "20000", in, out}
	cmd := exec.Command(os.Args[0], args...) //nolint:gosec // the test binary itself
	cmd.Env = append(os.Environ(), "DATAHUB_CLI_MAIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// flushed is the size the sidecar records, -1 when there is none yet.
	flushed := func() int64 {
		sc := struct {
			Size int64 `json:"size"`
		}{Size: -1}
		if p := side(); p != "" {
			if raw, err := os.ReadFile(p); err == nil {
				_ = json.Unmarshal(raw, &sc)
			}
		}
		return sc.Size
	}
	// Kill once a few checkpoints' worth of rows are in the file (about 75 bytes a row), well
	// before the end, preferably while rows after the last Flush are in it.
	testutil.WaitFor(t, 30*time.Second, "the first rows in the destination", func() bool {
		info, err := os.Stat(out)
		return err == nil && info.Size() > 3*20000*75 && info.Size() > flushed()
	})
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	killedSize, flushedSize := fileSize(t, out), flushed()
	if flushedSize < 0 {
		t.Fatalf("no resume sidecar after the kill (the copy finished before it was killed? %d bytes written); make the source bigger", killedSize)
	}
	t.Logf("killed at %d bytes, %d flushed", killedSize, flushedSize)

	_, list, _ := run(t, "runs", "list", "--json", "--data", data)
	id := between(list, `"run_id": "`, `"`)
	if id == "" {
		t.Fatalf("no run in the log:\n%s", list)
	}
	code, stdout, stderr := run(t, append([]string{"copy", "--resume", id}, args[1:]...)...)
	if code != 0 {
		t.Fatalf("resume: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if s := side(); s != "" {
		t.Errorf("the sidecar %s is left after the resumed run finished", s)
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := make([]bool, n+1)
	lines := 0
	sc2 := bufio.NewScanner(f)
	prefix := []byte(`{"id":"`)
	for sc2.Scan() {
		lines++
		l := sc2.Bytes()
		if !bytes.HasPrefix(l, prefix) {
			t.Fatalf("line %d: %q", lines, l)
		}
		rest := l[len(prefix):]
		end := bytes.IndexByte(rest, '"')
		id, err := strconv.Atoi(string(rest[:max(end, 0)]))
		if err != nil || id < 1 || id > n {
			t.Fatalf("line %d: bad id in %q", lines, l)
		}
		if seen[id] {
			t.Fatalf("line %d: id %d appears twice (killed at %d bytes, %d flushed)", lines, id, killedSize, flushedSize)
		}
		seen[id] = true
	}
	if err := sc2.Err(); err != nil {
		t.Fatal(err)
	}
	if lines != n {
		t.Fatalf("the NDJSON has %d lines, want %d", lines, n)
	}
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}
