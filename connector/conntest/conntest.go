// Package conntest is the conformance suite every connector's tests run against its real
// server: write, read back every type, resume from a position, upsert twice equals once,
// replace atomically, reject bad rows while keeping the good ones, cancel mid-stream, close
// twice; and the acknowledgement contract (see the connector package): a batch is acked only
// once a fresh reader finds it in the target, nacked when the run fails first, and read again
// by a run resumed after a crash between a write and its flush; a source's acks and nacks are
// harmless and a source resumes after its last acked batch.
//
// A connector that only reads (Harness.NoSink) either gives Seed, to put the suite's rows in
// a target by other means, and runs every source case; or, without Seed, runs the cases that
// apply against records its harness provides: values of the right Go types, the same records
// on a second read, resume, acks, cancel, close twice. A connector that only writes
// (Harness.NoSource) gives ReadBack and runs every sink case, the acknowledgement cases
// included.
package conntest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// Harness tells the suite how to reach fresh targets of the connector under test.
type Harness struct {
	// NewEndpoint returns an endpoint for a target (table or file) that does not exist yet,
	// unique to the test named name (use t.Name()-derived names; clean up with t.Cleanup).
	// For a connector that only reads (NoSink) and gives no Seed, it returns an existing
	// source instead: at least 200 records that read the same, in the same order, every time.
	NewEndpoint func(t *testing.T, name string) connector.Endpoint
	// Types lists the logical types the connector stores and reads back exactly; nil means all.
	Types []connector.Type
	// Modes lists the write modes the sink supports; nil means append, replace and upsert.
	Modes []connector.WriteMode
	// NoSink / NoSource: the connector only reads / only writes.
	NoSink, NoSource bool
	// NoConstraints: the target cannot refuse a row (files), so the reject test is skipped.
	NoConstraints bool
	// NoResume: the source returns nil positions.
	NoResume bool
	// Seed puts rows of schema s in e's target, for a connector the suite cannot write
	// (NoSink). Nil with NoSink means the source's content is its own (a generator, a
	// fixture): see NewEndpoint.
	Seed func(t *testing.T, e connector.Endpoint, s connector.Schema, rows [][]any)
	// ReadBack returns the schema and rows in e's target, for a connector the suite cannot
	// read (NoSource). Required with NoSource.
	ReadBack func(t *testing.T, e connector.Endpoint) (connector.Schema, [][]any)
}

// canWrite: the suite can put chosen rows in a target.
func (h Harness) canWrite() bool { return !h.NoSink || h.Seed != nil }

// write puts rows in e's target: through the sink, or Seed for a read-only connector.
func (h Harness) write(t *testing.T, e connector.Endpoint, s connector.Schema, mode connector.WriteMode, rows [][]any, batch int) {
	t.Helper()
	if h.NoSink {
		h.Seed(t, e, s, rows)
		return
	}
	Write(t, e, s, mode, rows, batch)
}

// read returns what e's target holds: through the source, or ReadBack for a write-only one.
func (h Harness) read(t *testing.T, e connector.Endpoint) (connector.Schema, [][]any) {
	t.Helper()
	if h.NoSource {
		return h.ReadBack(t, e)
	}
	s, rows, _ := Read(t, e, nil)
	return s, rows
}

// Run runs the whole suite as subtests.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.NewEndpoint == nil {
		t.Fatal("conntest: Harness.NewEndpoint is required")
	}
	if h.Types == nil {
		h.Types = connector.AllTypes
	}
	if h.Modes == nil {
		h.Modes = []connector.WriteMode{connector.ModeAppend, connector.ModeReplace, connector.ModeUpsert}
	}
	if h.NoSink && h.NoSource {
		t.Fatal("conntest: a connector must read or write")
	}
	if h.NoSink && h.Seed == nil {
		runSource(t, h)
		return
	}
	if h.NoSource && h.ReadBack == nil {
		t.Fatal("conntest: Harness.ReadBack is required for a write-only connector")
	}
	// From here the suite can both put rows in a target and read them back.
	source, sink := !h.NoSource, !h.NoSink
	t.Run("WriteRead", func(t *testing.T) { testWriteRead(t, h) })
	if source {
		t.Run("MissingSource", func(t *testing.T) { testMissingSource(t, h) })
	}
	if source && !h.NoResume {
		t.Run("Resume", func(t *testing.T) { testResume(t, h) })
	}
	if source {
		t.Run("SourceAcks", func(t *testing.T) { testSourceAcks(t, h) })
	}
	if sink && slices.Contains(h.Modes, connector.ModeUpsert) {
		t.Run("UpsertTwice", func(t *testing.T) { testUpsertTwice(t, h) })
	}
	if sink && slices.Contains(h.Modes, connector.ModeReplace) {
		t.Run("Replace", func(t *testing.T) { testReplace(t, h) })
	}
	if sink && !h.NoConstraints {
		t.Run("RejectBadRow", func(t *testing.T) { testReject(t, h) })
	}
	if sink {
		t.Run("AcksAfterDurable", func(t *testing.T) { testAcksAfterDurable(t, h) })
		t.Run("NackOnFailure", func(t *testing.T) { testNackOnFailure(t, h) })
		t.Run("CrashBeforeFlush", func(t *testing.T) { testCrashResume(t, h) })
	}
	if source {
		t.Run("Cancel", func(t *testing.T) { testCancel(t, h) })
	}
	t.Run("CloseTwice", func(t *testing.T) { testCloseTwice(t, h) })
}

