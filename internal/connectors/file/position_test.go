package file

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

// openAppendRun opens an append sink for run on e without registering a Close, so that a test
// can abandon it the way SIGKILL would.
func openAppendRun(t *testing.T, e connector.Endpoint, s connector.Schema, run string) *sink {
	t.Helper()
	k, err := connector.NewSink(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(ctx, s, connector.SinkOptions{Mode: connector.ModeAppend, RunID: run}); err != nil {
		t.Fatal(err)
	}
	return k.(*sink)
}

// kill abandons k as a process killed with SIGKILL would: what the format writer buffered
// reaches the file (the operating system keeps what was written), but nothing is synced,
// truncated, committed or removed; only the descriptors are released.
func kill(t *testing.T, k *sink) {
	t.Helper()
	if err := k.w.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = k.f.Close()
	_ = k.store.Close()
}

func write(t *testing.T, k connector.Sink, rows ...string) {
	t.Helper()
	b := &connector.Batch{}
	for _, r := range rows {
		b.Rows = append(b.Rows, []any{r})
	}
	if err := k.Write(ctx, b); err != nil {
		t.Fatal(err)
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

func readSide(t *testing.T, p string) sidecar {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var sc sidecar
	if err := json.Unmarshal(b, &sc); err != nil {
		t.Fatalf("sidecar %s: %v", b, err)
	}
	return sc
}

// TestResumeAfterKill: rows written after the last Flush by a killed run are cut off when
// the run is resumed, and the position flushed with the rest is handed back.
func TestResumeAfterKill(t *testing.T) {
	for _, tc := range []struct {
		name, ext, existing, want string
	}{
		{"csv_new_file", ".csv", "", "a\n1\n2\n3\n4\n5\n"},
		{"ndjson_existing", ".ndjson", "{\"a\":\"0\"}", "{\"a\":\"0\"}\n{\"a\":\"1\"}\n{\"a\":\"2\"}\n{\"a\":\"3\"}\n{\"a\":\"4\"}\n{\"a\":\"5\"}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "out"+tc.ext)
			side := filepath.Join(dir, ".out"+tc.ext+".datahub-pos-r1")
			if tc.existing != "" {
				if err := os.WriteFile(p, []byte(tc.existing), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			e := connector.Endpoint{URL: p}
			s := schemaOf("a")
			pos1 := connector.Position("after 3\x00\xff")

			k := openAppendRun(t, e, s, "r1")
			if sc := readSide(t, side); sc.Position != nil || sc.RunID != "r1" || sc.Size != fileSize(t, p) {
				t.Fatalf("sidecar at Open %+v, file %d bytes", sc, fileSize(t, p))
			}
			write(t, k, "1", "2", "3")
			if err := k.Flush(ctx, pos1); err != nil {
				t.Fatal(err)
			}
			flushed := fileSize(t, p)
			if sc := readSide(t, side); sc.Size != flushed || !bytes.Equal(sc.Position, pos1) {
				t.Fatalf("sidecar after Flush %+v, file %d bytes", sc, flushed)
			}
			write(t, k, "4-lost", "5-lost")
			kill(t, k)
			if fileSize(t, p) <= flushed {
				t.Fatal("the unflushed rows did not reach the file; the test proves nothing")
			}

			k = openAppendRun(t, e, s, "r1")
			if got := fileSize(t, p); got != flushed {
				t.Fatalf("resumed: file %d bytes, want the flushed %d", got, flushed)
			}
			saved, err := k.SavedPosition(ctx)
			if err != nil || !bytes.Equal(saved, pos1) {
				t.Fatalf("SavedPosition %q %v, want %q", saved, err, pos1)
			}
			write(t, k, "4", "5")
			if err := k.Flush(ctx, connector.Position("end")); err != nil {
				t.Fatal(err)
			}
			if err := k.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := k.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(p); string(got) != tc.want {
				t.Fatalf("file holds %q, want %q", got, tc.want)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 1 {
				t.Fatalf("left behind after Commit: %v", ents)
			}
		})
	}
}

// TestResumeKilledBeforeFirstFlush: the sidecar written at Open undoes a run killed before
// any Flush, and there is no position to resume from.
func TestResumeKilledBeforeFirstFlush(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.ndjson")
	if err := os.WriteFile(p, []byte("{\"a\":\"0\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := connector.Endpoint{URL: p}
	k := openAppendRun(t, e, schemaOf("a"), "r1")
	write(t, k, "lost")
	kill(t, k)
	k = openAppendRun(t, e, schemaOf("a"), "r1")
	defer k.Close(ctx)
	if got, _ := os.ReadFile(p); string(got) != "{\"a\":\"0\"}\n" {
		t.Fatalf("file holds %q", got)
	}
	if saved, err := k.SavedPosition(ctx); saved != nil || err != nil {
		t.Fatalf("SavedPosition %q %v, want nil", saved, err)
	}
}

// TestResumeRefusesShorterFile: a file that lost flushed bytes was changed by someone else.
func TestResumeRefusesShorterFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.ndjson")
	e := connector.Endpoint{URL: p}
	k := openAppendRun(t, e, schemaOf("a"), "r1")
	write(t, k, "1", "2")
	if err := k.Flush(ctx, connector.Position("p")); err != nil {
		t.Fatal(err)
	}
	kill(t, k)
	// In this order: truncating needs the file that removing takes away.
	for _, step := range []struct {
		name   string
		change func() error
	}{
		{"truncated", func() error { return os.Truncate(p, 5) }},
		{"removed", func() error { return os.Remove(p) }},
	} {
		name, change := step.name, step.change
		if err := change(); err != nil {
			t.Fatal(err)
		}
		k, err := connector.NewSink(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		_, err = k.Open(ctx, schemaOf("a"), connector.SinkOptions{Mode: connector.ModeAppend, RunID: "r1"})
		k.Close(ctx)
		if connector.CodeOf(err) != connector.CodeData || !strings.Contains(err.Error(), "cannot resume run r1") ||
			!strings.Contains(err.Error(), "fewer than the 20 bytes") {
			t.Fatalf("%s: err %v, want a data error saying the file is shorter", name, err)
		}
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("the refused resume created the removed file")
	}
}

// TestPositionSidecarLifecycle: Close without Commit keeps the sidecar, the run id is made
// safe for a file name, replace mode and runs without an id keep none, Store.List hides it,
// and confinement to a root holds for it too.
func TestPositionSidecarLifecycle(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	e := connector.Endpoint{URL: "sub/out.ndjson", Root: root}
	side := filepath.Join(root, "sub", ".out.ndjson.datahub-pos-r_2")

	k := openAppendRun(t, e, schemaOf("a"), "r/2")
	write(t, k, "1")
	if err := k.Flush(ctx, connector.Position("p1")); err != nil {
		t.Fatal(err)
	}
	write(t, k, "2")
	if err := k.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if sc := readSide(t, side); sc.RunID != "r/2" || string(sc.Position) != "p1" || sc.Size != 10 {
		t.Fatalf("sidecar after Close without Commit: %+v", sc)
	}
	st, err := NewStore(root)
	if err != nil {
		t.Fatal(err)
	}
	if list, err := st.List(ctx, "sub"); err != nil || len(list) != 1 || list[0].Path != "sub/out.ndjson" {
		t.Fatalf("List %+v %v", list, err)
	}
	st.Close()

	k = openAppendRun(t, e, schemaOf("a"), "r/2")
	if saved, _ := k.SavedPosition(ctx); string(saved) != "p1" {
		t.Fatalf("SavedPosition %q", saved)
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	k.Close(ctx)
	if _, err := os.Stat(side); !os.IsNotExist(err) {
		t.Fatalf("sidecar after Commit: %v", err)
	}

	// A sidecar that escapes the root through a symbolic link is not followed.
	outside := filepath.Join(base, "outside.json")
	if err := os.WriteFile(outside, []byte(`{"size":0,"position":null,"run_id":"r3"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "sub", ".out.ndjson.datahub-pos-r3")); err != nil {
		t.Fatal(err)
	}
	k2, err := connector.NewSink(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	_, err = k2.Open(ctx, schemaOf("a"), connector.SinkOptions{Mode: connector.ModeAppend, RunID: "r3"})
	k2.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "escapes") {
		t.Fatalf("sidecar through a link out of the root: %v", err)
	}

	// No run id, or replace mode: no sidecar, no position.
	for _, opts := range []connector.SinkOptions{{Mode: connector.ModeAppend}, {Mode: connector.ModeReplace, RunID: "r4"}} {
		dir := t.TempDir()
		k := newSink(t, connector.Endpoint{URL: filepath.Join(dir, "x.ndjson")})
		if _, err := k.Open(ctx, schemaOf("a"), opts); err != nil {
			t.Fatal(err)
		}
		write(t, k, "1")
		if err := k.Flush(ctx, connector.Position("p")); err != nil {
			t.Fatal(err)
		}
		if saved, _ := k.(connector.PositionStore).SavedPosition(ctx); saved != nil {
			t.Errorf("%+v: SavedPosition %q", opts, saved)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 && opts.Mode == connector.ModeAppend {
			t.Errorf("%+v: files %v", opts, ents)
		}
		if err := k.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Errorf("%+v: files after Commit %v", opts, ents)
		}
	}
}
