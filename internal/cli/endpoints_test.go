package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// namedPassword is the PostgreSQL password the endpoints file takes from the environment; no
// output, run record or file the copy writes may show it.
const namedPassword = "n4med-S3cret"

// writeEndpoints writes an endpoints file with a PostgreSQL endpoint pg (password from
// env:NAMED_PG_PASSWORD, a PROD that is not there), a SQLite endpoint lite and a folder drop.
func writeEndpoints(t *testing.T, dir, pg string) string {
	t.Helper()
	path := filepath.Join(dir, "endpoints.yaml")
	doc := `apiVersion: datahub/v1
kind: Endpoint
metadata:
  name: pg
spec:
  type: postgres
  environments:
    DEV:
      url: ` + pg + `
    PROD:
      url: postgres://postgres@127.0.0.1:1/nowhere
  secrets:
    password: env:NAMED_PG_PASSWORD
---
apiVersion: datahub/v1
kind: Endpoint
metadata:
  name: lite
spec:
  type: sqlite
  environments:
    DEV:
      url: sqlite:` + filepath.Join(dir, "lite.db") + `
---
apiVersion: datahub/v1
kind: Endpoint
metadata:
  name: drop
spec:
  type: file
  environments:
    UAT:
      url: ` + filepath.Join(dir, "drop") + `
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "drop"), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCopyNamedPostgresToSQLite: `copy @pg/TABLE @lite/TABLE` copies through the endpoints
// file, with the password from the environment, and neither the summary, the run record nor
// any file of the data folder shows the password.
func TestCopyNamedPostgresToSQLite(t *testing.T) {
	pg := pgURL(t, "datahub_named_copy")
	pgExec(t, pg, `CREATE TABLE people (id int PRIMARY KEY, name text)`,
		`INSERT INTO people VALUES (1, 'Ada'), (2, 'Grace')`)
	dir := t.TempDir()
	eps := writeEndpoints(t, dir, pg)
	data := filepath.Join(dir, "data")
	t.Setenv("NAMED_PG_PASSWORD", namedPassword)
	t.Setenv("DATAHUB_ENDPOINTS", "")

	code, out, errb := run(t, "copy", "--data", data, "--endpoints", eps, "--json", "--progress", "never",
		"@pg/public.people", "@lite/people")
	if code != 0 {
		t.Fatalf("copy: exit %d: %s %s", code, out, errb)
	}
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.RowsWritten != 2 || s.Source != strings.Replace(pg, "postgres@", "postgres:xxxxx@", 1)+"?table=public.people" ||
		s.Destination != "sqlite:"+filepath.Join(dir, "lite.db")+"?table=people" {
		t.Errorf("summary: %+v", s)
	}
	// The environment variable can also come from the default file, and the DEST be a path
	// under a folder endpoint in its only environment.
	t.Setenv("DATAHUB_ENDPOINTS", eps)
	code, out, errb = run(t, "copy", "--data", data, "--progress", "never", "@lite/people", "@drop/out/people.csv")
	if code != 0 {
		t.Fatalf("copy back: exit %d: %s %s", code, out, errb)
	}
	got, err := os.ReadFile(filepath.Join(dir, "drop", "out", "people.csv"))
	if err != nil || string(got) != "id,name\n1,Ada\n2,Grace\n" {
		t.Errorf("the copied rows: %q, %v", got, err)
	}
	code, runsOut, errb := run(t, "runs", "list", "--data", data)
	if code != 0 || !strings.Contains(runsOut, "xxxxx") {
		t.Errorf("runs list: exit %d: %s %s", code, runsOut, errb)
	}
	for _, text := range []string{out, errb, runsOut} {
		if strings.Contains(text, namedPassword) {
			t.Errorf("the output shows the password:\n%s", text)
		}
	}
	noSecretIn(t, data, namedPassword)
}

// noSecretIn fails when a file under dir holds secret.
func noSecretIn(t *testing.T, dir, secret string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.Contains(string(b), secret) {
			t.Errorf("%s holds the password", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCopyNamedErrors: a wrong @name, environment or secret is a usage error (exit 2) that
// names the file, the line and the endpoint, before anything is opened.
func TestCopyNamedErrors(t *testing.T) {
	dir := t.TempDir()
	eps := writeEndpoints(t, dir, "postgres://postgres@127.0.0.1:5432/postgres")
	data := filepath.Join(dir, "data")
	t.Setenv("NAMED_PG_PASSWORD", namedPassword)
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown name", []string{"@pgg/people", "x.csv"}, []string{eps + `: no endpoint "pgg" (did you mean "pg"?); it has drop, lite, pg`}},
		{"no such environment", []string{"--env", "uat", "@pg/people", "x.csv"},
			[]string{eps + `: document 1 (Endpoint "pg") line 7: spec.environments: no URL for environment UAT (it has DEV, PROD)`}},
		{"no file", []string{"--endpoints", filepath.Join(dir, "none.yaml"), "@pg/people", "x.csv"},
			[]string{"no endpoints file " + filepath.Join(dir, "none.yaml"), "--endpoints FILE"}},
		{"--env without a name", []string{"--env", "dev", "a.csv", "b.csv"}, []string{"--env chooses the environment of @NAME endpoints"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"copy", "--data", data, "--endpoints", eps}, tc.args...)
			code, out, errb := run(t, args...)
			if code != ExitUsage {
				t.Fatalf("exit %d, want %d: %s %s", code, ExitUsage, out, errb)
			}
			for _, w := range tc.want {
				if !strings.Contains(errb, w) {
					t.Errorf("stderr %q\ndoes not say %q", errb, w)
				}
			}
		})
	}
	// A secret the environment does not hold names the variable and the line it is read on.
	if err := os.Unsetenv("NAMED_PG_PASSWORD"); err != nil {
		t.Fatal(err)
	}
	code, _, errb := run(t, "copy", "--data", data, "--endpoints", eps, "@pg/people", "x.csv")
	if code != ExitUsage || !strings.Contains(errb, `(Endpoint "pg") line 12: spec.secrets: `) ||
		!strings.Contains(errb, "environment variable NAMED_PG_PASSWORD is not set") {
		t.Errorf("unset variable: exit %d: %s", code, errb)
	}
	if _, err := os.Stat(data); err == nil {
		t.Errorf("a copy refused before it started created its data folder")
	}
}

// TestEndpointsListAndTest: `endpoints list` shows the file's endpoints; `endpoints test`
// reports a database's server and tables, a table's columns and a folder's objects, and a
// failed connection exits 1 without showing the password.
func TestEndpointsListAndTest(t *testing.T) {
	pg := pgURL(t, "datahub_named_test")
	pgExec(t, pg, `CREATE TABLE people (id int PRIMARY KEY, name text)`)
	dir := t.TempDir()
	eps := writeEndpoints(t, dir, pg)
	t.Setenv("NAMED_PG_PASSWORD", namedPassword)
	t.Setenv("DATAHUB_ENDPOINTS", eps)

	code, out, errb := run(t, "endpoints", "list", "-o", "json")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errb)
	}
	var list struct{ Items []endpointInfo }
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 3 || list.Items[2].Name != "pg" || strings.Join(list.Items[2].Environments, ",") != "DEV,PROD" ||
		list.Items[0].Name != "drop" || list.Items[0].URL != filepath.Join(dir, "drop") {
		t.Errorf("list: %+v", list.Items)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"pg"}, 0, "Connected: PostgreSQL "},
		{[]string{"pg"}, 0, ", 1 table(s)\n"},
		{[]string{"@pg/public.people"}, 0, "Connected: 2 column(s): id int64, name string\n"},
		{[]string{"drop"}, 0, "Connected: a folder with 0 object(s)\n"},
		{[]string{"lite"}, 1, "Failed: "},
		{[]string{"pg", "--env", "prod"}, 1, "Endpoint pg (postgres, PROD): postgres://postgres:xxxxx@127.0.0.1:1/nowhere\nFailed: "},
		{[]string{"pgg"}, 2, ""},
	} {
		code, out, errb := run(t, append([]string{"endpoints", "test"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("endpoints test %v: exit %d (want %d), stdout %q does not say %q; stderr %s", tc.args, code, tc.code, out, tc.want, errb)
		}
		if strings.Contains(out+errb, namedPassword) || strings.Contains(out, "query=") {
			t.Errorf("endpoints test %v shows the password or its probe: %s %s", tc.args, out, errb)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "lite.db")); err == nil {
		t.Errorf("testing a SQLite endpoint created its file")
	}
}

// TestCompletionEndpointNames: copy completes @names from the endpoints file, and `endpoints
// test` the bare names.
func TestCompletionEndpointNames(t *testing.T) {
	dir := t.TempDir()
	eps := writeEndpoints(t, dir, "postgres://postgres@127.0.0.1:5432/postgres")
	t.Setenv("DATAHUB_ENDPOINTS", eps)
	got, _ := complete(t, "copy", "@")
	if strings.Join(got, " ") != "@drop @lite @pg" {
		t.Errorf("copy @: %q", got)
	}
	got, _ = complete(t, "endpoints", "test", "")
	if strings.Join(got, " ") != "drop lite pg" {
		t.Errorf("endpoints test: %q", got)
	}
}

// mysqlUser creates the MariaDB database and user name, whose password is namedPassword, and
// returns the user's URL without it: the server checks the password that the endpoints file's
// env: reference gives (the test PostgreSQL trusts every connection).
func mysqlUser(t *testing.T, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs MariaDB; skipped with -short")
	}
	admin := os.Getenv("DATAHUB_TEST_MYSQL")
	if admin == "" {
		admin = "mysql://root@127.0.0.1:3306/"
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = u.User.Username(), pw, "tcp", u.Host
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	stmts := []string{"DROP DATABASE IF EXISTS " + name, "CREATE DATABASE " + name}
	for _, host := range []string{"%", "localhost", "127.0.0.1"} {
		user := fmt.Sprintf("'%s'@'%s'", name, host)
		stmts = append(stmts, "DROP USER IF EXISTS "+user, "CREATE USER "+user+" IDENTIFIED BY '"+namedPassword+"'",
			"GRANT ALL ON "+name+".* TO "+user)
	}
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("MariaDB for tests at %s (set DATAHUB_TEST_MYSQL): %s: %v", u.Host, s, err)
		}
	}
	return fmt.Sprintf("mysql://%s@%s/%s", name, u.Host, name)
}

