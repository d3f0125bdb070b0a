// Package gen is a Data Hub connector, built outside the hub's repository with only its public
// SDK, that generates synthetic rows: "gen:?rows=1000&seed=42" is a source of 1,000 records
// with an int64 key "id" (1, 2, 3 ...) and one column of every logical type the SDK has.
//
// Every value is a function of the seed, the record's id and the column alone, so the same URL
// gives the same records on every run and machine, and a read resumed from a position gives
// exactly the records after it. Options: rows (how many records), seed, and nulls (the
// percentage of NULLs in every column but id; with 0, the default, every column is NOT NULL).
package gen

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/datahub-oss/datahub/connector"
)

const (
	optRows  = "rows"
	optSeed  = "seed"
	optNulls = "nulls"

	// defaultBatch is the batch size when the endpoint asks for none.
	defaultBatch = 1000
)

// init registers the connector with its options, which the registry parses and checks by
// type: a bad value is refused naming the option, the value and what is allowed.
func init() {
	connector.Register(connector.Spec{
		Name:    "gen",
		Schemes: []string{"gen"},
		Summary: "Synthetic rows: an int64 key id and one column of every logical type, the same for the same seed",
		Example: "gen:?rows=1000&seed=42",
		Options: []connector.Option{
			{Name: optRows, Type: connector.OptInt, Range: &connector.IntRange{Min: 0, Max: math.MaxInt64},
				Help: "number of records to generate", Default: "1000"},
			{Name: optSeed, Type: connector.OptInt, Help: "seed of the values: the same seed gives the same records", Default: "1"},
			{Name: optNulls, Type: connector.OptInt, Range: &connector.IntRange{Min: 0, Max: 100},
				Help: "percentage of NULLs in every column but id; 0 makes them NOT NULL", Default: "0"},
		},
		NewSource: func(_ context.Context, e connector.Endpoint) (connector.Source, error) {
			return newSource(e)
		},
	})
}

// columns is the schema of every gen source; the nullability is set from the nulls option.
var columns = []connector.Column{
	{Name: "id", Type: connector.TypeInt64},
	{Name: "quantity", Type: connector.TypeInt64},
	{Name: "score", Type: connector.TypeFloat64},
	{Name: "price", Type: connector.TypeDecimal, Precision: 12, Scale: 2},
	{Name: "name", Type: connector.TypeString},
	{Name: "active", Type: connector.TypeBool},
	{Name: "born_on", Type: connector.TypeDate},
	{Name: "local_time", Type: connector.TypeTimestamp},
	{Name: "created_at", Type: connector.TypeTimestampTZ},
	{Name: "payload", Type: connector.TypeBytes},
	{Name: "attributes", Type: connector.TypeJSON},
	{Name: "uid", Type: connector.TypeUUID},
}

// source generates the records; next is the id of the next record Read returns.
type source struct {
	e      connector.Endpoint
	rows   int64
	seed   uint64
	nulls  uint64
	batch  int
	schema connector.Schema
	next   int64
	opened bool
	closed bool
}

var _ connector.Source = (*source)(nil)

// newSource checks the endpoint's URL and options; nothing is generated before Open.
func newSource(e connector.Endpoint) (*source, error) {
	if base, _, _ := strings.Cut(e.URL, "?"); !strings.EqualFold(base, "gen:") && !strings.EqualFold(base, "gen://") {
		return nil, connector.Errorf(connector.CodeUsage, e.Redacted(), "write e.g. gen:?rows=1000&seed=42; `datahub connectors` lists the options",
			fmt.Errorf("a gen URL has nothing between gen: and its options, got %q", connector.CapText(base, 80)))
	}
	opts, err := connector.OptionsOf(e)
	if err != nil {
		return nil, err
	}
	s := &source{e: e, batch: e.BatchSize, rows: opts.Int(optRows),
		seed:  uint64(opts.Int(optSeed)),  //nolint:gosec // any int64 is a seed; the bits are what count
		nulls: uint64(opts.Int(optNulls)), //nolint:gosec // 0..100, the option's declared range
	}
	if s.batch <= 0 {
		s.batch = defaultBatch
	}
	s.schema = connector.Schema{Columns: make([]connector.Column, len(columns)), Key: []string{"id"}}
	copy(s.schema.Columns, columns)
	for i := 1; i < len(s.schema.Columns); i++ {
		s.schema.Columns[i].Nullable = s.nulls > 0
	}
	return s, nil
}

// Open starts after position from: the count of records already read, as text.
func (s *source) Open(ctx context.Context, from connector.Position) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.next = 1
	if from != nil {
		done, err := strconv.ParseInt(string(from), 10, 64)
		if err != nil || done < 0 || done > s.rows {
			return connector.Errorf(connector.CodeUsage, s.e.Redacted(), "resume with a position this source gave, or start afresh",
				fmt.Errorf("position %q is not a record count from 0 to %d", connector.CapText(string(from), 40), s.rows))
		}
		s.next = done + 1
	}
	s.opened = true
	return nil
}

// Schema is the same for every gen source but for the nullability.
func (s *source) Schema(context.Context) (connector.Schema, error) { return s.schema, nil }

// Read generates the next batch of records.
func (s *source) Read(ctx context.Context) (*connector.Batch, connector.AckFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if !s.opened || s.closed {
		return nil, nil, connector.Errorf(connector.CodeInternal, s.e.Redacted(), "", fmt.Errorf("read from a gen source that is not open"))
	}
	if s.next > s.rows {
		return nil, nil, connector.ErrEndOfInput
	}
	n := min(int64(s.batch), s.rows-s.next+1)
	b := &connector.Batch{Rows: make([][]any, n)}
	for i := range b.Rows {
		row := s.row(s.next + int64(i))
		b.Rows[i] = row
		b.Bytes += size(row)
	}
	s.next += n
	b.Pos = connector.Position(strconv.AppendInt(nil, s.next-1, 10))
	// Generated records need no acknowledgement: the position alone resumes them.
	return b, connector.NopAck, nil
}

// Close ends the source; calling it twice is harmless.
func (s *source) Close(context.Context) error {
	s.closed = true
	return nil
}

// size estimates the bytes a record would take as text, for the run's statistics.
func size(row []any) int64 {
	var n int64
	for _, v := range row {
		switch x := v.(type) {
		case string:
			n += int64(len(x))
		case []byte:
			n += int64(len(x))
		case json.RawMessage:
			n += int64(len(x))
		case connector.UUID:
			n += 36
		case nil:
		default:
			n += 8
		}
	}
	return n
}
