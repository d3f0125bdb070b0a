package mysql

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// TestSinkThroughput writes DATAHUB_MYSQL_PERF_ROWS rows shaped like the lead's benchmark
// table (id, name, email, amount numeric(12,2), created_at timestamptz, note) in batches of
// 10,000 with a flush every 100,000, and logs the rate. Skipped unless the variable is set.
func TestSinkThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DATAHUB_MYSQL_PERF_ROWS"))
	if n <= 0 {
		t.Skip("set DATAHUB_MYSQL_PERF_ROWS to measure")
	}
	e := endpoint(t, "perf_sink", "bulk", envOr("DATAHUB_MYSQL_PERF_BULK", "load"))
	s := connector.Schema{Columns: []connector.Column{
		{Name: "id", Type: connector.TypeInt64}, {Name: "name", Type: connector.TypeString, Nullable: true},
		{Name: "email", Type: connector.TypeString, Nullable: true}, {Name: "amount", Type: connector.TypeDecimal, Precision: 12, Scale: 2, Nullable: true},
		{Name: "created_at", Type: connector.TypeTimestampTZ, Nullable: true}, {Name: "note", Type: connector.TypeString, Nullable: true},
	}}
	ctx := context.Background()
	k := newSink(t, e)
	defer k.Close(ctx)
	if _, err := k.Open(ctx, s, connector.SinkOptions{Key: []string{"id"}}); err != nil {
		t.Fatal(err)
	}
	const batch = 10000
	rows := make([][]any, batch)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	var encode time.Duration
	for done := 0; done < n; done += batch {
		t0 := time.Now()
		for i := range rows {
			id := done + i
			rows[i] = []any{int64(id), fmt.Sprint("Customer ", id), fmt.Sprintf("customer%d@example.com", id),
				connector.Decimal(fmt.Sprintf("%d.%02d", id%1000000, id%100)), base.Add(time.Duration(id) * time.Second),
				"a note with some words in it"}
		}
		encode += time.Since(t0)
		if err := k.Write(ctx, &connector.Batch{Rows: rows}); err != nil {
			t.Fatal(err)
		}
		if (done/batch)%10 == 9 {
			if err := k.Flush(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start) - encode
	t.Logf("%d rows in %v (excluding %v generating them): %.0f rows/s", n, d, encode, float64(n)/d.Seconds())
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
