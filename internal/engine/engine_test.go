package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/transform"
)

// The fakes below are an in-memory source and sink registered under the "mem" scheme. They
// test the engine's logic only; every real connector runs the conformance suite against its
// real server.

type memTable struct {
	mu        sync.Mutex
	schema    connector.Schema
	committed [][]any
	// failAt makes the sink's Write fail with a retryable error when it would pass this many
	// committed+pending rows, once.
	failAt int
	// refuse makes the sink refuse rows whose column 1 equals this value.
	refuse any
	// rawFail makes WriteRaw fail with a data error.
	rawFail bool
	saved   connector.Position
	// lostCommits makes that many Flushes commit and then report a retryable failure, as
	// when the connection drops after the server committed.
	lostCommits int
}

var (
	tablesMu sync.Mutex
	tables   = map[string]*memTable{}
)

func table(name string) *memTable {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	t, ok := tables[name]
	if !ok {
		t = &memTable{}
		tables[name] = t
	}
	return t
}

func init() {
	connector.Register(connector.Spec{
		Name: "mem", Schemes: []string{"mem"}, Summary: "in-memory test tables",
		NewSource: func(_ context.Context, e connector.Endpoint) (connector.Source, error) {
			return &memSource{t: table(e.URL), batch: max(e.BatchSize, 1)}, nil
		},
		NewSink: func(_ context.Context, e connector.Endpoint) (connector.Sink, error) {
			return &memSink{t: table(e.URL)}, nil
		},
	})
}

type memSource struct {
	t     *memTable
	batch int
	next  int
	rows  [][]any
}

func (s *memSource) Open(_ context.Context, from connector.Position) error {
	s.t.mu.Lock()
	s.rows = append([][]any(nil), s.t.committed...)
	s.t.mu.Unlock()
	if from != nil {
		n, err := strconv.Atoi(string(from))
		if err != nil {
			return err
		}
		s.next = n
	}
	return nil
}

func (s *memSource) Schema(context.Context) (connector.Schema, error) { return s.t.schema, nil }

func (s *memSource) Read(ctx context.Context) (*connector.Batch, connector.AckFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if s.next >= len(s.rows) {
		return nil, nil, connector.ErrEndOfInput
	}
	end := min(s.next+s.batch, len(s.rows))
	b := &connector.Batch{Rows: s.rows[s.next:end], Bytes: int64(10 * (end - s.next)), Pos: connector.Position(strconv.Itoa(end))}
	s.next = end
	return b, connector.NopAck, nil
}

func (s *memSource) Close(context.Context) error { return nil }

func (s *memSource) RawFormat([]string) string { return "mem-raw" }

func (s *memSource) ReadRaw(_ context.Context, _ []string, w io.Writer) (int64, error) {
	for _, r := range s.rows {
		if _, err := fmt.Fprintf(w, "%v\n", r[0]); err != nil {
			return 0, err
		}
	}
	return int64(len(s.rows)), nil
}

type memSink struct {
	t       *memTable
	pending [][]any
	target  connector.Schema
}

func (s *memSink) Open(_ context.Context, sc connector.Schema, _ connector.SinkOptions) (connector.Schema, error) {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if s.t.schema.Columns == nil {
		s.t.schema = sc
	}
	s.target = s.t.schema
	return s.target, nil
}

func (s *memSink) Write(_ context.Context, b *connector.Batch) error {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if s.t.failAt > 0 && len(s.t.committed)+len(s.pending)+len(b.Rows) > s.t.failAt {
		s.t.failAt = 0
		return fmt.Errorf("write: %w", syscall.ECONNRESET)
	}
	var errs connector.RecordErrors
	for i, r := range b.Rows {
		if s.t.refuse != nil && len(r) > 1 && r[1] == s.t.refuse {
			errs = append(errs, connector.RecordError{Index: i, Column: s.target.Columns[1].Name, Err: errors.New("refused")})
			continue
		}
		s.pending = append(s.pending, append([]any(nil), r...))
	}
	if errs != nil {
		return errs
	}
	return nil
}

func (s *memSink) Flush(_ context.Context, pos connector.Position) error {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	s.t.committed = append(s.t.committed, s.pending...)
	s.pending = nil
	if pos != nil {
		s.t.saved = pos
	}
	if s.t.lostCommits > 0 && pos != nil {
		s.t.lostCommits--
		return fmt.Errorf("commit: %w", syscall.ECONNRESET)
	}
	return nil
}

