package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Position is an opaque resume token owned by a source: opening the source at a position
// yields exactly the records after the one the position was taken at.
type Position []byte

// AckFunc tells a source what became of a batch: nil means written and durable in the sink
// (after the flush or commit that covers it), an error that the run failed or was cancelled
// before then and the batch must be delivered again. It is called at most once per batch;
// the package documentation has the whole contract. Sources whose positions alone make them
// resumable (files, tables) return NopAck.
type AckFunc func(ctx context.Context, err error) error

// NopAck is the AckFunc of sources that need no acknowledgement.
func NopAck(context.Context, error) error { return nil }

// AckPacer is implemented by sources that need their batches acknowledged sooner than the
// engine's checkpoint interval would: a broker that redelivers a message unacknowledged after
// an ack wait, or stops delivering past a number of unacknowledged messages. The engine then
// flushes (and acks) at least every half of wait and every half of records, and also when
// the source goes quiet. A replace makes nothing durable before its final commit, so there
// the acks still wait for the end of the run.
type AckPacer interface {
	// AckPace returns how long a batch may wait for its acknowledgement after Read returned
	// it and how many records may wait at once; zero means no bound.
	AckPace() (wait time.Duration, records int64)
}

// ErrEndOfInput is returned by Source.Read when a batch source has no more records.
var ErrEndOfInput = errors.New("end of input")

// Batch is a group of records read together. Rows hold values in the order of the source's
// Schema, typed as the package documentation lists.
type Batch struct {
	Rows [][]any
	// Lines holds, for text sources, the 1-based line each row starts on (same length as
	// Rows); nil for sources without lines.
	Lines []int64
	// Rejects are records the source could not decode; they are counted and quarantined.
	Rejects []Reject
	// Bytes is how many bytes of the source this batch consumed (an estimate for databases).
	Bytes int64
	// Pos is the position after the last record of the batch, nil when the source cannot resume.
	Pos Position
}

// Len is the number of good rows in the batch.
func (b *Batch) Len() int { return len(b.Rows) }

// Reject is one record that could not be read, converted or written, with the reason.
type Reject struct {
	// Record is the 1-based record number in the source (data records, header excluded).
	Record int64 `json:"record,omitempty"`
	// Line is the 1-based line of a text source on which the record starts.
	Line   int64  `json:"line,omitempty"`
	Column string `json:"column,omitempty"`
	Value  string `json:"value,omitempty"`
	Reason string `json:"reason"`
	// Raw is the record's text when it could not be decoded at all.
	Raw string `json:"raw,omitempty"`
	// Data is the record's values by column name, when it was decoded.
	Data map[string]any `json:"data,omitempty"`
}

// Source reads records.
type Source interface {
	// Open prepares to read after position from (nil: from the start).
	Open(ctx context.Context, from Position) error
	// Schema describes the records Read returns. Valid after Open.
	Schema(ctx context.Context) (Schema, error)
	// Read returns the next batch, or ErrEndOfInput when a batch source is done. A batch may
	// hold only rejects. On cancellation it returns ctx.Err().
	Read(ctx context.Context) (*Batch, AckFunc, error)
	// Close releases the source; calling it twice is harmless.
	Close(ctx context.Context) error
}

// WriteMode says what a sink does with the rows already in its target.
type WriteMode string

// The write modes.
const (
	// ModeAppend adds the rows to the target.
	ModeAppend WriteMode = "append"
	// ModeReplace makes the target hold exactly the rows written, swapped in atomically on
	// Commit: a failed run leaves the old content intact.
	ModeReplace WriteMode = "replace"
	// ModeUpsert inserts new keys and updates existing ones; writing the same rows twice has
	// the effect of writing them once.
	ModeUpsert WriteMode = "upsert"
)

// ParseWriteMode validates a mode name.
func ParseWriteMode(s string) (WriteMode, error) {
	switch m := WriteMode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeAppend, ModeReplace, ModeUpsert:
		return m, nil
	case "":
		return ModeAppend, nil
	}
	return "", fmt.Errorf("unknown write mode %q (want append, replace or upsert)", s)
}

// SinkOptions steer how a sink writes.
type SinkOptions struct {
	Mode WriteMode
	// Key names the columns upsert matches on; when the target is created they become its
	// primary key. Empty for upsert means the target's own primary key.
	Key []string
	// RunID identifies the run, for sinks that keep positions or staging objects per run.
	RunID string
}