// TestCopyNamedToMariaDBWithPassword: the password of an env: reference reaches the server,
// which checks it: the copy and the test pass with it, and a wrong one fails as an auth error
// that shows neither password.
func TestCopyNamedToMariaDBWithPassword(t *testing.T) {
	pg := pgURL(t, "datahub_named_my")
	pgExec(t, pg, `CREATE TABLE people (id int PRIMARY KEY, name text)`, `INSERT INTO people VALUES (1, 'Ada'), (2, 'Grace')`)
	my := mysqlUser(t, "datahub_named")
	dir := t.TempDir()
	eps := writeEndpoints(t, dir, pg)
	appendMySQLEndpoint(t, eps, my, "env:NAMED_MY_PASSWORD")
	t.Setenv("DATAHUB_ENDPOINTS", eps)
	t.Setenv("NAMED_PG_PASSWORD", "")
	data := filepath.Join(dir, "data")

	t.Setenv("NAMED_MY_PASSWORD", "wrong-Passw0rd")
	code, out, errb := run(t, "endpoints", "test", "my", "--json")
	if code != ExitFailed || !strings.Contains(out, `"ok": false`) || strings.Contains(out+errb, "wrong-Passw0rd") {
		t.Errorf("a wrong password: exit %d: %s %s", code, out, errb)
	}
	code, out, errb = run(t, "copy", "--data", data, "--json", "--retries", "0", "--progress", "never", "@pg/public.people", "@my/people")
	if code == 0 || !strings.Contains(out+errb, `"error_code":"auth"`) || strings.Contains(out+errb, "wrong-Passw0rd") {
		t.Errorf("copy with a wrong password: exit %d: %s %s", code, out, errb)
	}
	noSecretIn(t, data, "wrong-Passw0rd")

	t.Setenv("NAMED_MY_PASSWORD", namedPassword)
	if code, out, errb := run(t, "endpoints", "test", "my"); code != 0 || !strings.Contains(out, ", 0 table(s)") {
		t.Errorf("endpoints test my: exit %d: %s %s", code, out, errb)
	}
	code, out, errb = run(t, "copy", "--data", data, "--json", "--progress", "never", "@pg/public.people", "@my/people")
	if code != 0 || !strings.Contains(out, `"rows_written":2`) || !strings.Contains(out, `"destination":"mysql://datahub_named:xxxxx@`) {
		t.Errorf("copy: exit %d: %s %s", code, out, errb)
	}
	if code, out, _ := run(t, "endpoints", "test", "my/people"); code != 0 || !strings.Contains(out, "2 column(s)") {
		t.Errorf("endpoints test my/people: exit %d: %s", code, out)
	}
	noSecretIn(t, data, namedPassword)
}

