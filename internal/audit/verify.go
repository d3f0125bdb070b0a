package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// Problem classes what Verify found.
type Problem string

// The problems Verify reports.
const (
	// ProblemEdited: an entry's hash does not match its fields (edited, renumbered or moved).
	ProblemEdited Problem = "edited"
	// ProblemMissing: a seq is missing from the middle of the chain (deleted).
	ProblemMissing Problem = "missing"
	// ProblemBrokenLink: an entry's prev_hash is not the previous entry's hash (the previous
	// entry was rewritten with a recomputed hash, or entries were removed or reordered).
	ProblemBrokenLink Problem = "broken-link"
	// ProblemTruncated: the chain ends before the seq its head records (last entries deleted).
	ProblemTruncated Problem = "truncated"
	// ProblemHead: the head row is missing, disagrees with the last entry's hash, or entries
	// exist beyond it (added outside the log).
	ProblemHead Problem = "head"
	// ProblemUnkeyed: the chain is a plain SHA-256 chain, but this hub keys its chain: someone
	// without the key rewrote it (a keyed hub never writes a plain chain).
	ProblemUnkeyed Problem = "unkeyed"
	// ProblemRollback: the chain ends before an anchor's seq: its tail was removed and the
	// head moved back (see VerifyAnchor).
	ProblemRollback Problem = "rollback"
	// ProblemAnchor: the entry at an anchor's seq has another hash than the anchor records:
	// the chain was rewritten up to there (see VerifyAnchor).
	ProblemAnchor Problem = "anchor"
)

// Report is the result of Verify.
type Report struct {
	OK bool `json:"ok"`
	// Checked is how many entries were verified before the first problem (all, when OK).
	Checked int64 `json:"checked"`
	// HeadSeq and HeadHash are the head as read (the log's last seq and hash).
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	// Scheme and KeyID are the chain's scheme and master key id as the head records them.
	Scheme string `json:"scheme,omitempty"`
	KeyID  string `json:"key_id,omitempty"`
	// Anchor is the anchor the chain was checked against (VerifyAnchor), nil without one.
	Anchor *Anchor `json:"anchor,omitempty"`
	// BrokenSeq is the first seq found broken, Problem what is wrong, Detail in words.
	BrokenSeq int64   `json:"broken_seq,omitempty"`
	Problem   Problem `json:"problem,omitempty"`
	Detail    string  `json:"detail,omitempty"`
}

func (r Report) String() string {
	if r.OK {
		return fmt.Sprintf("audit log intact: %d entries, head seq %d hash %s", r.Checked, r.HeadSeq, r.HeadHash)
	}
	return fmt.Sprintf("audit log broken at seq %d (%s): %s", r.BrokenSeq, r.Problem, r.Detail)
}

func (r *Report) fail(seq int64, p Problem, format string, args ...any) {
	r.OK, r.BrokenSeq, r.Problem, r.Detail = false, seq, p, fmt.Sprintf(format, args...)
}