func (s *memSink) Commit(ctx context.Context) error { return s.Flush(ctx, nil) }
func (s *memSink) Close(context.Context) error      { s.pending = nil; return nil }

func (s *memSink) SavedPosition(context.Context) (connector.Position, error) {
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	return s.t.saved, nil
}

func (s *memSink) AcceptsRaw(f string) bool { return f == "mem-raw" }

func (s *memSink) WriteRaw(_ context.Context, _ string, r io.Reader) (int64, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	if s.t.rawFail {
		return 0, connector.Errorf(connector.CodeData, "mem", "", errors.New("bad value in stream"))
	}
	n := int64(0)
	for _, c := range b {
		if c == '\n' {
			s.pending = append(s.pending, []any{n})
			n++
		}
	}
	return n, nil
}

type memRejects struct {
	mu  sync.Mutex
	all []connector.Reject
}

func (m *memRejects) Reject(_ context.Context, _ string, r connector.Reject) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.all = append(m.all, r)
	return nil
}

func seed(name string, n int, val func(i int) any) {
	t := table(name)
	t.schema = connector.Schema{Columns: []connector.Column{
		{Name: "id", Type: connector.TypeInt64},
		{Name: "v", Type: connector.TypeString, Nullable: true},
	}, Key: []string{"id"}}
	t.committed = nil
	for i := range n {
		t.committed = append(t.committed, []any{int64(i), val(i)})
	}
}

