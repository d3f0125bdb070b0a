package all_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/connector/conntest"
	"github.com/datahub-oss/datahub/internal/engine"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/transform"
)

// databases are the SQL destinations of the integrity tests, each a fresh database.
func databases(t *testing.T, name string) []struct {
	name string
	url  func(table string) string
} {
	t.Helper()
	pg, my := pgNamed(t, "dh_test_"+name), myNamed(t, "dh_test_"+name)
	dir := t.TempDir()
	return []struct {
		name string
		url  func(table string) string
	}{
		{"postgres", func(tb string) string { return pg + "?table=public." + tb }},
		{"mysql", func(tb string) string { return my + "?table=" + tb }},
		{"sqlite", func(tb string) string { return "sqlite:" + filepath.Join(dir, "t.db") + "?table=" + tb }},
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReplaceWithRejectsKeepsOldTable is finding 12: a replace whose every row is rejected
// by a cast fails and leaves the 300 rows it would have replaced; allowed as many rejects, it
// swaps in what survived (nothing).
func TestReplaceWithRejectsKeepsOldTable(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and MariaDB; skipped with -short")
	}
	schema := connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}, {Name: "city", Type: connector.TypeInt64}}, Key: []string{"id"}}
	var old [][]any
	var csv strings.Builder
	csv.WriteString("id,city\n")
	for i := 1; i <= 300; i++ {
		old = append(old, []any{int64(i), int64(i)})
		fmt.Fprintf(&csv, "%d,town%d\n", i, i)
	}
	src := connector.Endpoint{URL: writeFile(t, "p.csv", csv.String())}
	mapping, err := transform.ParseArgs([]string{"city::int64"})
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range databases(t, "replace_keeps") {
		t.Run(db.name, func(t *testing.T) {
			dst := connector.Endpoint{URL: db.url("people")}
			conntest.Write(t, dst, schema, connector.ModeReplace, old, 100)
			res := engine.New(engine.Options{RunID: "rk1", Source: src, Dest: dst, Mode: connector.ModeReplace, Mapping: mapping}).Run(context.Background())
			if res.Status != runstatus.Failed || connector.CodeOf(res.Err) != connector.CodeData {
				t.Fatalf("status %s (%s): %v", res.Status, connector.CodeOf(res.Err), res.Err)
			}
			if _, rows, _ := conntest.Read(t, dst, nil); len(rows) != 300 {
				t.Fatalf("the failed replace left %d of the 300 rows", len(rows))
			}
			res = engine.New(engine.Options{RunID: "rk2", Source: src, Dest: dst, Mode: connector.ModeReplace, Mapping: mapping,
				MaxRejects: engine.Limit(300)}).Run(context.Background())
			if res.Status != runstatus.Partial || res.RowsRejected != 300 {
				t.Fatalf("allowed 300 rejects: status %s, rejected %d: %v", res.Status, res.RowsRejected, res.Err)
			}
			if _, rows, _ := conntest.Read(t, dst, nil); len(rows) != 0 {
				t.Fatalf("the allowed replace left %d rows", len(rows))
			}
		})
	}
}

type memRejects struct{ all []connector.Reject }

func (m *memRejects) Reject(_ context.Context, _ string, r connector.Reject) error {
	m.all = append(m.all, r)
	return nil
}

