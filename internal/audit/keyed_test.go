package audit

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func chainKey(t *testing.T) ChainKey {
	t.Helper()
	mk, err := secret.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := KeyFor(mk)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keyedLog is a keyed log on db, its (new) chain keyed.
func keyedLog(t *testing.T, db *store.DB, k ChainKey) *Log {
	t.Helper()
	l := NewKeyed(db, k)
	if _, err := l.EnsureKeyed(context.Background(), "system", nil); err != nil {
		t.Fatal(err)
	}
	return l
}

func mustExecAll(t *testing.T, db *store.DB, qs ...string) {
	t.Helper()
	for _, q := range qs {
		if _, err := db.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// recomputePlain rewrites every entry's prev_hash and hash as plain SHA-256, as an attacker
// who can write the store (but has no key) would after an edit, and sets the head to match;
// with downgrade it also marks the head as a plain chain.
func recomputePlain(t *testing.T, db *store.DB, downgrade bool) {
	t.Helper()
	ctx := context.Background()
	rows, err := db.Query(ctx, `SELECT `+columns+` FROM audit_entries ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var all []storedEntry
	for rows.Next() {
		e, at, err := scanEntry(rows)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, storedEntry{e, at})
	}
	_ = rows.Close()
	prev := ZeroHash
	for _, s := range all {
		s.e.PrevHash = prev
		s.e.Hash = hashWith(s.e, s.at, nil)
		if _, err := db.Exec(ctx, `UPDATE audit_entries SET prev_hash = ?, hash = ? WHERE seq = ?`, s.e.PrevHash, s.e.Hash, s.e.Seq); err != nil {
			t.Fatal(err)
		}
		prev = s.e.Hash
	}
	if _, err := db.Exec(ctx, `UPDATE audit_head SET hash = ?`, prev); err != nil {
		t.Fatal(err)
	}
	if downgrade {
		mustExecAll(t, db, `UPDATE audit_head SET scheme = 'sha256', key_id = ''`)
	}
}

func TestKeyedAppendAndVerify(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		k := chainKey(t)
		l := NewKeyed(db, k)
		if n, err := l.EnsureKeyed(ctx, "system", nil); err != nil || n != 0 {
			t.Fatalf("EnsureKeyed on a new store = %d, %v", n, err)
		}
		es := appendN(t, l, 20)
		for _, e := range es {
			if e.Hash != k.Hash(e) || e.Hash == ComputeHash(e) {
				t.Fatalf("entry %d is not chained under the key", e.Seq)
			}
		}
		rep := mustVerify(t, l)
		if !rep.OK || rep.Checked != 20 || rep.Scheme != SchemeKeyed || rep.KeyID != k.ID() {
			t.Fatalf("Verify = %+v", rep)
		}
		// Another master key (another process's) can neither append nor verify.
		other := NewKeyed(db, chainKey(t))
		if _, err := other.Append(ctx, entry(1)); !errors.Is(err, ErrChainKey) || !strings.Contains(err.Error(), k.ID()) {
			t.Fatalf("append with another key: %v", err)
		}
		if _, err := other.Verify(ctx); !errors.Is(err, ErrChainKey) {
			t.Fatalf("verify with another key: %v", err)
		}
		if _, err := other.EnsureKeyed(ctx, "system", nil); !errors.Is(err, ErrChainKey) {
			t.Fatalf("EnsureKeyed with another key: %v", err)
		}
		if _, err := New(db).Append(ctx, entry(1)); !errors.Is(err, ErrChainKey) {
			t.Fatalf("append without a key: %v", err)
		}
	})
}

// Someone who can write the store but has no key edits an entry and recomputes the chain
// with plain SHA-256 (the public algorithm): refused, whether or not the head is also
// downgraded to claim a plain chain.
func TestKeyedRefusesRecomputedChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, c := range []struct {
			name      string
			downgrade bool
			problem   Problem
			seq       int64
		}{
			{"keep the scheme", false, ProblemEdited, 1},
			{"downgrade the head", true, ProblemUnkeyed, 1},
		} {
			t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
				ctx := context.Background()
				resetLog(t, db)
				mustExecAll(t, db, `UPDATE audit_head SET scheme = 'sha256', key_id = ''`)
				l := NewKeyed(db, chainKey(t))
				if _, err := l.EnsureKeyed(ctx, "system", nil); err != nil {
					t.Fatal(err)
				}
				appendN(t, l, 10)
				mustExecAll(t, db, `UPDATE audit_entries SET actor = 'mallory' WHERE seq = 5`)
				recomputePlain(t, db, c.downgrade)
				rep := mustVerify(t, l)
				if rep.OK || rep.Problem != c.problem || rep.BrokenSeq != c.seq {
					t.Fatalf("Verify = %+v; want %s at seq %d", rep, c.problem, c.seq)
				}
			})
		}
	})
}

// A keyed chain rewritten as a plain one and then re-keyed by a restart is caught by the
// anchor file: a hub refuses to re-key it, and an anchor taken before shows the rewrite.
func TestAnchorCatchesLaunderedChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		k := chainKey(t)
		l := keyedLog(t, db, k)
		appendN(t, l, 10)
		file := filepath.Join(t.TempDir(), AnchorFileName)
		an := &Anchorer{Log: l, File: file}
		anchor, wrote, err := an.Once(ctx, false)
		if err != nil || !wrote || anchor.Seq != 10 || anchor.KeyID != k.ID() {
			t.Fatalf("anchor %+v, %v, %v", anchor, wrote, err)
		}
		mustExecAll(t, db, `UPDATE audit_entries SET actor = 'mallory' WHERE seq = 3`)
		recomputePlain(t, db, true)
		af, err := ReadAnchorFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.EnsureKeyed(ctx, "system", af.Anchors); err == nil || !strings.Contains(err.Error(), "rewritten without the key") {
			t.Fatalf("EnsureKeyed over a downgraded chain with a keyed anchor: %v", err)
		}
		// Without the anchor file the hub re-keys what it finds ...
		if n, err := l.EnsureKeyed(ctx, "system", nil); err != nil || n != 10 {
			t.Fatalf("EnsureKeyed = %d, %v", n, err)
		}
		if rep := mustVerify(t, l); !rep.OK {
			t.Fatalf("Verify after re-keying = %v", rep)
		}
		// ... but the anchor, kept elsewhere, shows the chain differs where it was taken.
		rep, err := l.VerifyAnchor(ctx, anchor)
		if err != nil || rep.OK || rep.Problem != ProblemAnchor || rep.BrokenSeq != 10 {
			t.Fatalf("VerifyAnchor = %+v, %v", rep, err)
		}
		if _, _, err := an.Once(ctx, false); !errors.Is(err, ErrAnchorMismatch) {
			t.Fatalf("Anchorer over a rewritten chain: %v", err)
		}
	})
}

// Deleting the last entries and moving the head back verifies without an anchor, and is
// caught with one, given as a file's anchor or as SEQ:HASH.
func TestAnchorCatchesRollback(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := keyedLog(t, db, chainKey(t))
		es := appendN(t, l, 10)
		file := filepath.Join(t.TempDir(), AnchorFileName)
		var published []Anchor
		an := &Anchorer{Log: l, File: file, Publish: func(_ context.Context, a Anchor) error {
			published = append(published, a)
			return nil
		}}
		anchor, _, err := an.Once(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(published) != 1 || published[0] != anchor {
			t.Fatalf("published %+v", published)
		}
		if rep, err := l.VerifyAnchor(ctx, anchor); err != nil || !rep.OK || rep.Anchor == nil {
			t.Fatalf("VerifyAnchor before = %+v, %v", rep, err)
		}
		mustExecAll(t, db, `DELETE FROM audit_entries WHERE seq > 7`)
		if _, err := db.Exec(ctx, `UPDATE audit_head SET seq = 7, hash = ?`, es[6].Hash); err != nil {
			t.Fatal(err)
		}
		if rep := mustVerify(t, l); !rep.OK {
			t.Fatalf("a rollback without an anchor: %v (a keyed chain cannot see it alone)", rep)
		}
		bare, err := ParseAnchor(anchor.String())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []Anchor{anchor, bare} {
			rep, err := l.VerifyAnchor(ctx, a)
			if err != nil || rep.OK || rep.Problem != ProblemRollback || rep.BrokenSeq != 8 || !strings.Contains(rep.Detail, "rolled back") {
				t.Fatalf("VerifyAnchor(%s) = %+v, %v", a, rep, err)
			}
		}
		before, _ := os.ReadFile(file)
		if _, _, err := an.Once(ctx, true); !errors.Is(err, ErrAnchorMismatch) {
			t.Fatalf("Anchorer after a rollback: %v", err)
		}
		if after, _ := os.ReadFile(file); string(after) != string(before) || len(published) != 1 {
			t.Fatal("the anchor file was overwritten after a rollback")
		}
	})
}

// Stores from before the keyed chain hold a plain one: a keyed hub re-keys it at start, in one
// transaction, and records that it did; a broken plain chain is refused, not laundered.
func TestEnsureKeyedMigratesPlainChain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		plain := New(db)
		old := appendN(t, plain, 15)
		k := chainKey(t)
		l := NewKeyed(db, k)
		if _, err := l.Append(ctx, entry(0)); !errors.Is(err, ErrChainKey) {
			t.Fatalf("append to a plain chain before re-keying: %v", err)
		}
		if rep := mustVerify(t, l); rep.OK || rep.Problem != ProblemUnkeyed {
			t.Fatalf("a keyed hub verifying a plain chain: %+v", rep)
		}
		// A broken plain chain is not re-keyed.
		mustExecAll(t, db, `UPDATE audit_entries SET actor = 'mallory' WHERE seq = 4`)
		if _, err := l.EnsureKeyed(ctx, "system", nil); err == nil || !strings.Contains(err.Error(), "seq 4") {
			t.Fatalf("EnsureKeyed over a broken chain: %v", err)
		}
		if rep := mustVerify(t, plain); rep.OK || rep.BrokenSeq != 4 || rep.Scheme != SchemePlain {
			t.Fatalf("a refused re-keying changed the chain: %+v", rep)
		}
		if _, err := db.Exec(ctx, `UPDATE audit_entries SET actor = ? WHERE seq = 4`, old[3].Actor); err != nil {
			t.Fatal(err)
		}
		n, err := l.EnsureKeyed(ctx, "system", nil)
		if err != nil || n != 15 {
			t.Fatalf("EnsureKeyed = %d, %v", n, err)
		}
		rep := mustVerify(t, l)
		if !rep.OK || rep.Checked != 16 || rep.Scheme != SchemeKeyed || rep.KeyID != k.ID() {
			t.Fatalf("Verify after re-keying = %+v", rep)
		}
		p, err := l.List(ctx, Filter{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		last := p.Entries[0]
		var d map[string]any
		_ = json.Unmarshal([]byte(last.Details), &d)
		if last.Action != "audit.rekey" || last.Actor != "system" || d["entries_rekeyed"] != float64(15) ||
			d["old_head"] != (Anchor{Seq: 15, Hash: old[14].Hash}).String() || d["key_id"] != k.ID() {
			t.Fatalf("re-key entry %+v", last)
		}
		// The entries kept their content; only the links changed.
		all, err := l.List(ctx, Filter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all.Entries[1:] {
			o := old[e.Seq-1]
			if e.Actor != o.Actor || e.Details != o.Details || !e.At.Equal(o.At) || e.Hash == o.Hash {
				t.Fatalf("entry %d: %+v, was %+v", e.Seq, e, o)
			}
		}
		if n, err := l.EnsureKeyed(ctx, "system", nil); err != nil || n != 0 {
			t.Fatalf("second EnsureKeyed = %d, %v", n, err)
		}
		if _, err := plain.Append(ctx, entry(1)); !errors.Is(err, ErrChainKey) {
			t.Fatalf("a keyless writer appended to the keyed chain: %v", err)
		}
	})
}

func TestParseAnchor(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for in, ok := range map[string]bool{
		"12:" + h:                  true,
		" 12:" + h + "\n":          true,
		"0:" + ZeroHash:            true,
		"0:" + h:                   false,
		"12:" + strings.ToUpper(h): false,
		"12:" + h[:63]:             false,
		"-1:" + h:                  false,
		"12" + h:                   false,
		"x:" + h:                   false,
		"":                         false,
	} {
		a, err := ParseAnchor(in)
		if (err == nil) != ok || (ok && a.String() != strings.TrimSpace(in)) {
			t.Errorf("ParseAnchor(%q) = %v, %v", in, a, err)
		}
	}
}

// The anchor file is a stored format that operators' tools read.
func TestAnchorFileGolden(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, AnchorFileName)
	at := time.Date(2026, 12, 3, 14, 5, 0, 0, time.UTC)
	for i := range 4 {
		a := Anchor{Seq: int64(10 * (i + 1)), Hash: strings.Repeat(string("0123"[i]), 64), At: at.Add(time.Duration(i) * 5 * time.Minute),
			Scheme: SchemeKeyed, KeyID: "0123456789abcdef"}
		if err := AddAnchor(path, a, 3); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "anchor-file.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("anchor file:\n%s\nwant (testdata, -update to rewrite):\n%s", got, want)
	}
	af, err := ReadAnchorFile(path)
	if err != nil || len(af.Anchors) != 3 || af.Anchors[0].Seq != 20 {
		t.Fatalf("read back %+v, %v", af, err)
	}
	if a, ok := af.Latest("0123456789abcdef"); !ok || a.Seq != 40 {
		t.Fatalf("Latest = %+v", a)
	}
	if _, ok := af.Latest("other"); ok {
		t.Fatal("Latest found an anchor of another key")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	// A file that is not an anchor file is refused, not overwritten.
	if err := os.WriteFile(path, []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := AddAnchor(path, Anchor{Seq: 1, Hash: strings.Repeat("a", 64)}, 0); err == nil {
		t.Fatal("an unreadable anchor file was overwritten")
	}
}
