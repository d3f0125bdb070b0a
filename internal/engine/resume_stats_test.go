package engine

import (
	"context"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/runstatus"
)

// TestResumeFromSavedPositionCounts: the transaction log holds an older checkpoint than the
// destination (the store was cut while the run went on committing). The resume starts from
// the destination's position, and its totals and its own part come from the counters saved
// with that position, not from the log's older ones.
func TestResumeFromSavedPositionCounts(t *testing.T) {
	seed("mem:rs-src", 1000, func(int) any { return "x" })
	dst := table("mem:rs-dst")
	dst.committed, dst.saved = nil, nil
	dst.failAt = 650
	var logged []connector.Position
	opts := Options{RunID: "rs", Source: connector.Endpoint{URL: "mem:rs-src", BatchSize: 50},
		Dest: connector.Endpoint{URL: "mem:rs-dst"}, CheckpointRows: 200, Retries: -1, NoFastPath: true,
		OnCheckpoint: func(_ context.Context, pos connector.Position, _ Stats) error {
			logged = append(logged, pos)
			return nil
		}}
	res := New(opts).Run(context.Background())
	if res.Status != runstatus.Failed || len(logged) != 3 {
		t.Fatalf("first start: %s with %d checkpoints", res.Status, len(logged))
	}
	older, _ := CheckpointStats(logged[0])
	dst.failAt = 0
	opts.Resume, opts.Position, opts.Initial, opts.OnCheckpoint = true, logged[0], older, nil
	res = New(opts).Run(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if n := committedIDs(t, dst); n != 1000 || res.RowsWritten != 1000 || res.RowsRead != 1000 {
		t.Fatalf("resumed: read %d written %d, the table holds %d", res.RowsRead, res.RowsWritten, n)
	}
	if res.Part.RowsWritten != 400 || res.Part.RowsRead != 400 {
		t.Fatalf("resumed part %+v: want the 400 rows after the destination's position (600), not after the log's (%d)", res.Part, older.RowsWritten)
	}
}
