package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
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
)

// Report is the result of Verify.
type Report struct {
	OK bool `json:"ok"`
	// Checked is how many entries were verified before the first problem (all, when OK).
	Checked int64 `json:"checked"`
	// HeadSeq and HeadHash are the head as read (the log's last seq and hash).
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
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
// first problem; the error is for failures to read. Appends may go on meanwhile: entries they
// add lie beyond that head and are left for the next verification. See the package doc for
// what a hash chain can and cannot prove.
func (l *Log) Verify(ctx context.Context) (Report, error) {
	rep := Report{OK: true, HeadHash: ZeroHash}
	lastSeq, lastHash := int64(0), ZeroHash
	headSeq, headHash, err := l.Head(ctx)
	if errors.Is(err, ErrNoHead) {
		// Still check the chain, so an edit in it is reported first.
		if ok, err := l.walk(ctx, &rep, &lastSeq, &lastHash, math.MaxInt64); err != nil || !ok {
			return rep, err
		}
		rep.fail(lastSeq+1, ProblemHead, "the head row (audit_head) is missing, so deletions after entry %d cannot be ruled out", lastSeq)
		return rep, nil
	}
	if err != nil {
		return Report{}, fmt.Errorf("verify audit log: %w", err)
	}
	rep.HeadSeq, rep.HeadHash = headSeq, headHash
	// Entries and head commit together, so every entry up to this head is visible from here on
	// (unless deleted).
	if ok, err := l.walk(ctx, &rep, &lastSeq, &lastHash, headSeq); err != nil || !ok {
		return rep, err
	}
	if lastSeq != headSeq {
		rep.fail(lastSeq+1, ProblemTruncated, "the log ends at seq %d but its head records seq %d: %s deleted", lastSeq, headSeq, span(lastSeq+1, headSeq))
		return rep, nil
	}
	if lastHash != headHash {
		rep.fail(headSeq, ProblemHead, "entry %d's hash differs from the one its head records: the last entry was replaced", headSeq)
		return rep, nil
	}
	// An entry the log appended has a seq no higher than the head at any later moment, so
	// reading the highest seq first and the head second tells appends from insertions.
	var maxSeq sql.NullInt64
	if err := l.db.QueryRow(ctx, `SELECT max(seq) FROM audit_entries`).Scan(&maxSeq); err != nil {
		return Report{}, fmt.Errorf("verify audit log in %s: %w", l.db.Where, err)
	}
	if !maxSeq.Valid || maxSeq.Int64 <= headSeq {
		return rep, nil
	}
	now, _, err := l.Head(ctx)
	if err != nil && !errors.Is(err, ErrNoHead) {
		return Report{}, fmt.Errorf("verify audit log: %w", err)
	}
	if err != nil || maxSeq.Int64 > now {
		rep.fail(headSeq+1, ProblemHead, "entries up to seq %d lie beyond the head (seq %d): added outside the log", maxSeq.Int64, headSeq)
	}
	return rep, nil
}

// walk verifies entries (lastSeq, upTo], advancing lastSeq and lastHash; false means a problem
// was recorded in rep.
func (l *Log) walk(ctx context.Context, rep *Report, lastSeq *int64, lastHash *string, upTo int64) (bool, error) {
	rows, err := l.db.Query(ctx, `SELECT `+columns+` FROM audit_entries WHERE seq > ? AND seq <= ? ORDER BY seq`, *lastSeq, upTo)
	if err != nil {
		return false, fmt.Errorf("verify audit log in %s: %w", l.db.Where, err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		e, at, err := scanEntry(rows)
		if err != nil {
			return false, fmt.Errorf("verify audit log in %s: %w", l.db.Where, err)
		}
		if want := *lastSeq + 1; e.Seq != want {
			rep.fail(want, ProblemMissing, "%s missing: the chain jumps from seq %d to %d", span(want, e.Seq-1), *lastSeq, e.Seq)
			return false, nil
		}
		if hashWith(e, at) != e.Hash {
			rep.fail(e.Seq, ProblemEdited, "entry %d does not match its hash: it was edited, renumbered or moved", e.Seq)
			return false, nil
		}
		if e.PrevHash != *lastHash {
			if e.Seq == 1 {
				rep.fail(e.Seq, ProblemBrokenLink, "entry 1's prev_hash is not zero: entries before it were removed, or it was rewritten")
			} else {
				rep.fail(e.Seq, ProblemBrokenLink, "entry %d's prev_hash does not match entry %d's hash: entry %d was rewritten with a recomputed hash, or entries were removed or reordered", e.Seq, e.Seq-1, e.Seq-1)
			}
			return false, nil
		}
		*lastSeq, *lastHash = e.Seq, e.Hash
		rep.Checked++
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("verify audit log in %s: %w", l.db.Where, err)
	}
	return true, nil
}

func span(from, to int64) string {
	if from == to {
		return fmt.Sprintf("entry %d was", from)
	}
	return fmt.Sprintf("entries %d to %d were", from, to)
}
