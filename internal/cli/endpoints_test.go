package cli

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