// Schema is the suite's test schema: an int64 key "id" and one nullable column per type.
func Schema(types []connector.Type) connector.Schema {
	s := connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}}, Key: []string{"id"}}
	for _, ty := range types {
		c := connector.Column{Name: "c_" + ty.String(), Type: ty, Nullable: true}
		if ty == connector.TypeDecimal {
			c.Precision, c.Scale = 20, 6
		}
		s.Columns = append(s.Columns, c)
	}
	return s
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// sample returns the i-th sample value of a type; index 0 is always NULL.
func sample(ty connector.Type, i int) any {
	if i%7 == 0 {
		return nil
	}
	switch ty {
	case connector.TypeInt64:
		return []int64{0, -1, 1 << 62, -(1 << 62), 42, 7}[i%6]
	case connector.TypeFloat64:
		return []float64{1.5, -0.25, 1e300, 3.141592653589793, 0, 5e-324}[i%6]
	case connector.TypeDecimal:
		return connector.Decimal([]string{"0", "-0.01", "99999999.999999", "123456789.123456", "12.5", "-99999999999999.999999"}[i%6])
	case connector.TypeString:
		return []string{"plain", "comma, \"quote\" \ttab\nnewline\r\ncrlf \\back\\slash", "ünïcødé ✓ 日本 🚀", "", " padded ", "N'a'"}[i%6]
	case connector.TypeBool:
		return i%2 == 0
	case connector.TypeDate:
		return []time.Time{
			time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(2999, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC),
		}[i%4]
	case connector.TypeTimestamp:
		return []time.Time{
			time.Date(2024, 3, 1, 10, 0, 0, 123456000, time.UTC), time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
			time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC),
		}[i%3]
	case connector.TypeTimestampTZ:
		return []time.Time{
			time.Date(2038, 1, 19, 3, 14, 8, 500000000, time.UTC),
			time.Date(1999, 12, 31, 23, 0, 0, 0, time.FixedZone("", 2*3600)),
			time.Date(2024, 2, 29, 12, 0, 0, 1000, time.FixedZone("", -5*3600)),
		}[i%3]
	case connector.TypeBytes:
		if i%2 == 0 {
			all := make([]byte, 256)
			for k := range all {
				all[k] = byte(k)
			}
			return all
		}
		return []byte{0, 1, 2, 0xff}
	case connector.TypeJSON:
		return json.RawMessage([]string{`{"a":1,"b":[true,null,"x"]}`, `[1,2.5,"é"]`, `"text"`, `123`}[i%4])
	case connector.TypeUUID:
		return must(connector.ParseUUID([]string{"6ba7b810-9dad-11d1-80b4-00c04fd430c8", "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-4fff-bfff-ffffffffffff"}[i%3]))
	}
	panic("conntest: no sample for " + ty.String())
}

// Rows builds n rows of the test schema with ids from first.
func Rows(s connector.Schema, first, n int) [][]any {
	rows := make([][]any, n)
	for i := range rows {
		id := first + i
		row := make([]any, len(s.Columns))
		row[0] = int64(id)
		for c, col := range s.Columns[1:] {
			row[c+1] = sample(col.Type, id+c)
		}
		rows[i] = row
	}
	return rows
}

