package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

func entry(i int) Entry {
	return Entry{
		Actor:        fmt.Sprintf("user%d", i%3),
		Action:       []string{"resource.apply", "run.request", "auth.login", "token.create", "role.change"}[i%5],
		TargetKind:   "Integration",
		TargetName:   fmt.Sprintf("int-%d", i%4),
		Remote:       "192.0.2.1:1234",
		Details:      fmt.Sprintf(`{"i": %d}`, i),
		BeforeDigest: Digest([]byte(fmt.Sprint("before", i))),
		AfterDigest:  Digest([]byte(fmt.Sprint("after", i))),
	}
}

func appendN(t *testing.T, l *Log, n int) []Entry {
	t.Helper()
	ctx := context.Background()
	out := make([]Entry, 0, n)
	for i := range n {
		e, err := l.Append(ctx, entry(i))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func mustVerify(t *testing.T, l *Log) Report {
	t.Helper()
	rep, err := l.Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestAppendAndVerify(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := New(db)
		if rep := mustVerify(t, l); !rep.OK || rep.Checked != 0 || rep.HeadSeq != 0 {
			t.Fatalf("empty log: %v", rep)
		}
		es := appendN(t, l, 50)
		for i, e := range es {
			if e.Seq != int64(i+1) {
				t.Fatalf("entry %d has seq %d", i, e.Seq)
			}
			prev := ZeroHash
			if i > 0 {
				prev = es[i-1].Hash
			}
			if e.PrevHash != prev || e.Hash != ComputeHash(e) || e.At.IsZero() {
				t.Fatalf("entry %d: %+v", i, e)
			}
		}
		if es[0].Details != `{"i":0}` {
			t.Errorf("details not compacted: %s", es[0].Details)
		}
		rep := mustVerify(t, l)
		if !rep.OK || rep.Checked != 50 || rep.HeadSeq != 50 || rep.HeadHash != es[49].Hash {
			t.Fatalf("Verify = %v", rep)
		}
		p, err := l.List(context.Background(), Filter{Limit: 1})
		if err != nil || len(p.Entries) != 1 || p.Entries[0] != es[49] {
			t.Fatalf("List newest = %+v, %v; want %+v", p.Entries, err, es[49])
		}
	})
}

func TestAppendRefuses(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := New(db)
		ctx := context.Background()
		for name, e := range map[string]Entry{
			"no actor":          {Action: "run.request"},
			"no action":         {Actor: "a"},
			"undotted action":   {Actor: "a", Action: "apply"},
			"upper case action": {Actor: "a", Action: "Resource.Apply"},
			"details not json":  {Actor: "a", Action: "run.request", Details: "password=x"},
			"details an array":  {Actor: "a", Action: "run.request", Details: `["x"]`},
			"details too big":   {Actor: "a", Action: "run.request", Details: `{"x":"` + strings.Repeat("x", MaxDetails) + `"}`},
		} {
			if _, err := l.Append(ctx, e); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		if rep := mustVerify(t, l); !rep.OK || rep.HeadSeq != 0 {
			t.Fatalf("refused appends changed the log: %v", rep)
		}
	})
}

// The change and its audit entry commit or roll back together.
func TestAppendTx(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		l := New(db)
		ctx := context.Background()
		appendN(t, l, 3)
		boom := errors.New("the change failed")
		err := db.InTx(ctx, func(tx *store.Tx) error {
			if _, err := l.AppendTx(ctx, tx, entry(3)); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if rep := mustVerify(t, l); !rep.OK || rep.HeadSeq != 3 {
			t.Fatalf("after rollback: %v", rep)
		}
		var got Entry
		err = db.InTx(ctx, func(tx *store.Tx) error {
			var err error
			got, err = l.AppendTx(ctx, tx, entry(3))
			return err
		})
		if err != nil || got.Seq != 4 {
			t.Fatalf("AppendTx = %+v, %v", got, err)
		}
		if rep := mustVerify(t, l); !rep.OK || rep.HeadSeq != 4 || rep.Checked != 4 {
			t.Fatalf("after commit: %v", rep)
		}
	})
}