// Verify walks the chain from the first entry up to the head it reads first, and reports the
// first problem; the error is for failures to read, and wraps ErrChainKey when the chain is
// keyed with a key this log does not have. Appends may go on meanwhile: entries they add lie
// beyond that head and are left for the next verification. See the package doc for what the
// chain can and cannot prove, and VerifyAnchor for the check against an anchor.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	key := l.Key()
	rep := Report{OK: true, HeadHash: ZeroHash}
	c := chain{q: l.db, where: l.db.Where, rep: &rep, lastHash: ZeroHash, key: key.mac}
	h, err := l.head(ctx)
	if errors.Is(err, ErrNoHead) {
		// Still check the chain (under this log's scheme), so an edit in it is reported first.
		if ok, err := c.walk(ctx, math.MaxInt64); err != nil || !ok {
			return rep, err
		}
		rep.fail(c.lastSeq+1, ProblemHead, "the head row (audit_head) is missing, so deletions after entry %d cannot be ruled out", c.lastSeq)
		return rep, nil
	}
	if err != nil {
		return Report{}, fmt.Errorf("verify audit log: %w", err)
	}
	rep.HeadSeq, rep.HeadHash, rep.Scheme, rep.KeyID = h.seq, h.hash, h.scheme, h.keyID
	switch {
	case h.scheme == SchemePlain && !key.IsZero():
		// Walk it as a plain chain, so an edit that was not even re-hashed is reported as
		// such; a chain that holds together as a plain one is a rewrite without the key.
		c.key = nil
	case h.scheme != SchemePlain && h.scheme != SchemeKeyed:
		return Report{}, fmt.Errorf("verify audit log: unknown chain scheme %q in audit_head", h.scheme)
	case !h.matches(key):
		return Report{}, fmt.Errorf("verify audit log: %w", h.keyMismatch(key))
	}
	// Entries and head commit together, so every entry up to this head is visible from here on
	// (unless deleted).
	if ok, err := c.walk(ctx, h.seq); err != nil || !ok {
		return rep, err
	}
	if c.lastSeq != h.seq {
		rep.fail(c.lastSeq+1, ProblemTruncated, "the log ends at seq %d but its head records seq %d: %s deleted", c.lastSeq, h.seq, span(c.lastSeq+1, h.seq))
		return rep, nil
	}
	if c.lastHash != h.hash {
		rep.fail(h.seq, ProblemHead, "entry %d's hash differs from the one its head records: the last entry was replaced", h.seq)
		return rep, nil
	}
	if h.scheme == SchemePlain && !key.IsZero() && h.seq > 0 {
		rep.fail(1, ProblemUnkeyed, "the chain is a plain SHA-256 chain, which anyone who can write the store can recompute, but this hub chains under %s: it was rewritten without the key", key)
		return rep, nil
	}
	// An entry the log appended has a seq no higher than the head at any later moment, so
	// reading the highest seq first and the head second tells appends from insertions.
	var maxSeq sql.NullInt64
	if err := l.db.QueryRow(ctx, `SELECT max(seq) FROM audit_entries`).Scan(&maxSeq); err != nil {
		return Report{}, fmt.Errorf("verify audit log in %s: %w", l.db.Where, err)
	}
	if !maxSeq.Valid || maxSeq.Int64 <= h.seq {
		return rep, nil
	}
	now, _, err := l.Head(ctx)
	if err != nil && !errors.Is(err, ErrNoHead) {
		return Report{}, fmt.Errorf("verify audit log: %w", err)
	}
	if err != nil || maxSeq.Int64 > now {
		rep.fail(h.seq+1, ProblemHead, "entries up to seq %d lie beyond the head (seq %d): added outside the log", maxSeq.Int64, h.seq)
	}
	return rep, nil
}

// VerifyAnchor verifies the chain (Verify) and then that it still holds anchor a: a chain
// that ends before a.Seq had its tail rolled back, one whose entry a.Seq has another hash was
// rewritten. An anchor taken under another master key (before a rotation re-keyed the chain)
// cannot be compared: that is an error wrapping ErrChainKey, not a broken chain.
func (l *Log) VerifyAnchor(ctx context.Context, a Anchor) (Report, error) {
	rep, err := l.Verify(ctx)
	if err != nil || !rep.OK {
		return rep, err
	}
	if a.KeyID != "" && (a.KeyID != rep.KeyID || a.Scheme != rep.Scheme) {
		return rep, fmt.Errorf("verify audit log against the anchor of %s: %w: the anchor was taken from %s, the chain is now %s (re-keyed since): use an anchor written after the re-keying",
			a.At.Format(time.RFC3339), ErrChainKey, describe(a.Scheme, a.KeyID), describe(rep.Scheme, rep.KeyID))
	}
	rep.Anchor = &a
	if a.Seq > rep.HeadSeq {
		rep.fail(rep.HeadSeq+1, ProblemRollback, "the chain ends at seq %d, but the anchor %s records seq %d: %s removed and the head moved back (the tail was rolled back)",
			rep.HeadSeq, a, a.Seq, span(rep.HeadSeq+1, a.Seq))
		return rep, nil
	}
	if a.Seq == 0 {
		return rep, nil
	}
	var got string
	err = l.db.QueryRow(ctx, `SELECT hash FROM audit_entries WHERE seq = ?`, a.Seq).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		// Verify just saw it: it was deleted meanwhile.
		rep.fail(a.Seq, ProblemMissing, "entry %d, which the anchor records, is missing", a.Seq)
		return rep, nil
	}
	if err != nil {
		return Report{}, fmt.Errorf("verify audit log in %s: %w", l.db.Where, err)
	}
	if got != a.Hash {
		rep.fail(a.Seq, ProblemAnchor, "entry %d's hash is %s, but the anchor %s records %s: the chain was rewritten up to there", a.Seq, got, a, a.Hash)
	}
	return rep, nil
}