// Sink writes records.
type Sink interface {
	// Open prepares the target for records of schema s, creating it from s when missing,
	// and returns the target's own description of the same columns, in the same order, so
	// the engine can convert and check values before writing. A source column the target
	// lacks is an error that names the column.
	Open(ctx context.Context, s Schema, opts SinkOptions) (Schema, error)
	// Write stores the batch's rows, already converted to the types Open returned. It either
	// writes every row, or returns RecordErrors naming the rows it could not write (having
	// written all the others), or returns another error having written none.
	Write(ctx context.Context, b *Batch) error
	// Flush makes everything written so far durable where the mode allows it (append and
	// upsert commit; replace keeps staging until Commit). pos is the source position after
	// the last row written; a PositionStore keeps it atomically with the data.
	Flush(ctx context.Context, pos Position) error
	// Commit finishes the write (replace swaps the staged data in). Nothing written is
	// visible in a replace target before Commit.
	Commit(ctx context.Context) error
	// Close releases the sink and discards uncommitted work; calling it twice is harmless.
	Close(ctx context.Context) error
}

// PositionStore is implemented by sinks that keep the source position in the target, in the
// same transaction as the rows (see Sink.Flush), so that a resumed run neither skips nor
// repeats a row even if it was killed between a commit and the hub's own checkpoint.
type PositionStore interface {
	// SavedPosition returns the position last flushed for opts.RunID, or nil.
	SavedPosition(ctx context.Context) (Position, error)
}

// NULRefuser is implemented by sinks whose text columns cannot hold a NUL byte (U+0000) as
// it is: PostgreSQL refuses it, SQLite would store it where most readers cut the text short.
// The engine rejects such values, naming the field, before they reach the sink.
type NULRefuser interface {
	RefusesNUL() bool
}

// RawSource can stream its records in a native wire format (for example PostgreSQL's binary
// COPY) that a RawSink of the same format takes without decoding.
type RawSource interface {
	// RawFormat names the format it can stream for these columns, or "" when it cannot.
	RawFormat(cols []string) string
	// ReadRaw writes the named columns of every record to w and returns the record count.
	ReadRaw(ctx context.Context, cols []string, w io.Writer) (int64, error)
}

// RawSink takes a RawSource's stream; it is used only when no value needs converting.
type RawSink interface {
	// AcceptsRaw reports whether WriteRaw takes the format.
	AcceptsRaw(format string) bool
	// WriteRaw stores the stream into the columns Open was given and returns the rows written.
	// Any error leaves nothing written (the engine then retries through the generic path).
	WriteRaw(ctx context.Context, format string, r io.Reader) (int64, error)
}

// RecordError says why one row of a batch was not written.
type RecordError struct {
	Index  int // row index in the batch
	Column string
	Err    error
}

func (e RecordError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("row %d column %s: %v", e.Index, e.Column, e.Err)
	}
	return fmt.Sprintf("row %d: %v", e.Index, e.Err)
}

// RecordErrors is returned by Sink.Write when some rows were refused and all others written.
type RecordErrors []RecordError

func (e RecordErrors) Error() string {
	if len(e) == 0 {
		return "no record errors"
	}
	if len(e) == 1 {
		return e[0].Error()
	}
	return fmt.Sprintf("%d rows refused; first: %v", len(e), e[0])
}

// Entry describes an object in a Store.
type Entry struct {
	Path    string    `json:"path"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
	IsDir   bool      `json:"is_dir,omitempty"`
	// SHA256 is the hex digest of the content when known.
	SHA256 string `json:"sha256,omitempty"`
}

// Store holds objects: local folders, SFTP servers, object stores. Paths are relative to the
// store's root and never escape it.
type Store interface {
	List(ctx context.Context, dir string) ([]Entry, error)
	Open(ctx context.Context, path string) (io.ReadCloser, Entry, error)
	// Put writes under a temporary name and renames into place once complete.
	Put(ctx context.Context, path string, r io.Reader) (Entry, error)
	Remove(ctx context.Context, path string) error
}

// Meter is implemented by sinks that know how many bytes they sent to their target; the
// engine otherwise estimates bytes written from bytes read.
type Meter interface {
	BytesWritten() int64
}

// Size is how much a source holds, as far as it knows before reading: rows (a table's
// estimate from the database's statistics) or bytes (a file's size); zero for what it does not
// know.
type Size struct {
	Rows  int64
	Bytes int64
}

// Sizer is implemented by sources that can tell their size cheaply once open (no scan of the
// data), so that progress shows a percentage and the time left. It is asked once, after Open
// and before the first Read; ok is false when the size is not known.
type Sizer interface {
	Size(ctx context.Context) (s Size, ok bool)
}

// TextSource is implemented by sources whose string columns hold text no type was declared
// for (a CSV field, a JSON string), so that the engine may type the columns of a table it
// creates from the values (see internal/infer).
type TextSource interface {
	// SelfTyped reports whether the format types values itself (JSON numbers and booleans):
	// its strings are then strings on purpose, and only those that read as dates, timestamps
	// or UUIDs are typed.
	SelfTyped() bool
}

// TableCreator is implemented by database sinks that create a missing target table from the
// schema Open is given (an existing table keeps its own column types), so that the engine may
// pass types inferred from a text source.
type TableCreator interface {
	// Created reports, after Open, whether Open created the target table.
	Created() bool
}
