package jsonval

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
)

// Record is one raw record of a JSON text format: an NDJSON line or a JSON array element.
type Record struct {
	// Raw is the record's text, valid until the next call to Next.
	Raw []byte
	// Line is the line the record starts on.
	Line int64
	// End and NextLine are the offset and line where reading resumes after this record.
	End, NextLine int64
	// Problem, when set, says why the record could not even be delimited or read; it becomes
	// a Reject.
	Problem string
}

// Records yields the raw records of a JSON text format.
type Records interface {
	// Next returns the next record, or io.EOF after the last one.
	Next() (Record, error)
	// Offset returns where the records consumed so far end (offset, line).
	Offset() (int64, int64)
}

// Reader batches records from a Records, decoding them with a schema inferred from a sample.
type Reader struct {
	src     Records
	dec     *Decoder
	schema  connector.Schema
	pending []Record // sampled records not yet returned (copies)
	batch   int
	rec     int64 // records read so far
	off     int64 // offset after the last record returned
	line    int64
	done    bool
}

// NewReader reads records from head, or, when from is set, infers the schema from head and
// reads records from rest (which starts at from). sample bounds the objects looked at for the
// schema; only they are buffered.
func NewReader(head, rest Records, sample, batchSize int, from *format.Position) (*Reader, error) {
	if sample <= 0 {
		sample = format.DefaultSample
	}
	if batchSize <= 0 {
		batchSize = 10000
	}
	r := &Reader{batch: batchSize, line: 1}
	var raws [][]byte
	for len(r.pending) < sample {
		rec, err := head.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		rec.Raw = bytes.Clone(rec.Raw)
		r.pending = append(r.pending, rec)
		if rec.Problem == "" {
			raws = append(raws, rec.Raw)
		}
	}
	schema, index := Infer(raws)
	if len(schema.Columns) == 0 {
		return nil, fmt.Errorf("no JSON object with fields among the first %d records: cannot tell the columns", sample)
	}
	r.schema = schema
	r.dec = NewDecoder(schema, index, sample)
	r.src = head
	if from != nil {
		r.pending = nil
		r.src = rest
		r.off, r.line, r.rec = from.Offset, from.Line, from.Record-1
	}
	return r, nil
}

// Schema describes the rows.
func (r *Reader) Schema() connector.Schema { return r.schema }

// Close does nothing: the reader owns no resources.
func (r *Reader) Close() error { return nil }

// Read returns the next batch.
func (r *Reader) Read(ctx context.Context) (*connector.Batch, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.done {
		return nil, connector.ErrEndOfInput
	}
	start := r.off
	b := &connector.Batch{}
	n := 0
	for n < r.batch {
		if n&255 == 255 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var rec Record
		if len(r.pending) > 0 {
			rec = r.pending[0]
			r.pending[0] = Record{}
			r.pending = r.pending[1:]
		} else {
			var err error
			rec, err = r.src.Next()
			if errors.Is(err, io.EOF) {
				r.done = true
				r.off, r.line = r.src.Offset()
				break
			}
			if err != nil {
				return nil, err
			}
		}
		n++
		r.rec++
		r.off, r.line = rec.End, rec.NextLine
		if rec.Problem != "" {
			b.Rejects = append(b.Rejects, connector.Reject{Record: r.rec, Line: rec.Line, Reason: rec.Problem, Raw: format.RawText(rec.Raw)})
			continue
		}
		row, col, why := r.dec.Decode(rec.Raw)
		if why != "" {
			b.Rejects = append(b.Rejects, connector.Reject{Record: r.rec, Line: rec.Line, Column: col, Reason: why, Raw: format.RawText(rec.Raw)})
			continue
		}
		b.Rows = append(b.Rows, row)
		b.Lines = append(b.Lines, rec.Line)
	}
	if n == 0 && r.off == start {
		return nil, connector.ErrEndOfInput
	}
	b.Bytes = r.off - start
	b.Pos = format.Position{Offset: r.off, Line: r.line, Record: r.rec + 1}.Encode()
	return b, nil
}
