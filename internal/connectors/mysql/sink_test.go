package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

func peopleSchema() connector.Schema {
	return connector.Schema{Columns: []connector.Column{
		{Name: "id", Type: connector.TypeInt64},
		{Name: "name", Type: connector.TypeString, Length: 5},
		{Name: "note", Type: connector.TypeString, Nullable: true},
	}, Key: []string{"id"}}
}

func TestRejectsAreIsolated(t *testing.T) {
	for _, bulk := range []string{"load", "insert"} {
		t.Run(bulk, func(t *testing.T) {
			table := tableFor(t, "")
			e := endpoint(t, table, "bulk", bulk)
			exec(t, "CREATE TABLE "+quoteIdent(table)+" (id BIGINT PRIMARY KEY, name VARCHAR(5) NOT NULL, note TEXT NULL) ENGINE=InnoDB")
			exec(t, "INSERT INTO "+quoteIdent(table)+" VALUES (10000, 'old', NULL)")
			var rows [][]any
			for i := 0; i < 1000; i++ {
				rows = append(rows, []any{int64(i), "ok", fmt.Sprint("note ", i)})
			}
			rows[10][1] = nil              // NOT NULL
			rows[500][1] = "much too long" // VARCHAR(5)
			rows[700][0] = int64(10000)    // duplicate of a stored row
			rows[999][0] = int64(3)        // duplicate within the batch
			ctx := context.Background()
			k := newSink(t, e)
			defer k.Close(ctx)
			if _, err := k.Open(ctx, peopleSchema(), connector.SinkOptions{Mode: connector.ModeAppend}); err != nil {
				t.Fatal(err)
			}
			if got := k.useLoad; got != (bulk == "load") {
				t.Fatalf("useLoad = %v", got)
			}
			err := k.Write(ctx, &connector.Batch{Rows: rows})
			var rerrs connector.RecordErrors
			if !errors.As(err, &rerrs) {
				t.Fatalf("want RecordErrors, got %v", err)
			}
			want := map[int]string{10: "name", 500: "name", 700: "", 999: ""}
			if len(rerrs) != len(want) {
				t.Fatalf("got %d record errors, want %d: %v", len(rerrs), len(want), rerrs)
			}
			for _, r := range rerrs {
				col, ok := want[r.Index]
				if !ok || r.Column != col {
					t.Errorf("unexpected record error %v", r)
				}
				if r.Index == 10 && !errors.Is(r.Err, connector.ErrNull) {
					t.Errorf("NULL refusal: %v", r.Err)
				}
				if r.Index == 700 && !strings.Contains(r.Err.Error(), "Duplicate") {
					t.Errorf("duplicate refusal: %v", r.Err)
				}
			}
			// Another batch in the same transaction, then commit.
			if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(5000), "more", nil}}}); err != nil {
				t.Fatal(err)
			}
			if err := k.Flush(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if n := count(t, table); n != 1+996+1 {
				t.Errorf("%d rows in table, want %d", n, 1+996+1)
			}
			var name string
			if err := admin(t).QueryRow("SELECT name FROM " + quoteIdent(table) + " WHERE id = 3").Scan(&name); err != nil || name != "ok" {
				t.Errorf("row 3: %q %v", name, err)
			}
		})
	}
}

func TestWriteIsOneTransactionPerFlush(t *testing.T) {
	table := tableFor(t, "")
	e := endpoint(t, table)
	ctx := context.Background()
	k := newSink(t, e)
	if _, err := k.Open(ctx, peopleSchema(), connector.SinkOptions{Key: []string{"id"}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "a", nil}}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Flush(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(2), "b", nil}}}); err != nil {
		t.Fatal(err)
	}
	if n := count(t, table); n != 1 {
		t.Errorf("%d rows visible before the second flush, want 1", n)
	}
	k.Close(ctx) // discards the unflushed row
	k.Close(ctx)
	if n := count(t, table); n != 1 {
		t.Errorf("%d rows after close, want 1", n)
	}
}

func TestUpsertTwiceIsOnce(t *testing.T) {
	table := tableFor(t, "")
	e := endpoint(t, table)
	s := connector.Schema{Columns: []connector.Column{
		{Name: "a", Type: connector.TypeString},
		{Name: "b", Type: connector.TypeInt64},
		{Name: "v", Type: connector.TypeString, Nullable: true},
		{Name: "by", Type: connector.TypeBytes, Nullable: true},
	}}
	opts := connector.SinkOptions{Mode: connector.ModeUpsert, Key: []string{"a", "b"}}
	rows := [][]any{{"x", int64(1), "one", []byte{0, 1}}, {"x", int64(2), nil, nil}, {"y", int64(1), "three", []byte{0xff}}}
	writeAll(t, e, s, opts, rows)
	writeAll(t, e, s, opts, rows)
	if n := count(t, table); n != 3 {
		t.Fatalf("%d rows after upserting twice, want 3", n)
	}
	changed := [][]any{{"x", int64(2), "two", nil}, {"z", int64(9), "new", nil}}
	writeAll(t, e, s, opts, changed)
	_, out, _ := readAll(t, e, nil)
	if len(out) != 4 || out[1][2] != "two" || out[3][0] != "z" || string(out[2][3].([]byte)) != "\xff" {
		t.Fatalf("after update: %v", out)
	}
	// Upsert needs a unique key matching the key columns.
	k := newSink(t, e)
	defer k.Close(context.Background())
	_, err := k.Open(context.Background(), s, connector.SinkOptions{Mode: connector.ModeUpsert, Key: []string{"v"}})
	if connector.CodeOf(err) != connector.CodeSchema || !strings.Contains(err.Error(), "unique index") {
		t.Errorf("upsert on a non-unique column: %v", err)
	}
}

