package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/runstatus"
)

// committedIDs checks that a table holds no id twice and returns how many rows it holds.
func committedIDs(t *testing.T, tb *memTable) int64 {
	t.Helper()
	seen := map[int64]bool{}
	for _, r := range tb.committed {
		id := r[0].(int64)
		if seen[id] {
			t.Fatalf("id %d committed twice", id)
		}
		seen[id] = true
	}
	return int64(len(seen))
}

// TestFailedRunCountsWhatWasCommitted: a run that fails for good after three checkpoints
// reports the rows its commits made durable, not those it had written since; resumed, it
// reports the run's totals and its own part.
func TestFailedRunCountsWhatWasCommitted(t *testing.T) {
	seed("mem:st-src1", 1000, func(int) any { return "x" })
	dst := table("mem:st-dst1")
	dst.committed, dst.saved = nil, nil
	dst.failAt = 650
	opts := Options{RunID: "st1", Source: connector.Endpoint{URL: "mem:st-src1", BatchSize: 50},
		Dest: connector.Endpoint{URL: "mem:st-dst1"}, CheckpointRows: 200, Retries: -1, NoFastPath: true}
	res := New(opts).Run(context.Background())
	if res.Status != runstatus.Failed {
		t.Fatalf("status %s, want failed", res.Status)
	}
	if n := committedIDs(t, dst); res.RowsWritten != n || res.RowsRead != n || n != 600 {
		t.Fatalf("failed run: read %d written %d, the table holds %d", res.RowsRead, res.RowsWritten, n)
	}
	if got, ok := CheckpointStats(res.Position); !ok || got != res.Stats {
		t.Fatalf("checkpoint carries %+v (%v), the run reports %+v", got, ok, res.Stats)
	}

	// The resume is told stale counters (as a transaction log of an older version would):
	// those recorded with the position win.
	opts.Resume, opts.Position, opts.Initial = true, res.Position, Stats{RowsRead: 9999, RowsWritten: 9999}
	res = New(opts).Run(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if n := committedIDs(t, dst); n != 1000 || res.RowsWritten != 1000 || res.RowsRead != 1000 {
		t.Fatalf("resumed: read %d written %d, the table holds %d", res.RowsRead, res.RowsWritten, n)
	}
	if !res.Resumed || res.Part.RowsWritten != 400 || res.Part.RowsRead != 400 {
		t.Fatalf("resumed part %+v (resumed %v), want 400 rows", res.Part, res.Resumed)
	}
}

// TestLostCommitCountedOnce: commits whose acknowledgement is lost (the server committed, the
// connection dropped) are retried from the position the destination saved, with the counters
// saved with it: nothing is counted twice.
func TestLostCommitCountedOnce(t *testing.T) {
	seed("mem:st-src2", 1000, func(int) any { return "x" })
	dst := table("mem:st-dst2")
	dst.committed, dst.saved = nil, nil
	dst.lostCommits = 2
	var recorded []Stats
	res := New(Options{RunID: "st2", Source: connector.Endpoint{URL: "mem:st-src2", BatchSize: 50},
		Dest: connector.Endpoint{URL: "mem:st-dst2"}, CheckpointRows: 200, RetryBase: 1, NoFastPath: true,
		OnCheckpoint: func(_ context.Context, _ connector.Position, s Stats) error {
			recorded = append(recorded, s)
			return nil
		},
	}).Run(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if n := committedIDs(t, dst); n != 1000 || res.RowsWritten != 1000 || res.RowsRead != 1000 || res.Attempts != 3 {
		t.Fatalf("read %d written %d in %d attempts, the table holds %d", res.RowsRead, res.RowsWritten, res.Attempts, n)
	}
	for i := 1; i < len(recorded); i++ {
		if recorded[i].RowsWritten <= recorded[i-1].RowsWritten {
			t.Fatalf("checkpoint counters went back: %+v", recorded)
		}
	}
}

// TestRetryRewindsRejects: a retry from the checkpoint quarantines the records it reads again
// once, and the count is the rejects file's line count.
func TestRetryRewindsRejects(t *testing.T) {
	seed("mem:st-src3", 1000, func(i int) any {
		if i%10 == 3 {
			return "bad"
		}
		return "7"
	})
	dst := table("mem:st-dst3")
	dst.committed, dst.saved = nil, nil
	dst.schema = connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}, {Name: "v", Type: connector.TypeInt64}}}
	dst.failAt = 500
	rej := &FileRejects{Dir: t.TempDir(), RunID: "st3"}
	res := New(Options{RunID: "st3", Source: connector.Endpoint{URL: "mem:st-src3", BatchSize: 50},
		Dest: connector.Endpoint{URL: "mem:st-dst3"}, CheckpointRows: 200, RetryBase: 1, NoFastPath: true, Rejects: rej,
	}).Run(context.Background())
	if err := rej.Close(); err != nil {
		t.Fatal(err)
	}
	if res.Err != nil || res.Attempts != 2 {
		t.Fatalf("attempts %d: %v", res.Attempts, res.Err)
	}
	records := rejectRecords(t, filepath.Join(rej.Dir, "rejects.ndjson"))
	if res.RowsRejected != 100 || int64(len(records)) != 100 || res.RowsWritten != 900 {
		t.Fatalf("rejected %d, the file has %d lines, written %d", res.RowsRejected, len(records), res.RowsWritten)
	}
	for rec, n := range records {
		if n != 1 {
			t.Fatalf("record %d quarantined %d times", rec, n)
		}
	}
}

