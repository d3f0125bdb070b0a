package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

var benchSchema = connector.Schema{Columns: []connector.Column{
	{Name: "id", Type: connector.TypeInt64},
	{Name: "name", Type: connector.TypeString, Nullable: true},
	{Name: "email", Type: connector.TypeString, Nullable: true},
	{Name: "amount", Type: connector.TypeDecimal, Precision: 12, Scale: 2, Nullable: true},
	{Name: "created_at", Type: connector.TypeTimestampTZ, Nullable: true},
	{Name: "note", Type: connector.TypeString, Nullable: true},
}, Key: []string{"id"}}

func benchBatches(rows, size int) []*connector.Batch {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []*connector.Batch
	for first := 1; first <= rows; first += size {
		b := &connector.Batch{}
		for id := first; id < first+size && id <= rows; id++ {
			b.Rows = append(b.Rows, []any{int64(id), fmt.Sprintf("name %d", id), fmt.Sprintf("user%d@example.org", id),
				connector.Decimal(fmt.Sprintf("%d.%02d", id%1000, id%100)), start.Add(time.Duration(id) * time.Second),
				fmt.Sprintf("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx%032d", id)})
		}
		out = append(out, b)
	}
	return out
}

// BenchmarkInsert writes 100,000 rows in batches of 10,000 with a flush after each, into a
// new table (append) and over the same keys again (upsert).
func BenchmarkInsert(b *testing.B) {
	const rows = 100000
	batches := benchBatches(rows, 10000)
	for _, mode := range []connector.WriteMode{connector.ModeAppend, connector.ModeUpsert} {
		b.Run(string(mode), func(b *testing.B) {
			ctx := context.Background()
			dir := b.TempDir()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// append: a new file each time; upsert: the same rows over the same keys.
				url := "sqlite:" + filepath.Join(dir, fmt.Sprintf("bench%d.db", i)) + "?table=t"
				if mode == connector.ModeUpsert {
					url = "sqlite:" + filepath.Join(dir, "bench.db") + "?table=t"
				}
				k := &Sink{ep: connector.Endpoint{URL: url}}
				if _, err := k.Open(ctx, benchSchema, connector.SinkOptions{Mode: mode, RunID: "bench"}); err != nil {
					b.Fatal(err)
				}
				for j, batch := range batches {
					if err := k.Write(ctx, batch); err != nil {
						b.Fatal(err)
					}
					if err := k.Flush(ctx, connector.Position(fmt.Sprint(j))); err != nil {
						b.Fatal(err)
					}
				}
				if err := k.Commit(ctx); err != nil {
					b.Fatal(err)
				}
				_ = k.Close(ctx)
			}
			b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkRead reads 100,000 rows of the same table.
func BenchmarkRead(b *testing.B) {
	ctx := context.Background()
	url := "sqlite:" + filepath.Join(b.TempDir(), "bench.db") + "?table=t"
	k := &Sink{ep: connector.Endpoint{URL: url}}
	if _, err := k.Open(ctx, benchSchema, connector.SinkOptions{}); err != nil {
		b.Fatal(err)
	}
	for _, batch := range benchBatches(100000, 10000) {
		if err := k.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := k.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	_ = k.Close(ctx)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		src := &Source{ep: connector.Endpoint{URL: url}}
		if err := src.Open(ctx, nil); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			batch, _, err := src.Read(ctx)
			if errors.Is(err, connector.ErrEndOfInput) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += len(batch.Rows)
		}
		_ = src.Close(ctx)
		if n != 100000 {
			b.Fatalf("read %d rows", n)
		}
	}
	b.ReportMetric(float64(100000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
