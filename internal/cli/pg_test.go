package cli

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/datahub-oss/datahub/internal/testutil"
)

// pgURL returns the URL of a fresh database named db on the test PostgreSQL server, failing
// the test when the server does not answer (skipping only under -short).
func pgURL(t *testing.T, db string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL; skipped with -short")
	}
	admin := os.Getenv("DATAHUB_TEST_PG")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres"
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL for tests is not reachable at %s (set DATAHUB_TEST_PG or run scripts/test.sh): %v", admin, err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, db)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %q`, db)); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	u.RawQuery = ""
	return u.String()
}

func pgExec(t *testing.T, dbURL string, sqls ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	for _, s := range sqls {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func pgQuery(t *testing.T, dbURL, q string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var s string
	if err := conn.QueryRow(ctx, q).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

// TestRejectsIntoPostgres is the bad-input case: 1,000 CSV rows with four bad ones.
func TestRejectsIntoPostgres(t *testing.T) {
	db := pgURL(t, "dh_test_cli_rejects")
	pgExec(t, db, `CREATE TABLE t (id bigint primary key, name text NOT NULL, amount numeric(10,2), day date, code varchar(3))`)
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("id,name,amount,day,code\n")
	bad := map[int]string{101: "101,x101,notanumber,2024-01-01,a", 202: "202,x202,5.00,2024-13-45,a", 303: "303,,7.00,2024-01-01,a", 404: "404,x404", 505: "505,x505,1,2024-01-01,toolong"}
	for i := 1; i <= 1000; i++ {
		if l, ok := bad[i]; ok {
			b.WriteString(l + "\n")
			continue
		}
		fmt.Fprintf(&b, "%d,x%d,%d.25,2024-01-%02d,abc\n", i, i, i, i%28+1)
	}
	in := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(in, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := run(t, "copy", "--json", "--data", filepath.Join(dir, "data"), in, db+"?table=public.t")
	if code != ExitRejected {
		t.Fatalf("exit %d, want 3: %s %s", code, stdout, stderr)
	}
	s := mustJSON(t, stdout)
	if s["rows_written"].(float64) != 995 || s["rows_rejected"].(float64) != 5 || s["status"] != "partial" {
		t.Fatalf("summary %v", s)
	}
	if n := pgQuery(t, db, "SELECT count(*)::text FROM t"); n != "995" {
		t.Fatalf("table has %s rows", n)
	}
	rej, err := os.ReadFile(filepath.Join(s["rejects_path"].(string), "rejects.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"line":102`, `"line":203`, `"line":304`, `"line":405`, `"line":506`, `"column":"amount"`, `"column":"day"`, `"column":"name"`, `"column":"code"`} {
		if !strings.Contains(string(rej), want) {
			t.Errorf("rejects lack %s:\n%s", want, rej)
		}
	}
}

// TestCanaryPassword: a password given in a URL appears in no output, log or file.
func TestCanaryPassword(t *testing.T) {
	db := pgURL(t, "dh_test_cli_canary")
	u, _ := url.Parse(db)
	canary := fmt.Sprintf("Cn4ry%d", time.Now().UnixNano())
	u.User = url.UserPassword(u.User.Username(), canary)
	u.Path = "/no_such_db_here"
	dir := t.TempDir()
	code, stdout, stderr := run(t, "copy", "--log-level", "debug", "--retries", "0", "--data", filepath.Join(dir, "data"), u.String()+"?table=public.t", filepath.Join(dir, "out.ndjson"))
	if code != ExitFailed {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stdout, "no_such_db_here") {
		t.Errorf("the summary's error does not name the database: %s", stdout)
	}
	if strings.Count(stdout+stderr, "does not exist") != 1 {
		t.Errorf("the error is not printed once:\n%s\n%s", stdout, stderr)
	}
	_, list, _ := run(t, "runs", "list", "--json", "--data", filepath.Join(dir, "data"))
	for name, text := range map[string]string{"stdout": stdout, "stderr": stderr, "runs list": list} {
		if strings.Contains(text, canary) {
			t.Errorf("password leaked into %s", name)
		}
	}
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), canary) {
				t.Errorf("password leaked into %s", p)
			}
		}
		return nil
	})
}

// TestKillAndResume kills copies with SIGKILL part-way and checks that the re-run leaves
// exactly the source's rows: upsert by running the same command again, append by --resume.
func TestKillAndResume(t *testing.T) {
	src := pgURL(t, "dh_test_cli_kill_src")
	dst := pgURL(t, "dh_test_cli_kill_dst")
	const n = 300000
	pgExec(t, src, `CREATE TABLE src (id bigint primary key, name text, amount numeric(12,2), note text)`,
		fmt.Sprintf(`INSERT INTO src SELECT g, 'name '||g, (g %% 1000)/100.0, md5(g::text) FROM generate_series(1,%d) g`, n))
	want := pgQuery(t, src, "SELECT count(*)||'/'||count(DISTINCT id)||'/'||sum(amount)||'/'||sum(length(note)) FROM src")

	for _, tc := range []struct {
		name  string
		mode  string
		extra []string
	}{
		{"upsert", "upsert", []string{"--key", "id"}},
		{"append", "append", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			table := "dst_" + tc.name
			args := append([]string{"copy", "--json", "--data", data, "--mode", tc.mode, "--no-fast-path",
				"--batch-size", "2000", "--checkpoint-rows", "20000"}, tc.extra...)
			args = append(args, src+"?table=public.src", dst+"?table=public."+table)
			cmd := exec.Command(os.Args[0], args...) //nolint:gosec // the test binary itself
			cmd.Env = append(os.Environ(), "DATAHUB_CLI_MAIN=1")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// Kill once some rows are committed but well before the end.
			testutil.WaitFor(t, 60*time.Second, "the first committed rows", func() bool {
				c := pgQueryMaybe(dst, "SELECT count(*)::text FROM "+table)
				return c != "" && c != "0"
			})
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
			got := pgQueryMaybe(dst, "SELECT count(*)::text FROM "+table)
			if got == fmt.Sprint(n) {
				t.Fatalf("the copy finished before it was killed; make the source bigger")
			}
			rerun := args
			if tc.mode == "append" {
				_, list, _ := run(t, "runs", "list", "--json", "--data", data)
				id := between(list, `"run_id": "`, `"`)
				rerun = append([]string{"copy", "--resume", id}, args[1:]...)
			}
			code, stdout, stderr := run(t, rerun...)
			if code != 0 {
				t.Fatalf("re-run: exit %d\n%s\n%s", code, stdout, stderr)
			}
			have := pgQuery(t, dst, "SELECT count(*)||'/'||count(DISTINCT id)||'/'||sum(amount)||'/'||sum(length(note)) FROM "+table)
			if have != want {
				t.Fatalf("after kill -9 at %s rows and re-run, target (count/distinct/sum/len) %s, source %s", got, have, want)
			}
		})
	}
}

func pgQueryMaybe(dbURL, q string) string {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return ""
	}
	defer func() { _ = conn.Close(ctx) }()
	var s string
	if err := conn.QueryRow(ctx, q).Scan(&s); err != nil {
		return ""
	}
	return s
}

func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	j := strings.Index(s, end)
	if j < 0 {
		return ""
	}
	return s[:j]
}