// rejectRecords reads a rejects file, checking every line is whole, and counts the lines of
// each record number.
func rejectRecords(t *testing.T, path string) map[int64]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Fatalf("rejects file ends in a partial line: %q", b[max(0, len(b)-40):])
	}
	out := map[int64]int{}
	for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r connector.Reject
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out[r.Record]++
	}
	return out
}

// fullDisk is a file on a disk with room for limit bytes: a write past it stores what fits and
// fails with ENOSPC.
type fullDisk struct {
	*os.File
	limit int64
}

func (d *fullDisk) WriteAt(p []byte, off int64) (int, error) {
	room := max(d.limit-off, 0)
	if int64(len(p)) <= room {
		return d.File.WriteAt(p, off)
	}
	if _, err := d.File.WriteAt(p[:room], off); err != nil {
		return 0, err
	}
	// As tmpfs does: part of the write is kept, yet none is reported.
	return 0, &fs.PathError{Op: "write", Path: d.Name(), Err: syscall.ENOSPC}
}

// TestRejectsOnFullDisk: when the disk fills up, the rejects file keeps whole lines only, the
// count is its line count, and the error says the disk is full and where.
func TestRejectsOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	rej := &FileRejects{Dir: dir, RunID: "full", openFile: func(name string, flag int, perm fs.FileMode) (rejectFile, error) {
		f, err := os.OpenFile(name, flag, perm)
		if err != nil {
			return nil, err
		}
		return &fullDisk{File: f, limit: 1000}, nil
	}}
	ctx := context.Background()
	var err error
	for i := int64(1); err == nil && i < 1000; i++ {
		err = rej.Reject(ctx, "convert", connector.Reject{Record: i, Reason: "not a number", Value: strings.Repeat("v", 30)})
	}
	if connector.CodeOf(err) != connector.CodeDiskFull || !strings.Contains(err.Error(), "rejects.ndjson") ||
		!strings.Contains(err.Error(), "no space left") {
		t.Fatalf("code %s: %v", connector.CodeOf(err), err)
	}
	if err := rej.Close(); err != nil {
		t.Fatal(err)
	}
	records := rejectRecords(t, filepath.Join(dir, "rejects.ndjson"))
	if int64(len(records)) != rej.Count() || rej.Count() == 0 {
		t.Fatalf("count %d, the file holds %d whole lines", rej.Count(), len(records))
	}

	// Through the engine: the run fails with the disk-full error, counting the stored rejects.
	seed("mem:st-src4", 100, func(int) any { return "bad" })
	dst := table("mem:st-dst4")
	dst.schema = connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}, {Name: "v", Type: connector.TypeInt64}}}
	rej2 := &FileRejects{Dir: t.TempDir(), RunID: "full2", openFile: rej.openFile}
	res := New(Options{RunID: "full2", Source: connector.Endpoint{URL: "mem:st-src4"}, Dest: connector.Endpoint{URL: "mem:st-dst4"},
		Rejects: rej2, NoFastPath: true}).Run(ctx)
	_ = rej2.Close()
	if res.Status != runstatus.Failed || connector.CodeOf(res.Err) != connector.CodeDiskFull || res.RowsRejected != rej2.Count() {
		t.Fatalf("status %s, code %s, rejected %d, file %d: %v", res.Status, connector.CodeOf(res.Err), res.RowsRejected, rej2.Count(), res.Err)
	}
}