// TestNULByteInText is finding 13's NUL: PostgreSQL cannot store a NUL in text and SQLite
// stores it where its readers cut the text, so both reject the record with the reason and the
// field; MySQL and NDJSON store it as it is (LOAD DATA escapes it, JSON writes \u0000) and
// give it back unchanged.
func TestNULByteInText(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and MariaDB; skipped with -short")
	}
	src := connector.Endpoint{URL: writeFile(t, "nul.csv", "id,note\n1,plain\n2,a\x00b\n3,end\n")}
	dir := t.TempDir()
	dbs := databases(t, "nul")
	dbs = append(dbs, struct {
		name string
		url  func(table string) string
	}{"ndjson", func(tb string) string { return filepath.Join(dir, tb+".ndjson") }})
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			dst := connector.Endpoint{URL: db.url("nul")}
			rej := &memRejects{}
			res := engine.New(engine.Options{RunID: "nul", Source: src, Dest: dst, Mode: connector.ModeReplace,
				Rejects: rej, MaxRejects: engine.Limit(10)}).Run(context.Background())
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			_, rows, _ := conntest.Read(t, dst, nil)
			switch db.name {
			case "postgres", "sqlite":
				if res.RowsRejected != 1 || len(rej.all) != 1 || len(rows) != 2 {
					t.Fatalf("rejected %d, stored %d rows", res.RowsRejected, len(rows))
				}
				r := rej.all[0]
				if r.Record != 2 || r.Column != "note" || !strings.Contains(r.Reason, `text value contains a NUL byte (\x00)`) ||
					!strings.Contains(r.Reason, "field note") {
					t.Fatalf("reject %+v", r)
				}
			default:
				if res.RowsRejected != 0 || len(rows) != 3 {
					t.Fatalf("rejected %d, stored %d rows", res.RowsRejected, len(rows))
				}
				found := false
				for _, r := range rows {
					found = found || r[1] == "a\x00b"
				}
				if !found {
					t.Fatalf("the NUL did not come back: %q", rows)
				}
			}
		})
	}
}

// TestLongIdentifierRefused: a column name longer than the destination allows is refused
// before it reaches it (PostgreSQL would cut it to 63 bytes without a word), naming the name
// and the limit; SQLite has no limit.
func TestLongIdentifierRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and MariaDB; skipped with -short")
	}
	long := strings.Repeat("n", 70)
	src := connector.Endpoint{URL: writeFile(t, "long.csv", "id,"+long+"\n1,x\n")}
	for _, db := range databases(t, "long_ident") {
		t.Run(db.name, func(t *testing.T) {
			res := engine.New(engine.Options{RunID: "li", Source: src, Dest: connector.Endpoint{URL: db.url("t")}}).Run(context.Background())
			if db.name == "sqlite" {
				if res.Err != nil {
					t.Fatal(res.Err)
				}
				return
			}
			limit := map[string]string{"postgres": "PostgreSQL allows at most 63", "mysql": "MySQL allows at most 64"}[db.name]
			if res.Err == nil || connector.CodeOf(res.Err) != connector.CodeSchema || !strings.Contains(res.Err.Error(), limit) ||
				!strings.Contains(res.Err.Error(), long[:60]) {
				t.Fatalf("code %s: %v", connector.CodeOf(res.Err), res.Err)
			}
		})
	}
}

// faulty wraps a real sink to inject the failures a dropped connection causes: a Write that
// fails before anything is sent, and a Flush whose commit succeeded on the server but whose
// answer was lost.
type faulty struct {
	connector.Sink
	writes, flushes *atomic.Int64
	everyWrite      int64
	everyFlush      int64
}

func (f *faulty) Write(ctx context.Context, b *connector.Batch) error {
	if n := f.writes.Add(1); f.everyWrite > 0 && n%f.everyWrite == 0 {
		return fmt.Errorf("injected: %w", syscall.ECONNRESET)
	}
	return f.Sink.Write(ctx, b)
}

func (f *faulty) Flush(ctx context.Context, pos connector.Position) error {
	if err := f.Sink.Flush(ctx, pos); err != nil {
		return err
	}
	if n := f.flushes.Add(1); f.everyFlush > 0 && pos != nil && n%f.everyFlush == 0 {
		return fmt.Errorf("injected after commit: %w", syscall.ECONNRESET)
	}
	return nil
}

func (f *faulty) SavedPosition(ctx context.Context) (connector.Position, error) {
	return f.Sink.(connector.PositionStore).SavedPosition(ctx)
}

var faults struct {
	writes, flushes atomic.Int64
	everyWrite      atomic.Int64
	everyFlush      atomic.Int64
}

func init() {
	connector.Register(connector.Spec{
		Name: "faulty", Schemes: []string{"faulty"}, Summary: "test: a sink with injected connection failures",
		NewSink: func(ctx context.Context, e connector.Endpoint) (connector.Sink, error) {
			e.URL = strings.TrimPrefix(e.URL, "faulty:")
			k, err := connector.NewSink(ctx, e)
			if err != nil {
				return nil, err
			}
			return &faulty{Sink: k, writes: &faults.writes, flushes: &faults.flushes,
				everyWrite: faults.everyWrite.Load(), everyFlush: faults.everyFlush.Load()}, nil
		},
	})
}