// Write opens a sink on e, writes rows in batches of batch in mode and commits.
func Write(t *testing.T, e connector.Endpoint, s connector.Schema, mode connector.WriteMode, rows [][]any, batch int) {
	t.Helper()
	ctx := context.Background()
	sink, err := connector.NewSink(ctx, e)
	if err != nil {
		t.Fatalf("new sink %s: %v", e.Redacted(), err)
	}
	defer func() { _ = sink.Close(ctx) }()
	target, err := sink.Open(ctx, s, connector.SinkOptions{Mode: mode, Key: s.Key, RunID: "conntest"})
	if err != nil {
		t.Fatalf("open sink %s (%s): %v", e.Redacted(), mode, err)
	}
	if len(target.Columns) != len(s.Columns) {
		t.Fatalf("sink Open returned %d columns, want %d (same order as given)", len(target.Columns), len(s.Columns))
	}
	for i := 0; i < len(rows); i += batch {
		end := min(i+batch, len(rows))
		b := &connector.Batch{Rows: conform(t, rows[i:end], s, target)}
		if err := sink.Write(ctx, b); err != nil {
			t.Fatalf("write rows %d..%d: %v", i, end, err)
		}
	}
	if err := sink.Flush(ctx, nil); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if err := sink.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	if err := sink.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// conform converts rows to the target's types, as the engine does before Sink.Write.
func conform(t *testing.T, rows [][]any, s, target connector.Schema) [][]any {
	t.Helper()
	out := make([][]any, len(rows))
	for r, row := range rows {
		o := make([]any, len(row))
		for c, v := range row {
			tc := target.Columns[c]
			tc.Nullable = true // the reject test needs NULLs to reach the sink
			cv, err := connector.Convert(v, s.Columns[c].Type, tc)
			if err != nil {
				t.Fatalf("row %d column %s: the target's type %s cannot take the sample %v: %v", r, s.Columns[c].Name, target.Columns[c].Describe(), v, err)
			}
			o[c] = cv
		}
		out[r] = o
	}
	return out
}

// Read opens a source on e at pos and reads everything, returning its schema, the rows and
// the last batch's position.
func Read(t *testing.T, e connector.Endpoint, pos connector.Position) (connector.Schema, [][]any, connector.Position) {
	t.Helper()
	ctx := context.Background()
	src, err := connector.NewSource(ctx, e)
	if err != nil {
		t.Fatalf("new source %s: %v", e.Redacted(), err)
	}
	defer func() { _ = src.Close(ctx) }()
	if err := src.Open(ctx, pos); err != nil {
		t.Fatalf("open source %s: %v", e.Redacted(), err)
	}
	s, err := src.Schema(ctx)
	if err != nil {
		t.Fatalf("schema: %v", err)
	}
	var rows [][]any
	var last connector.Position
	for {
		b, ack, err := src.Read(ctx)
		if errors.Is(err, connector.ErrEndOfInput) {
			break
		}
		if err != nil {
			t.Fatalf("read after %d rows: %v", len(rows), err)
		}
		if len(b.Rejects) > 0 {
			t.Fatalf("source rejected %d records; first: %+v", len(b.Rejects), b.Rejects[0])
		}
		rows = append(rows, b.Rows...)
		if b.Pos != nil {
			last = b.Pos
		}
		if ack != nil {
			if err := ack(ctx, nil); err != nil {
				t.Fatalf("ack: %v", err)
			}
		}
	}
	return s, rows, last
}

// Check compares rows read back (in the read schema) with the rows written (in want's
// schema), matching by id, converting each read value to the written column's type.
func Check(t *testing.T, want connector.Schema, wantRows [][]any, got connector.Schema, gotRows [][]any) {
	t.Helper()
	if len(gotRows) != len(wantRows) {
		t.Errorf("read %d rows, wrote %d", len(gotRows), len(wantRows))
	}
	idx := make([]int, len(want.Columns))
	for i, c := range want.Columns {
		idx[i] = got.Index(c.Name)
		if idx[i] < 0 {
			t.Fatalf("column %q written but not read back (read columns: %v)", c.Name, got.Names())
		}
	}
	byID := map[int64][]any{}
	for _, r := range gotRows {
		id, err := connector.Convert(r[idx[0]], got.Columns[idx[0]].Type, want.Columns[0])
		if err != nil {
			t.Fatalf("id %v: %v", r[idx[0]], err)
		}
		if _, dup := byID[id.(int64)]; dup {
			t.Errorf("id %d read twice", id)
		}
		byID[id.(int64)] = r
	}
	for _, w := range wantRows {
		id := w[0].(int64)
		g, ok := byID[id]
		if !ok {
			t.Errorf("id %d written but not read back", id)
			continue
		}
		for c, col := range want.Columns {
			gc := got.Columns[idx[c]]
			v, err := connector.Convert(g[idx[c]], gc.Type, connector.Column{Name: col.Name, Type: col.Type, Nullable: true})
			if err != nil {
				t.Errorf("id %d column %s: read %s value %#v does not convert back to %s: %v", id, col.Name, gc.Type, g[idx[c]], col.Type, err)
				continue
			}
			if !connector.Equal(col.Type, w[c], v) {
				t.Errorf("id %d column %s (%s, read as %s): wrote %#v, read %#v", id, col.Name, col.Type, gc.Describe(), w[c], v)
			}
		}
	}
}

// seedMode is the mode the suite writes its fixtures with: append where the sink has it.
func (h Harness) seedMode() connector.WriteMode {
	if slices.Contains(h.Modes, connector.ModeAppend) {
		return connector.ModeAppend
	}
	return h.Modes[0]
}

func testWriteRead(t *testing.T, h Harness) {
	e := h.NewEndpoint(t, "write_read")
	s := Schema(h.Types)
	rows := Rows(s, 1, 30)
	h.write(t, e, s, h.seedMode(), rows, 7)
	got, gotRows := h.read(t, e)
	Check(t, s, rows, got, gotRows)
}

func testMissingSource(t *testing.T, h Harness) {
	e := h.NewEndpoint(t, "missing")
	ctx := context.Background()
	src, err := connector.NewSource(ctx, e)
	if err == nil {
		defer func() { _ = src.Close(ctx) }()
		err = src.Open(ctx, nil)
		if err == nil {
			_, err = src.Schema(ctx)
		}
		if err == nil {
			_, _, err = src.Read(ctx)
		}
	}
	if err == nil {
		t.Fatal("reading a target that does not exist succeeded")
	}
	if code := connector.CodeOf(err); code != connector.CodeNotFound {
		t.Errorf("reading a missing target: code %q, want %q (error: %v)", code, connector.CodeNotFound, err)
	}
}

func testResume(t *testing.T, h Harness) {
	e := h.NewEndpoint(t, "resume")
	s := Schema([]connector.Type{connector.TypeString})
	rows := Rows(s, 1, 20)
	h.write(t, e, s, h.seedMode(), rows, 20)
	first, pos := readSome(t, e)
	got, rest, _ := Read(t, e, pos)
	Check(t, s, rows, got, append(first, rest...))
}

func testUpsertTwice(t *testing.T, h Harness) {
	e := h.NewEndpoint(t, "upsert")
	s := Schema([]connector.Type{connector.TypeString, connector.TypeInt64})
	rows := Rows(s, 1, 10)
	Write(t, e, s, connector.ModeUpsert, rows, 4)
	changed := Rows(s, 6, 10) // ids 6..15: 5 updates, 5 inserts
	for _, r := range changed {
		r[1] = fmt.Sprintf("changed %d", r[0])
	}
	Write(t, e, s, connector.ModeUpsert, changed, 3)
	Write(t, e, s, connector.ModeUpsert, changed, 10)
	want := append(slices.Clone(rows[:5]), changed...)
	got, gotRows := h.read(t, e)
	Check(t, s, want, got, gotRows)
}

func testReplace(t *testing.T, h Harness) {
	e := h.NewEndpoint(t, "replace")
	s := Schema([]connector.Type{connector.TypeString})
	Write(t, e, s, connector.ModeReplace, Rows(s, 1, 10), 4)
	two := Rows(s, 100, 2)
	Write(t, e, s, connector.ModeReplace, two, 4)
	got, gotRows := h.read(t, e)
	Check(t, s, two, got, gotRows)

	// A replace that is closed without Commit (a failed run) leaves the old content.
	ctx := context.Background()
	sink, err := connector.NewSink(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	target, err := sink.Open(ctx, s, connector.SinkOptions{Mode: connector.ModeReplace, Key: s.Key, RunID: "conntest-abort"})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Write(ctx, &connector.Batch{Rows: conform(t, Rows(s, 500, 3), s, target)}); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got, gotRows = h.read(t, e)
	Check(t, s, two, got, gotRows)
}

func testReject(t *testing.T, h Harness) {
	e := h.NewEndpoint(t, "reject")
	s := connector.Schema{Columns: []connector.Column{
		{Name: "id", Type: connector.TypeInt64},
		{Name: "name", Type: connector.TypeString},
	}, Key: []string{"id"}}
	ctx := context.Background()
	sink, err := connector.NewSink(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sink.Close(ctx) }()
	target, err := sink.Open(ctx, s, connector.SinkOptions{Mode: connector.ModeAppend, Key: s.Key, RunID: "conntest"})
	if err != nil {
		t.Fatal(err)
	}
	if target.Columns[1].Nullable {
		t.Fatalf("column name was created nullable from a NOT NULL schema column")
	}
	rows := [][]any{{int64(1), "a"}, {int64(2), "b"}, {int64(3), nil}, {int64(4), "d"}, {int64(5), "e"}}
	err = sink.Write(ctx, &connector.Batch{Rows: rows})
	var rerrs connector.RecordErrors
	if !errors.As(err, &rerrs) {
		t.Fatalf("write of a batch with a NULL in a NOT NULL column: got %v, want RecordErrors", err)
	}
	if len(rerrs) != 1 || rerrs[0].Index != 2 {
		t.Fatalf("record errors %v, want one for row index 2", rerrs)
	}
	if err := sink.Flush(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := sink.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	_ = sink.Close(ctx)
	got, gotRows := h.read(t, e)
	Check(t, s, [][]any{rows[0], rows[1], rows[3], rows[4]}, got, gotRows)
}

func testCancel(t *testing.T, h Harness) {
	e := h.NewEndpoint(t, "cancel")
	s := Schema([]connector.Type{connector.TypeString})
	h.write(t, e, s, h.seedMode(), Rows(s, 1, 200), 200)
	cancelMidStream(t, e)
}

// cancelMidStream reads one batch of e in batches of 5, cancels, and expects the next reads
// to stop with context.Canceled within 10 seconds.
func cancelMidStream(t *testing.T, e connector.Endpoint) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.BatchSize = 5
	src, err := connector.NewSource(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = src.Close(context.Background()) }()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.Read(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan error, 1)
	go func() {
		for {
			_, _, err := src.Read(ctx)
			if err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read after cancel: %v, want an error wrapping context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("read did not stop within 10s of cancellation")
	}
}

func testCloseTwice(t *testing.T, h Harness) {
	e := h.NewEndpoint(t, "close_twice")
	ctx := context.Background()
	s := Schema([]connector.Type{connector.TypeString})
	if !h.NoSink {
		sink, err := connector.NewSink(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sink.Open(ctx, s, connector.SinkOptions{Mode: h.seedMode(), Key: s.Key}); err != nil {
			t.Fatal(err)
		}
		if err := sink.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(ctx); err != nil {
			t.Errorf("second sink Close: %v", err)
		}
	}
	if !h.NoSource {
		src, err := connector.NewSource(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		_ = src.Open(ctx, nil)
		if err := src.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := src.Close(ctx); err != nil {
			t.Errorf("second source Close: %v", err)
		}
	}
}

// testSourceAcks: acks and nacks are harmless to a source, and a source reopened at the
// position of its last acked batch (a run that nacked the next one, or died before settling
// it) delivers the unacked batches again.
func testSourceAcks(t *testing.T, h Harness) {
	e := h.NewEndpoint(t, "source_acks")
	s := Schema([]connector.Type{connector.TypeString})
	if h.canWrite() {
		h.write(t, e, s, h.seedMode(), Rows(s, 1, 20), 20)
	}
	all, allRows, _ := Read(t, e, nil)
	ctx := context.Background()
	e.BatchSize = 3
	src, err := connector.NewSource(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = src.Close(ctx) }()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var acked [][]any
	var pos connector.Position
	for i := range 4 {
		b, ack, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("read batch %d: %v", i+1, err)
		}
		switch {
		case i < 2:
			if ack != nil {
				if err := ack(ctx, nil); err != nil {
					t.Fatalf("ack of batch %d: %v", i+1, err)
				}
			}
			acked, pos = append(acked, b.Rows...), b.Pos
		case i == 2:
			if ack != nil {
				if err := ack(ctx, errors.New("conntest: the sink failed")); err != nil {
					t.Fatalf("nack of batch %d: %v", i+1, err)
				}
			}
		}
		// The fourth batch is never settled: the run died.
	}
	if err := src.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if h.NoResume {
		return
	}
	_, rest, _ := Read(t, e, pos)
	sameRows(t, all, allRows, append(acked, rest...))
}

// readSome reads e in batches of 3 until it has at least 7 rows, checking that every batch
// carries a position and keeps to the batch size. It returns the rows and the position after
// them, for a resume to go on from.
func readSome(t *testing.T, e connector.Endpoint) ([][]any, connector.Position) {
	t.Helper()
	ctx := context.Background()
	e.BatchSize = 3
	src, err := connector.NewSource(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = src.Close(ctx) }()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var first [][]any
	var pos connector.Position
	for len(first) < 7 {
		b, _, err := src.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if b.Pos == nil {
			t.Fatal("a batch of a resumable source has no position")
		}
		if len(b.Rows) > 3 {
			t.Errorf("batch of %d rows with BatchSize 3", len(b.Rows))
		}
		first = append(first, b.Rows...)
		pos = b.Pos
	}
	return first, pos
}