// TestRewindDropsHalfLine: a resumed run's rejects file loses what came after the checkpoint,
// including a line a killed process left half-written.
func TestRewindDropsHalfLine(t *testing.T) {
	dir := t.TempDir()
	var lines []string
	for i := 1; i <= 5; i++ {
		lines = append(lines, `{"record":`+string(rune('0'+i))+`,"reason":"x"}`+"\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "rejects.ndjson"), []byte(strings.Join(lines, "")+`{"record":6,"rea`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ keep, want int64 }{{9, 5}, {5, 5}, {3, 3}, {0, 0}}
	for _, tc := range tests {
		rej := &FileRejects{Dir: dir, RunID: "rw"}
		got, err := rej.Rewind(context.Background(), tc.keep)
		if err != nil || got != tc.want {
			t.Fatalf("Rewind(%d) = %d, %v; want %d", tc.keep, got, err, tc.want)
		}
		_ = rej.Close()
		if recs := rejectRecords(t, filepath.Join(dir, "rejects.ndjson")); int64(len(recs)) != tc.want {
			t.Fatalf("Rewind(%d) left %d lines", tc.keep, len(recs))
		}
	}
}

// TestReplaceAllowsNoRejectsByDefault: a replace with a rejected record keeps the old content
// and fails, unless a limit allows the rejects.
func TestReplaceAllowsNoRejectsByDefault(t *testing.T) {
	intSchema := connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}, {Name: "v", Type: connector.TypeInt64}}}
	old := [][]any{{int64(1), int64(1)}, {int64(2), int64(2)}}
	tests := []struct {
		name   string
		mode   connector.WriteMode
		limit  *int64
		status runstatus.Status
	}{
		{"replace default", connector.ModeReplace, nil, runstatus.Failed},
		{"replace limit 0", connector.ModeReplace, Limit(0), runstatus.Failed},
		{"replace limit too low", connector.ModeReplace, Limit(4), runstatus.Failed},
		{"replace limit allows", connector.ModeReplace, Limit(5), runstatus.Partial},
		{"append default", connector.ModeAppend, nil, runstatus.Partial},
		{"append limit 0", connector.ModeAppend, Limit(0), runstatus.Failed},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, dstName := "mem:st-rsrc"+string(rune('a'+i)), "mem:st-rdst"+string(rune('a'+i))
			seed(src, 10, func(i int) any {
				if i%2 == 0 {
					return "bad"
				}
				return "1"
			})
			dst := table(dstName)
			dst.schema, dst.committed = intSchema, append([][]any(nil), old...)
			res := New(Options{RunID: "rk", Source: connector.Endpoint{URL: src}, Dest: connector.Endpoint{URL: dstName},
				Mode: tc.mode, MaxRejects: tc.limit, NoFastPath: true}).Run(context.Background())
			if res.Status != tc.status {
				t.Fatalf("status %s, want %s: %v", res.Status, tc.status, res.Err)
			}
			if tc.status == runstatus.Failed {
				if connector.CodeOf(res.Err) != connector.CodeData || res.RowsWritten != 0 {
					t.Fatalf("code %s, written %d: %v", connector.CodeOf(res.Err), res.RowsWritten, res.Err)
				}
				if tc.mode == connector.ModeReplace && len(dst.committed) != len(old) {
					t.Fatalf("the failed replace changed the target: %v", dst.committed)
				}
			}
			if tc.name == "replace default" && !strings.Contains(res.Err.Error(), "replace kept the old content") {
				t.Errorf("error does not say the old content was kept: %v", res.Err)
			}
		})
	}
}

func TestCheckpointEncoding(t *testing.T) {
	s := Stats{RowsRead: 2_000_000, RowsWritten: 1, RowsRejected: 0, BytesRead: -1, BytesWritten: 1 << 40}
	for _, pos := range []connector.Position{{}, connector.Position("off=12"), connector.Position(checkpointMagic)} {
		p, got, ok := decodeCheckpoint(encodeCheckpoint(pos, s))
		if !ok || got != s || !bytes.Equal(p, pos) {
			t.Fatalf("%q: got %q %+v %v", pos, p, got, ok)
		}
	}
	if p, _, ok := decodeCheckpoint(connector.Position("42")); ok || string(p) != "42" {
		t.Fatalf("a bare position decoded as a checkpoint: %q %v", p, ok)
	}
	if encodeCheckpoint(nil, s) != nil {
		t.Fatal("no position, yet a checkpoint")
	}
}