func TestUpsertUsesTablePrimaryKey(t *testing.T) {
	table := tableFor(t, "")
	e := endpoint(t, table)
	exec(t, "CREATE TABLE "+quoteIdent(table)+" (id INT PRIMARY KEY, name VARCHAR(5) NOT NULL, extra INT DEFAULT 7)")
	opts := connector.SinkOptions{Mode: connector.ModeUpsert}
	s := peopleSchema()
	s.Columns = s.Columns[:2]
	rows := [][]any{{int64(1), "a"}, {int64(2), "b"}, {int64(3), nil}}
	_, rerrs := writeAll(t, e, s, opts, rows)
	if len(rerrs) != 1 || rerrs[0].Index != 2 || rerrs[0].Column != "name" {
		t.Fatalf("record errors: %v", rerrs)
	}
	writeAll(t, e, s, opts, [][]any{{int64(1), "A"}})
	_, out, _ := readAll(t, e, nil)
	if len(out) != 2 || out[0][1] != "A" || out[0][2] != int64(7) {
		t.Fatalf("rows: %v", out)
	}
	// No key and no primary key: refused.
	other := tableFor(t, "_nokey")
	e2 := endpoint(t, other)
	exec(t, "CREATE TABLE "+quoteIdent(other)+" (id INT, name VARCHAR(5))")
	k := newSink(t, e2)
	defer k.Close(context.Background())
	if _, err := k.Open(context.Background(), s, opts); connector.CodeOf(err) != connector.CodeSchema {
		t.Errorf("upsert without a key: %v", err)
	}
}

func TestReplaceIsAtomic(t *testing.T) {
	table := tableFor(t, "")
	e := endpoint(t, table)
	s := peopleSchema()
	writeAll(t, e, s, connector.SinkOptions{Key: []string{"id"}}, [][]any{{int64(1), "a", nil}, {int64(2), "b", nil}, {int64(3), "c", nil}})
	ctx := context.Background()

	// A stale staging table from a killed run is dropped.
	exec(t, "CREATE TABLE "+quoteIdent(table+"__datahub_staging")+" (junk INT)")

	// Replace, flushed but closed without Commit: the old rows stay.
	k := newSink(t, e)
	if _, err := k.Open(ctx, s, connector.SinkOptions{Mode: connector.ModeReplace}); err != nil {
		t.Fatal(err)
	}
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(9), "z", nil}}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Flush(ctx, connector.Position("x")); err != nil {
		t.Fatal(err)
	}
	if n := count(t, table); n != 3 {
		t.Errorf("replace visible before commit: %d rows", n)
	}
	k.Close(ctx)
	if n := count(t, table); n != 3 {
		t.Errorf("closed replace changed the table: %d rows", n)
	}
	var left int
	admin(t).QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE ?",
		testDBName, table+"\\_\\_datahub%").Scan(&left)
	if left != 0 {
		t.Errorf("%d staging tables left after close", left)
	}

	// Replace with fewer rows, committed.
	_, rerrs := writeAll(t, e, s, connector.SinkOptions{Mode: connector.ModeReplace}, [][]any{{int64(7), "x", "n"}, {int64(7), "dup", nil}})
	if len(rerrs) != 1 || rerrs[0].Index != 1 {
		t.Errorf("staging keeps the primary key: %v", rerrs)
	}
	_, out, _ := readAll(t, e, nil)
	if len(out) != 1 || out[0][0] != int64(7) {
		t.Fatalf("after replace: %v", out)
	}
	admin(t).QueryRow("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE ?",
		testDBName, table+"\\_\\_datahub%").Scan(&left)
	if left != 0 {
		t.Errorf("%d helper tables left after commit", left)
	}

	// Replace into a missing table creates it at Commit.
	fresh := tableFor(t, "_new")
	e2 := endpoint(t, fresh)
	writeAll(t, e2, s, connector.SinkOptions{Mode: connector.ModeReplace, Key: []string{"id"}}, [][]any{{int64(1), "a", nil}})
	if n := count(t, fresh); n != 1 {
		t.Errorf("replace into a new table: %d rows", n)
	}
}

