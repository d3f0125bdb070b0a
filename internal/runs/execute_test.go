package runs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/engine"
	"github.com/datahub-oss/datahub/internal/event"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/transform"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// recordedEvents keeps what was published, in order.
type recordedEvents struct {
	mu     sync.Mutex
	events []event.Event
}

func (r *recordedEvents) Publish(_ context.Context, e event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

func (r *recordedEvents) types() []event.Type {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event.Type
	for _, e := range r.events {
		out = append(out, e.Type)
	}
	return out
}

// startedRun records a running run in a fresh transaction log in data, as copy and the worker
// do before they execute it.
func startedRun(t *testing.T, data, src, dst string) (*txlog.Log, txlog.Run) {
	t.Helper()
	ctx := context.Background()
	tl, err := txlog.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tl.Close() })
	run := txlog.Run{ID: txlog.NewID(), Kind: "integration", Integration: "orders", Env: "DEV", Source: src, Destination: dst,
		Mode: string(connector.ModeAppend), Status: runstatus.Running, StartedAt: time.Now()}
	if err := tl.Start(ctx, &run); err != nil {
		t.Fatal(err)
	}
	return tl, run
}

func TestExecuteRecordsAndAnnounces(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	in, out, data := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.ndjson"), filepath.Join(dir, "data")
	// Line 4 lacks its amount: one reject.
	if err := os.WriteFile(in, []byte("id,name,amount\n1,a,1.5\n2,b,2\n3,c\n4,d,4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mapping, err := transform.ParseArgs([]string{"id::int64,amount::decimal"})
	if err != nil {
		t.Fatal(err)
	}
	tl, run := startedRun(t, data, in, out)
	pub := &recordedEvents{}
	watched, stopped := false, false
	got, res, err := Execute(ctx, Exec{
		Recorder: Recorder{Log: tl, Events: pub},
		Run:      run, DataDir: data,
		Engine: engine.Options{Source: connector.Endpoint{URL: in}, Dest: connector.Endpoint{URL: out},
			Mode: connector.ModeAppend, Mapping: mapping},
		Watch: func(eng *engine.Engine) func() {
			watched = eng != nil
			return func() { stopped = true }
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !watched || !stopped {
		t.Errorf("watch started %v, stopped %v", watched, stopped)
	}
	if res.Status != runstatus.Partial || got.Status != runstatus.Partial || got.RowsRead != 4 || got.RowsWritten != 3 || got.RowsRejected != 1 {
		t.Fatalf("result %s, run %+v", res.Status, got)
	}
	wantRejects := filepath.Join(data, "rejects", run.ID)
	if got.RejectsPath != wantRejects {
		t.Errorf("rejects path %q, want %q", got.RejectsPath, wantRejects)
	}
	if rej, err := os.ReadFile(filepath.Join(wantRejects, "rejects.ndjson")); err != nil || !strings.Contains(string(rej), `"line":4`) {
		t.Errorf("rejects file: %s (%v)", rej, err)
	}
	stored, err := tl.Get(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != runstatus.Partial || stored.FinishedAt == nil || stored.Stats != got.Stats || stored.RejectsPath != wantRejects || stored.Attempts != 1 {
		t.Errorf("stored run %+v", stored)
	}
	if types := pub.types(); !slices.Equal(types, []event.Type{event.RunStarted, event.RunPartial}) {
		t.Fatalf("events %v", types)
	}
	if final := pub.events[1]; final.RunID != run.ID || final.Stats == nil || final.Stats.RowsRejected != 1 || final.Integration != "orders" {
		t.Errorf("final event %+v", final)
	}
}

func TestExecuteConnectionFailed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	// Nothing listens on port 1: the source cannot be reached.
	src := "postgres://app@127.0.0.1:1/crm?table=people"
	tl, run := startedRun(t, data, src, filepath.Join(dir, "out.csv"))
	pub := &recordedEvents{}
	got, res, err := Execute(ctx, Exec{
		Recorder: Recorder{Log: tl, Events: pub},
		Run:      run, DataDir: data,
		Engine: engine.Options{Source: connector.Endpoint{URL: src}, Dest: connector.Endpoint{URL: filepath.Join(dir, "out.csv")},
			Mode: connector.ModeAppend, Retries: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != runstatus.Failed || got.ErrorCode != string(connector.CodeUnreachable) || got.Error == "" {
		t.Fatalf("run %+v", got)
	}
	if types := pub.types(); !slices.Equal(types, []event.Type{event.RunStarted, event.RunFailed, event.ConnectionFailed}) {
		t.Fatalf("events %v", types)
	}
	stored, err := tl.Get(ctx, run.ID)
	if err != nil || stored.Status != runstatus.Failed || stored.ErrorCode != got.ErrorCode {
		t.Fatalf("stored run %+v (%v)", stored, err)
	}
}

func TestExecuteInterruptedLeavesTheRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	in, data := filepath.Join(dir, "in.csv"), filepath.Join(dir, "data")
	if err := os.WriteFile(in, []byte("id\n1\n2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tl, run := startedRun(t, data, in, filepath.Join(dir, "out.csv"))
	pub := &recordedEvents{}
	stopping := errors.New("stopping")
	_, _, err := Execute(ctx, Exec{
		Recorder: Recorder{Log: tl, Events: pub},
		Run:      run, DataDir: data,
		Engine:      engine.Options{Source: connector.Endpoint{URL: in}, Dest: connector.Endpoint{URL: filepath.Join(dir, "out.csv")}, Mode: connector.ModeAppend},
		Interrupted: func() error { return stopping },
	})
	if !errors.Is(err, stopping) {
		t.Fatalf("err %v, want the interruption", err)
	}
	stored, err := tl.Get(ctx, run.ID)
	if err != nil || stored.Status != runstatus.Running || stored.FinishedAt != nil {
		t.Fatalf("an interrupted run was recorded: %+v (%v)", stored, err)
	}
	if types := pub.types(); !slices.Equal(types, []event.Type{event.RunStarted}) {
		t.Fatalf("events %v", types)
	}
}

func TestRecorderFinishEnded(t *testing.T) {
	ctx := context.Background()
	tl, run := startedRun(t, t.TempDir(), "s", "d")
	pub := &recordedEvents{}
	refused := errors.New("policy: permission denied")
	if err := (Recorder{Log: tl, Events: pub}).Finish(ctx, &run, Ended(runstatus.Failed, refused), ""); err != nil {
		t.Fatal(err)
	}
	stored, err := tl.Get(ctx, run.ID)
	if err != nil || stored.Status != runstatus.Failed || stored.Error != refused.Error() || stored.FinishedAt == nil {
		t.Fatalf("stored run %+v (%v)", stored, err)
	}
	if types := pub.types(); !slices.Equal(types, []event.Type{event.RunFailed}) {
		t.Fatalf("events %v", types)
	}
	// A cancelled run is announced by no event.
	tl2, run2 := startedRun(t, t.TempDir(), "s", "d")
	pub2 := &recordedEvents{}
	if err := (Recorder{Log: tl2, Events: pub2}).Finish(ctx, &run2, Ended(runstatus.Canceled, nil), ""); err != nil {
		t.Fatal(err)
	}
	if types := pub2.types(); len(types) != 0 {
		t.Fatalf("events of a cancelled run %v", types)
	}
}