// Tampering directly in SQL is reported at the right seq.
func TestVerifyDetectsTampering(t *testing.T) {
	type tc struct {
		name    string
		sql     []string
		problem Problem
		seq     int64
	}
	const n = 20
	cases := []tc{
		{"edit actor", []string{`UPDATE audit_entries SET actor = 'mallory' WHERE seq = 10`}, ProblemEdited, 10},
		{"edit details", []string{`UPDATE audit_entries SET details = '{"i":99}' WHERE seq = 7`}, ProblemEdited, 7},
		{"edit time", []string{`UPDATE audit_entries SET at = '2001-01-01T00:00:00.000000000Z' WHERE seq = 3`}, ProblemEdited, 3},
		{"same instant, other text", []string{`UPDATE audit_entries SET at = substr(at, 1, 19) || 'Z' WHERE seq = 4`}, ProblemEdited, 4},
		{"edit prev_hash", []string{`UPDATE audit_entries SET prev_hash = '` + strings.Repeat("1", 64) + `' WHERE seq = 5`}, ProblemEdited, 5},
		{"edit hash", []string{`UPDATE audit_entries SET hash = '` + strings.Repeat("1", 64) + `' WHERE seq = 5`}, ProblemEdited, 5},
		{"delete middle", []string{`DELETE FROM audit_entries WHERE seq = 10`}, ProblemMissing, 10},
		{"delete several", []string{`DELETE FROM audit_entries WHERE seq BETWEEN 10 AND 12`}, ProblemMissing, 10},
		{"delete first", []string{`DELETE FROM audit_entries WHERE seq = 1`}, ProblemMissing, 1},
		{"delete last", []string{`DELETE FROM audit_entries WHERE seq = 20`}, ProblemTruncated, 20},
		{"delete last three", []string{`DELETE FROM audit_entries WHERE seq > 17`}, ProblemTruncated, 18},
		{"delete all", []string{`DELETE FROM audit_entries`}, ProblemTruncated, 1},
		{"swap two", []string{
			`UPDATE audit_entries SET seq = -6 WHERE seq = 6`,
			`UPDATE audit_entries SET seq = 6 WHERE seq = 7`,
			`UPDATE audit_entries SET seq = 7 WHERE seq = -6`}, ProblemEdited, 6},
		{"renumber to close a gap", []string{
			`DELETE FROM audit_entries WHERE seq = 19`,
			`UPDATE audit_entries SET seq = 19 WHERE seq = 20`}, ProblemEdited, 19},
		{"head removed", []string{`DELETE FROM audit_head`}, ProblemHead, 21},
		{"head removed and an edit", []string{`DELETE FROM audit_head`, `UPDATE audit_entries SET remote = '' WHERE seq = 8`}, ProblemEdited, 8},
		{"head hash changed", []string{`UPDATE audit_head SET hash = '` + strings.Repeat("2", 64) + `'`}, ProblemHead, 20},
		{"entry beyond the head", []string{`INSERT INTO audit_entries (` + columns + `) SELECT seq + 1, at, actor, action, target_kind, target_name, remote, details, before_digest, after_digest, hash, hash FROM audit_entries WHERE seq = 20`}, ProblemHead, 21},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, c := range cases {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				ctx := context.Background()
				resetLog(t, db)
				l := New(db)
				appendN(t, l, n)
				for _, q := range c.sql {
					if _, err := db.Exec(ctx, q); err != nil {
						t.Fatalf("%s: %v", q, err)
					}
				}
				rep := mustVerify(t, l)
				if rep.OK || rep.Problem != c.problem || rep.BrokenSeq != c.seq || rep.Detail == "" {
					t.Fatalf("Verify = %+v; want %s at seq %d", rep, c.problem, c.seq)
				}
				if !strings.Contains(rep.String(), fmt.Sprint(c.seq)) {
					t.Errorf("report does not name seq %d: %s", c.seq, rep)
				}
			})
		}
	})
}

// An edited entry whose hash was recomputed is caught by the next entry's link.
func TestVerifyDetectsRehashedEdit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := New(db)
		es := appendN(t, l, 10)
		e := es[4]
		e.Actor = "mallory"
		e.Hash = ComputeHash(e)
		if _, err := db.Exec(ctx, `UPDATE audit_entries SET actor = ?, hash = ? WHERE seq = ?`, e.Actor, e.Hash, e.Seq); err != nil {
			t.Fatal(err)
		}
		rep := mustVerify(t, l)
		if rep.OK || rep.Problem != ProblemBrokenLink || rep.BrokenSeq != 6 {
			t.Fatalf("Verify = %+v; want broken-link at 6", rep)
		}
	})
}

// After a truncation, appending goes on from the head, so the hole stays visible; without a
// head the log refuses to append.
func TestAppendAfterTampering(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := New(db)
		appendN(t, l, 5)
		if _, err := db.Exec(ctx, `DELETE FROM audit_entries WHERE seq = 5`); err != nil {
			t.Fatal(err)
		}
		e, err := l.Append(ctx, entry(9))
		if err != nil || e.Seq != 6 {
			t.Fatalf("Append after truncation = %d, %v", e.Seq, err)
		}
		if rep := mustVerify(t, l); rep.OK || rep.Problem != ProblemMissing || rep.BrokenSeq != 5 {
			t.Fatalf("Verify = %+v", rep)
		}
		if _, err := db.Exec(ctx, `DELETE FROM audit_head`); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(ctx, entry(10)); !errors.Is(err, ErrNoHead) {
			t.Fatalf("Append without a head: %v", err)
		}
	})
}

func resetLog(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{`DELETE FROM audit_entries`, `DELETE FROM audit_head`,
		`INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '` + ZeroHash + `')`} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
}

