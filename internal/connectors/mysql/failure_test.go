package mysql

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

// A lock wait timeout undoes only the Write that hit it: earlier rows of the flush window
// stay, and the error is retryable.
func TestLockWaitIsTransientAndKeepsTheWindow(t *testing.T) {
	table := tableFor(t, "")
	e := endpoint(t, table)
	ctx := context.Background()
	k := newSink(t, e)
	defer k.Close(ctx)
	if _, err := k.Open(ctx, peopleSchema(), connector.SinkOptions{Key: []string{"id"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 1"); err != nil {
		t.Fatal(err)
	}
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "a", nil}}}); err != nil {
		t.Fatal(err)
	}
	// Another session holds key 2.
	other, err := admin(t).Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.ExecContext(ctx, "START TRANSACTION")
	if _, err := other.ExecContext(ctx, "INSERT INTO "+quoteIdent(table)+" VALUES (2, 'x', NULL)"); err != nil {
		t.Fatal(err)
	}
	err = k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(2), "b", nil}}})
	if connector.CodeOf(err) != connector.CodeTransient || !connector.Retryable(err) {
		t.Fatalf("lock wait: %v (code %s)", err, connector.CodeOf(err))
	}
	other.ExecContext(ctx, "ROLLBACK")
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(2), "b", nil}}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Flush(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := count(t, table); n != 2 {
		t.Errorf("%d rows, want 2", n)
	}
}

// When the connection dies mid-window, the rows since the last Flush are gone: the sink
// says so and refuses to go on rather than letting later rows commit without them.
func TestLostConnectionBreaksTheSink(t *testing.T) {
	table := tableFor(t, "")
	e := endpoint(t, table)
	ctx := context.Background()
	k := newSink(t, e)
	defer k.Close(ctx)
	if _, err := k.Open(ctx, peopleSchema(), connector.SinkOptions{Key: []string{"id"}}); err != nil {
		t.Fatal(err)
	}
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "a", nil}}}); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := k.conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
		t.Fatal(err)
	}
	exec(t, "KILL ?", id)
	err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(2), "b", nil}}})
	if err == nil || !connector.Retryable(err) {
		t.Fatalf("write on a killed connection: %v", err)
	}
	err = k.Flush(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "since the last flush were rolled back") {
		t.Fatalf("flush after the connection died: %v", err)
	}
	if n := count(t, table); n != 0 {
		t.Errorf("%d rows, want 0", n)
	}
}

func TestCancelledWrite(t *testing.T) {
	e := endpoint(t, tableFor(t, ""))
	k := newSink(t, e)
	defer k.Close(context.Background())
	if _, err := k.Open(context.Background(), peopleSchema(), connector.SinkOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "a", nil}}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled write: %v", err)
	}
}

// With local_infile off the sink switches it on (it may, as root); a user who may not falls
// back to INSERT and writes the same rows.
func TestLocalInfileOff(t *testing.T) {
	db := admin(t)
	var orig int
	if err := db.QueryRow("SELECT @@GLOBAL.local_infile").Scan(&orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("SET GLOBAL local_infile = ?", orig) })
	exec(t, "CREATE USER IF NOT EXISTS 'dh_test_writer'@'%' IDENTIFIED BY 'w-Passw0rd'")
	exec(t, "CREATE USER IF NOT EXISTS 'dh_test_writer'@'localhost' IDENTIFIED BY 'w-Passw0rd'")
	for _, h := range []string{"%", "localhost"} {
		exec(t, "GRANT ALL ON "+testDBName+".* TO 'dh_test_writer'@'"+h+"'")
	}
	t.Cleanup(func() {
		db.Exec("DROP USER IF EXISTS 'dh_test_writer'@'%'")
		db.Exec("DROP USER IF EXISTS 'dh_test_writer'@'localhost'")
	})

	exec(t, "SET GLOBAL local_infile = 0")
	table := tableFor(t, "")
	e := endpoint(t, table)
	ctx := context.Background()
	k := newSink(t, e)
	if _, err := k.Open(ctx, peopleSchema(), connector.SinkOptions{}); err != nil {
		t.Fatal(err)
	}
	if !k.useLoad {
		t.Error("root did not switch local_infile on")
	}
	// Switched off again between Open and Write: the server refuses LOAD DATA, the sink
	// falls back to INSERT.
	exec(t, "SET GLOBAL local_infile = 0")
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "a", nil}}}); err != nil {
		t.Fatal(err)
	}
	if k.useLoad {
		t.Error("still using LOAD DATA after the server refused it")
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	k.Close(ctx)
	exec(t, "DELETE FROM "+quoteIdent(table))

	exec(t, "SET GLOBAL local_infile = 0")
	e.URL = strings.Replace(e.URL, "://root@", "://dh_test_writer:w-Passw0rd@", 1)
	if !strings.Contains(e.URL, "dh_test_writer") {
		t.Skip("test server URL has its own user")
	}
	k = newSink(t, e)
	defer k.Close(ctx)
	if _, err := k.Open(ctx, peopleSchema(), connector.SinkOptions{}); err != nil {
		t.Fatal(err)
	}
	if k.useLoad {
		t.Fatal("unprivileged user uses LOAD DATA with local_infile off")
	}
	if err := k.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "a", nil}, {int64(2), nil, nil}}}); err == nil {
		t.Error("NULL in NOT NULL accepted")
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, table); n != 1 {
		t.Errorf("%d rows", n)
	}
}