func TestGenericCopyConvertsAndRejects(t *testing.T) {
	seed("mem:src1", 100, func(i int) any {
		switch i {
		case 10:
			return "not a number"
		case 20:
			return nil
		}
		return strconv.Itoa(i * 2)
	})
	dst := table("mem:dst1")
	dst.schema = connector.Schema{Columns: []connector.Column{
		{Name: "id", Type: connector.TypeInt64},
		{Name: "v", Type: connector.TypeInt64},
	}}
	dst.refuse = int64(60) // the sink refuses row 30
	rej := &memRejects{}
	e := New(Options{RunID: "r1", Source: connector.Endpoint{URL: "mem:src1", BatchSize: 7},
		Dest: connector.Endpoint{URL: "mem:dst1"}, Rejects: rej, NoFastPath: true})
	res := e.Run(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.Status != runstatus.Partial || res.RowsRead != 100 || res.RowsWritten != 97 || res.RowsRejected != 3 {
		t.Fatalf("status %s read %d written %d rejected %d", res.Status, res.RowsRead, res.RowsWritten, res.RowsRejected)
	}
	if len(dst.committed) != 97 {
		t.Fatalf("target has %d rows", len(dst.committed))
	}
	want := map[int64]string{11: "v", 21: "v", 31: "v"}
	for _, r := range rej.all {
		if want[r.Record] != r.Column {
			t.Errorf("reject %+v: unexpected record or column", r)
		}
		delete(want, r.Record)
	}
	if len(want) > 0 {
		t.Errorf("missing rejects for records %v", want)
	}
}

func TestRetryResumesFromCheckpoint(t *testing.T) {
	seed("mem:src2", 1000, func(i int) any { return "x" })
	dst := table("mem:dst2")
	dst.failAt = 650
	var checkpoints int
	e := New(Options{RunID: "r2", Source: connector.Endpoint{URL: "mem:src2", BatchSize: 50},
		Dest: connector.Endpoint{URL: "mem:dst2"}, CheckpointRows: 200, RetryBase: 1, NoFastPath: true,
		OnCheckpoint: func(context.Context, connector.Position, Stats) error { checkpoints++; return nil }})
	res := e.Run(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if res.Attempts != 2 {
		t.Errorf("attempts %d, want 2", res.Attempts)
	}
	seen := map[int64]bool{}
	for _, r := range dst.committed {
		id := r[0].(int64)
		if seen[id] {
			t.Fatalf("id %d written twice", id)
		}
		seen[id] = true
	}
	if len(seen) != 1000 || res.RowsWritten != 1000 || res.RowsRead != 1000 {
		t.Fatalf("target %d rows, stats read %d written %d", len(seen), res.RowsRead, res.RowsWritten)
	}
	if checkpoints == 0 {
		t.Error("no checkpoint recorded")
	}
}

func TestResumeUsesSinkPosition(t *testing.T) {
	seed("mem:src3", 100, func(i int) any { return "x" })
	dst := table("mem:dst3")
	dst.schema = table("mem:src3").schema
	dst.committed = append([][]any(nil), table("mem:src3").committed[:40]...)
	dst.saved = connector.Position("40")
	e := New(Options{RunID: "r3", Source: connector.Endpoint{URL: "mem:src3", BatchSize: 30},
		Dest: connector.Endpoint{URL: "mem:dst3"}, Resume: true, NoFastPath: true, Position: connector.Position("20")})
	res := e.Run(context.Background())
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if len(dst.committed) != 100 {
		t.Fatalf("target has %d rows after resume, want 100", len(dst.committed))
	}
}

func TestFastPathAndFallback(t *testing.T) {
	seed("mem:src4", 50, func(i int) any { return "x" })
	e := New(Options{RunID: "r4", Source: connector.Endpoint{URL: "mem:src4"}, Dest: connector.Endpoint{URL: "mem:dst4"}})
	res := e.Run(context.Background())
	if res.Err != nil || !res.FastPath || res.RowsWritten != 50 || res.RowsRead != 50 {
		t.Fatalf("fast path: %+v", res)
	}

	seed("mem:src5", 50, func(i int) any { return "x" })
	table("mem:dst5").rawFail = true
	e = New(Options{RunID: "r5", Source: connector.Endpoint{URL: "mem:src5", BatchSize: 8}, Dest: connector.Endpoint{URL: "mem:dst5"}})
	res = e.Run(context.Background())
	if res.Err != nil || res.FastPath || res.RowsWritten != 50 || res.RowsRead != 50 {
		t.Fatalf("fallback: %+v", res)
	}
	if got := len(table("mem:dst5").committed); got != 50 {
		t.Fatalf("fallback wrote %d rows", got)
	}
}

func TestMappingRenameAndCast(t *testing.T) {
	seed("mem:src6", 5, func(i int) any { return strconv.Itoa(i) })
	m, err := transform.ParseArgs([]string{"v:n:int64"})
	if err != nil {
		t.Fatal(err)
	}
	e := New(Options{RunID: "r6", Source: connector.Endpoint{URL: "mem:src6"}, Dest: connector.Endpoint{URL: "mem:dst6"}, Mapping: m})
	res := e.Run(context.Background())
	if res.Err != nil || res.FastPath {
		t.Fatalf("%+v", res)
	}
	dst := table("mem:dst6")
	if dst.schema.Columns[1].Name != "n" || dst.schema.Columns[1].Type != connector.TypeInt64 {
		t.Fatalf("target schema %+v", dst.schema)
	}
	if dst.committed[3][1] != int64(3) {
		t.Fatalf("row 3: %#v", dst.committed[3])
	}
}

func TestMaxRejectsAndSecretsScrubbed(t *testing.T) {
	seed("mem:src7", 10, func(i int) any { return "zz" })
	dst := table("mem:dst7")
	dst.schema = connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}, {Name: "v", Type: connector.TypeInt64}}}
	e := New(Options{RunID: "r7", Source: connector.Endpoint{URL: "mem:src7"}, Dest: connector.Endpoint{URL: "mem:dst7"}, MaxRejects: Limit(3)})
	res := e.Run(context.Background())
	if res.Status != runstatus.Failed || connector.CodeOf(res.Err) != connector.CodeData {
		t.Fatalf("%+v", res)
	}

	e = New(Options{RunID: "r8", Source: connector.Endpoint{URL: "nosuch://u:S3cretPw@h/x"}, Dest: connector.Endpoint{URL: "mem:dst7"}})
	res = e.Run(context.Background())
	if res.Err == nil {
		t.Fatal("unknown scheme succeeded")
	}
	if s := res.Err.Error(); strings.Contains(s, "S3cretPw") {
		t.Fatalf("secret in error: %s", s)
	}
}

func TestCancel(t *testing.T) {
	seed("mem:src9", 1000, func(i int) any { return "x" })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := New(Options{RunID: "r9", Source: connector.Endpoint{URL: "mem:src9"}, Dest: connector.Endpoint{URL: "mem:dst9"}, NoFastPath: true})
	res := e.Run(ctx)
	if res.Status != runstatus.Canceled {
		t.Fatalf("status %s: %v", res.Status, res.Err)
	}
}
