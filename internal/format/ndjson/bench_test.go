package ndjson

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
)

// benchRows are typed rows like the lead's benchmark table.
func benchRows(n int) (connector.Schema, [][]any) {
	s := connector.Schema{Columns: []connector.Column{
		{Name: "id", Type: connector.TypeInt64}, {Name: "name", Type: connector.TypeString},
		{Name: "email", Type: connector.TypeString}, {Name: "amount", Type: connector.TypeDecimal},
		{Name: "created_at", Type: connector.TypeTimestampTZ}, {Name: "note", Type: connector.TypeString},
	}}
	rows := make([][]any, n)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		rows[i] = []any{int64(i), "name x", "user@example.org", connector.Decimal("123.45"), t0.Add(time.Duration(i) * time.Second),
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0123456789abcdef0123456789abcdef"}
	}
	return s, rows
}

func BenchmarkWriter(b *testing.B) {
	s, rows := benchRows(100000)
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, s)
	w.Write(&connector.Batch{Rows: rows})
	w.Close()
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		w, _ := NewWriter(io.Discard, s)
		if err := w.Write(&connector.Batch{Rows: rows}); err != nil {
			b.Fatal(err)
		}
		w.Close()
	}
}

func BenchmarkReader(b *testing.B) {
	s, rows := benchRows(100000)
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, s)
	w.Write(&connector.Batch{Rows: rows})
	w.Close()
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), format.Defaults("ndjson"), 10000)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Read(context.Background())
			if errors.Is(err, connector.ErrEndOfInput) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
