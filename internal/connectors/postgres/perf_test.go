//go:build pgperf

// The performance comparison against psql, run by hand (it needs psql and takes minutes):
//
//	DATAHUB_PG_PERF_ROWS=2000000 go test -tags pgperf -run TestPerf -v -timeout 30m ./internal/connectors/postgres/
//
// It lives behind a build tag because it drives the engine and the file connector, which the
// package's own tests do not depend on.
package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/datahub-oss/datahub/connector"
	_ "github.com/datahub-oss/datahub/internal/connectors/file"
	_ "github.com/datahub-oss/datahub/internal/connectors/postgres"
	"github.com/datahub-oss/datahub/internal/engine"
)

const perfDDL = "(id bigint PRIMARY KEY, name text, email text, amount numeric(12,2), created_at timestamptz, note text)"

func TestPerf(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DATAHUB_PG_PERF_ROWS"))
	if n <= 0 {
		t.Skip("set DATAHUB_PG_PERF_ROWS")
	}
	ctx := context.Background()
	admin := os.Getenv("DATAHUB_TEST_PG")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres"
	}
	u, _ := url.Parse(admin)
	u.Path = "/dh_perf_postgres"
	db := u.String()
	ac, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = ac.Exec(ctx, "CREATE DATABASE dh_perf_postgres")
	ac.Close(ctx)
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	run := func(sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	var have int
	_ = conn.QueryRow(ctx, "SELECT count(*) FROM perf_src").Scan(&have)
	if have != n {
		run("DROP TABLE IF EXISTS perf_src")
		run("CREATE TABLE perf_src " + perfDDL)
		run(fmt.Sprintf(`INSERT INTO perf_src SELECT g, 'Customer ' || g, 'customer' || g || '@example.com',
			(g %% 1000000) + (g %% 100) / 100.0, '2024-01-01'::timestamptz + g * interval '1 second',
			'a note with some words in it' FROM generate_series(1, %d) g`, n))
		run("VACUUM ANALYZE perf_src")
	}
	csv := filepath.Join(t.TempDir(), "perf.csv")
	psql := func(args ...string) {
		t.Helper()
		cmd := exec.Command("psql", append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("psql %v: %v\n%s", args, err, out)
		}
	}
	psql("-c", `\copy perf_src TO '`+csv+`' CSV HEADER`)

	fresh := func(name string, create bool) {
		run("DROP TABLE IF EXISTS " + name)
		if create {
			run("CREATE TABLE " + name + " " + perfDDL)
		}
		run("CHECKPOINT")
	}
	timeit := func(f func()) time.Duration {
		start := time.Now()
		f()
		return time.Since(start)
	}
	copyEngine := func(src, dst string, noFast bool) {
		res := engine.New(engine.Options{RunID: "perf", Source: connector.Endpoint{URL: src},
			Dest: connector.Endpoint{URL: dst}, Mode: connector.ModeAppend, Key: []string{"id"}, NoFastPath: noFast}).Run(ctx)
		if res.Err != nil || res.RowsWritten != int64(n) {
			t.Fatalf("engine: %v (%d rows)", res.Err, res.RowsWritten)
		}
		if res.FastPath == noFast {
			t.Fatalf("fast path used: %v", res.FastPath)
		}
	}
	best := map[string]time.Duration{}
	record := func(name string, d time.Duration) {
		t.Logf("%-22s %v (%.0f rows/s)", name, d.Round(time.Millisecond), float64(n)/d.Seconds())
		if b, ok := best[name]; !ok || d < b {
			best[name] = d
		}
	}
	for range 3 {
		fresh("perf_dst", true)
		record("psql binary pipe", timeit(func() {
			cmd := exec.Command("sh", "-c", fmt.Sprintf(
				`psql -X -d '%s' -c "COPY perf_src TO STDOUT (FORMAT binary)" | psql -X -q -d '%s' -c "COPY perf_dst FROM STDIN (FORMAT binary)"`, db, db))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
		}))
		fresh("perf_dst", false)
		record("datahub fast path", timeit(func() { copyEngine(db+"?table=perf_src", db+"?table=perf_dst", false) }))

		fresh("perf_dst", true)
		record(`psql \copy csv`, timeit(func() { psql("-c", `\copy perf_dst FROM '`+csv+`' CSV HEADER`) }))
		fresh("perf_dst", false)
		record("datahub csv", timeit(func() { copyEngine(csv, db+"?table=perf_dst", true) }))
	}
	t.Logf("fast path / psql pipe: %.2f (target ≤ 1.15)", best["datahub fast path"].Seconds()/best["psql binary pipe"].Seconds())
	t.Logf(`csv / psql \copy:      %.2f (target ≤ 1.30)`, best["datahub csv"].Seconds()/best[`psql \copy csv`].Seconds())
}