// TestNamedSecretFromLocalStore: a named connection's secret:NAME comes from the data
// folder's own store, put there with `secret put --local`: refused, saying so, until it is
// put; then the server accepts it, and the value is nowhere in plain text.
func TestNamedSecretFromLocalStore(t *testing.T) {
	pg := pgURL(t, "datahub_named_local")
	pgExec(t, pg, `CREATE TABLE people (id int PRIMARY KEY, name text)`, `INSERT INTO people VALUES (1, 'Ada'), (2, 'Grace')`)
	my := mysqlUser(t, "datahub_named")
	dir := t.TempDir()
	eps := writeEndpoints(t, dir, pg)
	appendMySQLEndpoint(t, eps, my, "secret:named-my")
	t.Setenv("DATAHUB_ENDPOINTS", eps)
	t.Setenv("NAMED_PG_PASSWORD", "")
	data := filepath.Join(dir, "data")

	if code, out, errb := run(t, "endpoints", "test", "my", "--data", data); code != ExitUsage || !strings.Contains(out+errb, "no local secret store in "+data) {
		t.Fatalf("before the secret is put: exit %d: %s %s", code, out, errb)
	}
	if _, err := os.Stat(data); err == nil {
		t.Fatal("looking the secret up created the data folder")
	}
	if code, out, errb := runIn(t.Context(), t, namedPassword, "secret", "put", "--local", "--data", data, "named-my", "--from-stdin"); code != 0 || !strings.Contains(out, "secret:named-my") {
		t.Fatalf("secret put --local: exit %d: %s %s", code, out, errb)
	}
	if code, out, _ := run(t, "secret", "list", "--local", "--data", data, "-o", "json"); code != 0 || !strings.Contains(out, `"name": "named-my"`) {
		t.Fatalf("secret list --local: exit %d: %s", code, out)
	}
	if code, out, errb := run(t, "endpoints", "test", "my", "--data", data); code != 0 {
		t.Fatalf("endpoints test with the local secret: exit %d: %s %s", code, out, errb)
	}
	code, out, errb := run(t, "copy", "--data", data, "--json", "--progress", "never", "@pg/public.people", "@my/people")
	if code != 0 || !strings.Contains(out, `"rows_written":2`) {
		t.Fatalf("copy: exit %d: %s %s", code, out, errb)
	}
	noSecretIn(t, data, namedPassword)
}

// appendMySQLEndpoint adds the endpoint "my" at url, its password the reference ref, to the
// endpoints file eps.
func appendMySQLEndpoint(t *testing.T, eps, url, ref string) {
	t.Helper()
	f, err := os.OpenFile(eps, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	doc := "---\napiVersion: datahub/v1\nkind: Endpoint\nmetadata:\n  name: my\nspec:\n  type: mysql\n  environments:\n    DEV:\n      url: " + url +
		"\n  secrets:\n    password: " + ref + "\n"
	if _, err := f.WriteString(doc); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