// chain walks entries in seq order, checking each against the previous one.
type chain struct {
	q     querier
	where string
	rep   *Report
	key   []byte // nil: the plain scheme
	// lastSeq and lastHash are the last entry verified (0 and ZeroHash before the first).
	lastSeq  int64
	lastHash string
	// each, when set, is called for every verified entry, with its time as stored.
	each func(e Entry, at string) error
}

// walkPage is how many entries one query of walk reads: a transaction cannot run statements
// while a result is open, and re-keying updates entries as it walks them.
const walkPage = 1000

// walk verifies entries (lastSeq, upTo]; false means a problem was recorded in rep.
func (c *chain) walk(ctx context.Context, upTo int64) (bool, error) {
	for {
		page, err := c.page(ctx, upTo)
		if err != nil {
			return false, fmt.Errorf("verify audit log in %s: %w", c.where, err)
		}
		for _, p := range page {
			if !c.check(p.e, p.at) {
				return false, nil
			}
			if c.each != nil {
				if err := c.each(p.e, p.at); err != nil {
					return false, err
				}
			}
		}
		if len(page) < walkPage {
			return true, nil
		}
	}
}

type storedEntry struct {
	e  Entry
	at string
}

func (c *chain) page(ctx context.Context, upTo int64) ([]storedEntry, error) {
	rows, err := c.q.Query(ctx, `SELECT `+columns+` FROM audit_entries WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`, c.lastSeq, upTo, walkPage)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []storedEntry
	for rows.Next() {
		e, at, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, storedEntry{e, at})
	}
	return out, rows.Err()
}

// check verifies one entry after the last one; false means a problem was recorded.
func (c *chain) check(e Entry, at string) bool {
	rep := c.rep
	if want := c.lastSeq + 1; e.Seq != want {
		rep.fail(want, ProblemMissing, "%s missing: the chain jumps from seq %d to %d", span(want, e.Seq-1), c.lastSeq, e.Seq)
		return false
	}
	if hashWith(e, at, c.key) != e.Hash {
		rep.fail(e.Seq, ProblemEdited, "entry %d does not match its hash: it was edited, renumbered or moved", e.Seq)
		return false
	}
	if e.PrevHash != c.lastHash {
		if e.Seq == 1 {
			rep.fail(e.Seq, ProblemBrokenLink, "entry 1's prev_hash is not zero: entries before it were removed, or it was rewritten")
		} else {
			rep.fail(e.Seq, ProblemBrokenLink, "entry %d's prev_hash does not match entry %d's hash: entry %d was rewritten with a recomputed hash, or entries were removed or reordered", e.Seq, e.Seq-1, e.Seq-1)
		}
		return false
	}
	c.lastSeq, c.lastHash = e.Seq, e.Hash
	rep.Checked++
	return true
}

func span(from, to int64) string {
	if from == to {
		return fmt.Sprintf("entry %d was", from)
	}
	return fmt.Sprintf("entries %d to %d were", from, to)
}