// TestPerfSink times the sink alone on typed rows (what the engine hands it), with a CPU profile
// of the whole run when DATAHUB_PG_PERF_PROFILE names a file.
func TestPerfSink(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DATAHUB_PG_PERF_ROWS"))
	if n <= 0 {
		t.Skip("set DATAHUB_PG_PERF_ROWS")
	}
	ctx := context.Background()
	admin := os.Getenv("DATAHUB_TEST_PG")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres"
	}
	u, _ := url.Parse(admin)
	u.Path = "/dh_perf_postgres"
	db := u.String()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP TABLE IF EXISTS perf_sink")
	s := connector.Schema{Columns: []connector.Column{
		{Name: "id", Type: connector.TypeInt64}, {Name: "name", Type: connector.TypeString, Nullable: true},
		{Name: "email", Type: connector.TypeString, Nullable: true}, {Name: "amount", Type: connector.TypeDecimal, Precision: 12, Scale: 2, Nullable: true},
		{Name: "created_at", Type: connector.TypeTimestampTZ, Nullable: true}, {Name: "note", Type: connector.TypeString, Nullable: true},
	}}
	const batch = 10000
	var batches [][][]any
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for done := 0; done < n; done += batch {
		rows := make([][]any, batch)
		for i := range rows {
			id := done + i
			rows[i] = []any{int64(id), fmt.Sprint("Customer ", id), fmt.Sprintf("customer%d@example.com", id),
				connector.Decimal(fmt.Sprintf("%d.%02d", id%1000000, id%100)), base.Add(time.Duration(id) * time.Second),
				"a note with some words in it"}
		}
		batches = append(batches, rows)
	}
	k, err := connector.NewSink(ctx, connector.Endpoint{URL: db + "?table=perf_sink"})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(ctx)
	if _, err := k.Open(ctx, s, connector.SinkOptions{Key: []string{"id"}}); err != nil {
		t.Fatal(err)
	}
	if f := os.Getenv("DATAHUB_PG_PERF_PROFILE"); f != "" {
		pf, _ := os.Create(f)
		pprof.StartCPUProfile(pf)
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	for i, b := range batches {
		if err := k.Write(ctx, &connector.Batch{Rows: b}); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			if err := k.Flush(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := k.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Logf("sink alone: %d rows in %v: %.0f rows/s", n, d, float64(n)/d.Seconds())
}

// TestPerfCSVProfile profiles one CSV → PostgreSQL engine run of the perf table's CSV.
func TestPerfCSVProfile(t *testing.T) {
	csv, prof := os.Getenv("DATAHUB_PG_PERF_CSV"), os.Getenv("DATAHUB_PG_PERF_PROFILE")
	if csv == "" || prof == "" {
		t.Skip("set DATAHUB_PG_PERF_CSV and DATAHUB_PG_PERF_PROFILE")
	}
	ctx := context.Background()
	db := "postgres://postgres@127.0.0.1:5432/dh_perf_postgres"
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	// The benchmark's table, as the acceptance checks make it (not one inferred from the CSV).
	_, _ = conn.Exec(ctx, "DROP TABLE IF EXISTS perf_csv")
	if _, err := conn.Exec(ctx, "CREATE TABLE perf_csv "+perfDDL); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	pf, _ := os.Create(prof)
	pprof.StartCPUProfile(pf)
	start := time.Now()
	res := engine.New(engine.Options{RunID: "perf", Source: connector.Endpoint{URL: csv},
		Dest: connector.Endpoint{URL: db + "?table=perf_csv"}, Mode: connector.ModeAppend, Key: []string{"id"}}).Run(ctx)
	pprof.StopCPUProfile()
	t.Logf("%d rows in %v (%v)", res.RowsWritten, time.Since(start), res.Err)
}

// TestPerfSourceProfile profiles reading the perf table through the generic source.
func TestPerfSourceProfile(t *testing.T) {
	prof := os.Getenv("DATAHUB_PG_PERF_PROFILE")
	if prof == "" {
		t.Skip("set DATAHUB_PG_PERF_PROFILE")
	}
	ctx := context.Background()
	src, err := connector.NewSource(ctx, connector.Endpoint{URL: "postgres://postgres@127.0.0.1:5432/dh_perf_postgres?table=perf_src"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(ctx)
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	pf, _ := os.Create(prof)
	pprof.StartCPUProfile(pf)
	defer pprof.StopCPUProfile()
	start := time.Now()
	n := 0
	for {
		b, _, err := src.Read(ctx)
		if err != nil {
			break
		}
		n += len(b.Rows)
	}
	t.Logf("read %d rows in %v", n, time.Since(start))
}

// TestPerfGenericProfile profiles one PostgreSQL → PostgreSQL engine run through the generic
// path (--no-fast-path) from the perf table into a copy of it.
func TestPerfGenericProfile(t *testing.T) {
	prof := os.Getenv("DATAHUB_PG_PERF_PROFILE")
	if prof == "" {
		t.Skip("set DATAHUB_PG_PERF_PROFILE")
	}
	ctx := context.Background()
	db := "postgres://postgres@127.0.0.1:5432/dh_perf_postgres"
	src := os.Getenv("DATAHUB_PG_PERF_SOURCE")
	if src == "" {
		src = db + "?table=perf_src"
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = conn.Exec(ctx, "DROP TABLE IF EXISTS perf_generic")
	if _, err := conn.Exec(ctx, "CREATE TABLE perf_generic "+perfDDL); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	pf, _ := os.Create(prof)
	pprof.StartCPUProfile(pf)
	start := time.Now()
	res := engine.New(engine.Options{RunID: "perf", Source: connector.Endpoint{URL: src},
		Dest: connector.Endpoint{URL: db + "?table=perf_generic"}, Mode: connector.ModeAppend, NoFastPath: true}).Run(ctx)
	pprof.StopCPUProfile()
	t.Logf("%d rows in %v (%v)", res.RowsWritten, time.Since(start), res.Err)
}