// concurrentAppend appends perWorker entries from each of workers goroutines, spread over
// logs, then checks the chain is whole and gapless.
func concurrentAppend(t *testing.T, logs []*Log, workers, perWorker int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := logs[w%len(logs)]
			for i := range perWorker {
				e := entry(i)
				e.Actor = fmt.Sprintf("worker%d", w)
				if _, err := l.Append(ctx, e); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep := mustVerify(t, logs[0])
	total := int64(workers * perWorker)
	if !rep.OK || rep.Checked != total || rep.HeadSeq != total {
		t.Fatalf("after %d concurrent appends: %v", total, rep)
	}
}

func TestConcurrentAppend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		logs := []*Log{New(db)}
		if db.Dialect == store.SQLite {
			// A second handle on the same file stands in for a second process.
			db2, err := store.Open(context.Background(), "sqlite:"+db.Where, "")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db2.Close() })
			logs = append(logs, New(db2))
		}
		concurrentAppend(t, logs, 8, 25)
	})
}

// Several servers on one PostgreSQL database: separate connection pools to the same URL.
func TestConcurrentAppendPostgresServers(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL skipped with -short")
	}
	ctx := context.Background()
	url := storetest.PostgresURL(t)
	var logs []*Log
	for i := range 3 {
		db, err := store.Open(ctx, url, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		if i == 0 {
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
		}
		logs = append(logs, New(db))
	}
	concurrentAppend(t, logs, 12, 20)
}

// Verify while appends go on reports no false problem.
func TestVerifyDuringAppends(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := New(db)
		done := make(chan error, 1)
		go func() {
			for i := range 300 {
				if _, err := l.Append(ctx, entry(i)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for verifying := true; verifying; {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				verifying = false
			default:
			}
			if rep := mustVerify(t, l); !rep.OK {
				t.Fatalf("Verify during appends: %v", rep)
			}
		}
		if rep := mustVerify(t, l); !rep.OK || rep.Checked != 300 {
			t.Fatalf("Verify after appends: %v", rep)
		}
	})
}

func TestList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := New(db)
		start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
		var tick int
		l.now = func() time.Time { tick++; return start.Add(time.Duration(tick) * time.Minute) }
		all := appendN(t, l, 30)
		for _, a := range []string{"run_x.start", "runxx.start"} {
			e, err := l.Append(ctx, Entry{Actor: "sys", Action: a})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, e)
		}
		seqs := func(es []Entry) []int64 {
			var out []int64
			for _, e := range es {
				out = append(out, e.Seq)
			}
			return out
		}
		want := func(keep func(e Entry) bool) []int64 {
			var out []int64
			for i := len(all) - 1; i >= 0; i-- {
				if keep(all[i]) {
					out = append(out, all[i].Seq)
				}
			}
			return out
		}
		at := func(seq int) time.Time { return all[seq-1].At }
		for name, c := range map[string]struct {
			f    Filter
			keep func(Entry) bool
		}{
			"all":           {Filter{}, func(Entry) bool { return true }},
			"actor":         {Filter{Actor: "user1"}, func(e Entry) bool { return e.Actor == "user1" }},
			"action":        {Filter{Action: "auth.login"}, func(e Entry) bool { return e.Action == "auth.login" }},
			"action prefix": {Filter{Action: "r*"}, func(e Entry) bool { return strings.HasPrefix(e.Action, "r") }},
			"prefix escapes _": {Filter{Action: "run_*"}, func(e Entry) bool {
				return strings.HasPrefix(e.Action, "run_")
			}},
			"target": {Filter{TargetKind: "Integration", TargetName: "int-2"}, func(e Entry) bool {
				return e.TargetKind == "Integration" && e.TargetName == "int-2"
			}},
			"since until": {Filter{Since: at(5), Until: at(9)}, func(e Entry) bool { return e.Seq >= 5 && e.Seq < 9 }},
			"combined":    {Filter{Actor: "user0", Since: at(10)}, func(e Entry) bool { return e.Actor == "user0" && e.Seq >= 10 }},
			"after seq":   {Filter{AfterSeq: 4}, func(e Entry) bool { return e.Seq < 4 }},
			"none":        {Filter{Actor: "nobody"}, func(Entry) bool { return false }},
		} {
			p, err := l.List(ctx, c.f)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if got, w := seqs(p.Entries), want(c.keep); fmt.Sprint(got) != fmt.Sprint(w) || p.Next != 0 {
				t.Errorf("%s: got %v (next %d), want %v", name, got, p.Next, w)
			}
		}
		// Paging newest first visits every entry once.
		var got []int64
		f := Filter{Limit: 7}
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			p, err := l.List(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, seqs(p.Entries)...)
			if p.Next == 0 {
				break
			}
			f.AfterSeq = p.Next
		}
		if fmt.Sprint(got) != fmt.Sprint(want(func(Entry) bool { return true })) {
			t.Fatalf("paged: %v", got)
		}
		// Paging with a filter, where the last page is exactly full.
		p, err := l.List(ctx, Filter{Actor: "user2", Limit: 5})
		if err != nil || len(p.Entries) != 5 || p.Next == 0 {
			t.Fatalf("first filtered page: %v, next %d, %v", seqs(p.Entries), p.Next, err)
		}
		p, err = l.List(ctx, Filter{Actor: "user2", Limit: 5, AfterSeq: p.Next})
		if err != nil || len(p.Entries) != 5 || p.Next != 0 {
			t.Fatalf("second filtered page: %v, next %d, %v", seqs(p.Entries), p.Next, err)
		}
	})
}
