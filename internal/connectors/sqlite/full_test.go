package sqlite

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

// TestFullDatabaseIsNamed fills a database to its max_page_count (a real "database or disk
// is full" without a small disk): the error is disk_full, names the database file and says
// what SQLite said, rather than the "no such savepoint" of the rollback SQLite did itself.
func TestFullDatabaseIsNamed(t *testing.T) {
	ctx := context.Background()
	for _, rows := range []int{1, 500} { // one row at a time (dh_row) and whole batches (dh_write)
		path := dbPath(t)
		k, _ := openSink(t, "sqlite:"+path+"?table=people", people, connector.SinkOptions{Mode: connector.ModeAppend})
		var pages int64
		if err := k.conn.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
			t.Fatal(err)
		}
		if _, err := k.conn.ExecContext(ctx, "PRAGMA max_page_count = "+itoa(pages+3)); err != nil {
			t.Fatal(err)
		}
		name := strings.Repeat("x", 2000)
		var err error
		for i := 0; i < 2000 && err == nil; i += rows {
			b := &connector.Batch{}
			for j := range rows {
				b.Rows = append(b.Rows, []any{int64(i + j), name + itoa(int64(i+j)), nil})
			}
			err = k.Write(ctx, b)
			if err == nil {
				err = k.Flush(ctx, nil)
			}
		}
		if err == nil {
			t.Fatal("a database limited to a few pages took 4 MB")
		}
		msg := err.Error()
		if connector.CodeOf(err) != connector.CodeDiskFull || !strings.Contains(msg, "database or disk is full") ||
			!strings.Contains(msg, path) || strings.Contains(msg, "savepoint") {
			t.Errorf("rows per batch %d: code %s: %s", rows, connector.CodeOf(err), msg)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