func TestPositionStore(t *testing.T) {
	table := tableFor(t, "")
	e := endpoint(t, table)
	ctx := context.Background()
	exec(t, "DROP TABLE IF EXISTS "+sqlkit.CheckpointTable)
	opts := connector.SinkOptions{Mode: connector.ModeAppend, Key: []string{"id"}, RunID: "run-" + table}
	k := newSink(t, e)
	if _, err := k.Open(ctx, peopleSchema(), opts); err != nil {
		t.Fatal(err)
	}
	if p, err := k.SavedPosition(ctx); err != nil || p != nil {
		t.Fatalf("fresh run position: %q %v", p, err)
	}
	k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "a", nil}}})
	if err := k.Flush(ctx, connector.Position(`["1"]`)); err != nil {
		t.Fatal(err)
	}
	k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(2), "b", nil}}})
	if err := k.Flush(ctx, connector.Position(`["2"]`)); err != nil {
		t.Fatal(err)
	}
	// Killed after writing more: neither the rows nor their position are kept.
	k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(3), "c", nil}}})
	k.Close(ctx)

	k2 := newSink(t, e)
	defer k2.Close(ctx)
	if _, err := k2.Open(ctx, peopleSchema(), opts); err != nil {
		t.Fatal(err)
	}
	p, err := k2.SavedPosition(ctx)
	if err != nil || string(p) != `["2"]` {
		t.Fatalf("saved position %q %v", p, err)
	}
	if n := count(t, table); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
}

func TestSchemaErrors(t *testing.T) {
	table := tableFor(t, "")
	e := endpoint(t, table)
	exec(t, "CREATE TABLE "+quoteIdent(table)+" (id INT PRIMARY KEY)")
	k := newSink(t, e)
	defer k.Close(context.Background())
	_, err := k.Open(context.Background(), peopleSchema(), connector.SinkOptions{})
	if connector.CodeOf(err) != connector.CodeSchema || !strings.Contains(err.Error(), `"name"`) || !strings.Contains(err.Error(), table) {
		t.Errorf("missing column: %v", err)
	}
}

func TestLongTableNames(t *testing.T) {
	long := strings.Repeat("x", 60)
	st := sideTable(tableName{db: "d", name: long}, "__datahub_staging")
	if utf8.RuneCountInString(st.name) > 64 || !strings.HasSuffix(st.name, "__datahub_staging") {
		t.Errorf("staging name %q", st.name)
	}
	e := endpoint(t, long)
	writeAll(t, e, peopleSchema(), connector.SinkOptions{Key: []string{"id"}}, [][]any{{int64(1), "a", nil}})
	writeAll(t, e, peopleSchema(), connector.SinkOptions{Mode: connector.ModeReplace}, [][]any{{int64(2), "b", nil}})
	if n := count(t, long); n != 1 {
		t.Errorf("%d rows", n)
	}
}

func TestValuesMySQLCannotHoldAreRefused(t *testing.T) {
	for _, bulk := range []string{"load", "insert"} {
		t.Run(bulk, func(t *testing.T) {
			table := tableFor(t, "")
			e := endpoint(t, table, "bulk", bulk)
			s := connector.Schema{Columns: []connector.Column{
				{Name: "id", Type: connector.TypeInt64},
				{Name: "f", Type: connector.TypeFloat64, Nullable: true},
				{Name: "s", Type: connector.TypeString, Nullable: true},
				{Name: "ts", Type: connector.TypeTimestampTZ, Nullable: true},
				{Name: "j", Type: connector.TypeJSON, Nullable: true},
			}}
			rows := [][]any{
				{int64(1), math.NaN(), nil, nil, nil},
				{int64(2), math.Inf(-1), nil, nil, nil},
				{int64(3), nil, "bad \xff utf-8", nil, nil},
				{int64(4), nil, nil, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), nil},
				{int64(5), nil, nil, nil, json.RawMessage(`{"not json`)},
				{int64(6), 1.0, "fine", time.Date(2500, 1, 1, 0, 0, 0, 0, time.UTC), json.RawMessage(`{}`)},
			}
			_, rerrs := writeAll(t, e, s, connector.SinkOptions{Key: []string{"id"}}, rows)
			got := map[int]string{}
			for _, r := range rerrs {
				got[r.Index] = r.Column
			}
			want := map[int]string{0: "f", 1: "f", 2: "s", 3: "ts", 4: "j"}
			for i, col := range want {
				c, ok := got[i]
				if !ok {
					t.Errorf("row %d was not refused", i)
				} else if c != col {
					t.Errorf("row %d refused for column %q, want %q", i, c, col)
				}
			}
			if len(rerrs) != len(want) {
				t.Errorf("refusals: %v", rerrs)
			}
			for _, r := range rerrs {
				t.Logf("row %d column %q: %v", r.Index, r.Column, r.Err)
			}
			if n := count(t, table); n != 1 {
				t.Errorf("%d rows written, want 1", n)
			}
		})
	}
}