// TestStatsUnderInjectedFaults is finding 10 against real databases: with writes failing
// and commits whose answer is lost, retried and resumed, rows_written is always the number of
// rows the table holds, each row is there once, and a resumed run's part adds up.
func TestStatsUnderInjectedFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and MariaDB; skipped with -short")
	}
	var csv strings.Builder
	csv.WriteString("id,name\n")
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(&csv, "%d,name %d\n", i, i)
	}
	src := connector.Endpoint{URL: writeFile(t, "t.csv", csv.String()), BatchSize: 700}
	for _, db := range databases(t, "stats_faults") {
		t.Run(db.name, func(t *testing.T) {
			dst := connector.Endpoint{URL: "faulty:" + db.url("t")}
			faults.writes.Store(0)
			faults.flushes.Store(0)
			faults.everyWrite.Store(7)
			faults.everyFlush.Store(3)
			opts := engine.Options{RunID: "faults-" + db.name, Source: src, Dest: dst, CheckpointRows: 1500, Retries: 4, RetryBase: 1}
			res := engine.New(opts).Run(context.Background())
			if res.Status != runstatus.Failed {
				t.Fatalf("status %s after %d attempts; the faults were meant to outlast the retries", res.Status, res.Attempts)
			}
			count := func() int64 {
				_, rows, _ := conntest.Read(t, connector.Endpoint{URL: db.url("t")}, nil)
				seen := map[string]bool{}
				for _, r := range rows {
					id := fmt.Sprint(r[0])
					if seen[id] {
						t.Fatalf("id %s stored twice", id)
					}
					seen[id] = true
				}
				return int64(len(rows))
			}
			n := count()
			if res.RowsWritten != n || res.RowsRead != n {
				t.Fatalf("failed run: read %d, written %d, the table holds %d", res.RowsRead, res.RowsWritten, n)
			}
			first := res.RowsWritten
			for round := 0; res.Status != runstatus.Succeeded; round++ {
				if round == 20 {
					t.Fatalf("no success after 20 resumes: %v", res.Err)
				}
				opts.Resume, opts.Position, opts.Initial = true, res.Position, res.Stats
				res = engine.New(opts).Run(context.Background())
				if n := count(); res.RowsWritten != n {
					t.Fatalf("resume %d (%s): written %d, the table holds %d", round, res.Status, res.RowsWritten, n)
				}
				if round == 0 && res.Status == runstatus.Succeeded && res.Part.RowsWritten != 20000-first {
					t.Fatalf("part %d, want %d", res.Part.RowsWritten, 20000-first)
				}
			}
			if res.RowsWritten != 20000 || res.RowsRead != 20000 {
				t.Fatalf("read %d, written %d", res.RowsRead, res.RowsWritten)
			}
		})
	}
}

// TestErrorQuotingHugeHeaderIsCapped is finding 13's 50 MB header: appending a file whose
// header line is 20 MB to a file with other columns fails with an error that quotes the names
// cut short, at creation, so the run's error stays a few KiB (it was the whole header, twice).
func TestErrorQuotingHugeHeaderIsCapped(t *testing.T) {
	src := writeFile(t, "huge.csv", strings.Repeat("h", 20<<20)+",x\n1,2\n")
	dst := writeFile(t, "small.csv", "a,b\n1,2\n")
	res := engine.New(engine.Options{RunID: "huge", Source: connector.Endpoint{URL: src}, Dest: connector.Endpoint{URL: dst}}).Run(context.Background())
	if res.Err == nil || connector.CodeOf(res.Err) != connector.CodeSchema {
		t.Fatalf("code %s: %v", connector.CodeOf(res.Err), res.Err)
	}
	if msg := res.Err.Error(); len(msg) > connector.MaxErrorText || !strings.Contains(msg, "(cut, 19 MiB more)") {
		t.Fatalf("error of %d bytes: %.300s", len(msg), msg)
	}
	var inner *connector.Error
	if errors.As(res.Err, &inner); inner == nil || len(inner.Error()) > connector.MaxErrorText {
		t.Fatalf("the error kept the header inside: %d bytes", len(inner.Error()))
	}
}
