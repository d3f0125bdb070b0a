package engine

import (
	"bytes"
	"encoding/binary"

	"github.com/datahub-oss/datahub/connector"
)

// checkpointMagic starts a checkpoint: the counters at a commit followed by the source's own
// position. The engine hands checkpoints, not bare source positions, to sinks (Flush) and to
// the transaction log, so that whoever resumes a run learns from the same record where the
// source stands and how much was committed up to there: a sink that committed but whose
// checkpoint never reached the transaction log (killed in between) still resumes with exact
// counters.
const checkpointMagic = "\x00dhck1"

// encodeCheckpoint wraps a source position with the counters committed with it.
func encodeCheckpoint(pos connector.Position, s Stats) connector.Position {
	if pos == nil {
		return nil
	}
	b := make([]byte, 0, len(checkpointMagic)+5*binary.MaxVarintLen64+len(pos))
	b = append(b, checkpointMagic...)
	for _, n := range []int64{s.RowsRead, s.RowsWritten, s.RowsRejected, s.BytesRead, s.BytesWritten} {
		b = binary.AppendVarint(b, n)
	}
	return append(b, pos...)
}

// decodeCheckpoint splits a checkpoint into the source position and the counters; ok is false
// for a bare source position (recorded before checkpoints carried counters), which is returned
// as it is.
func decodeCheckpoint(p connector.Position) (pos connector.Position, s Stats, ok bool) {
	if !bytes.HasPrefix(p, []byte(checkpointMagic)) {
		return p, Stats{}, false
	}
	rest := p[len(checkpointMagic):]
	var n [5]int64
	for i := range n {
		v, k := binary.Varint(rest)
		if k <= 0 {
			return p, Stats{}, false
		}
		n[i], rest = v, rest[k:]
	}
	return rest, Stats{RowsRead: n[0], RowsWritten: n[1], RowsRejected: n[2], BytesRead: n[3], BytesWritten: n[4]}, true
}

// CheckpointStats returns the counters committed with a checkpoint (Result.Position, or what
// OnCheckpoint was given); false for a bare source position.
func CheckpointStats(p connector.Position) (Stats, bool) {
	_, s, ok := decodeCheckpoint(p)
	return s, ok
}
