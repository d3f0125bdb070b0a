package all_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/connector/conntest"
	"github.com/datahub-oss/datahub/internal/engine"
	"github.com/datahub-oss/datahub/internal/runstatus"
)

// inferCSV has one column of each inferred type, a code with leading zeros (text), and after
// the 20 sampled records one whose id fits no integer.
func inferCSV(t *testing.T) connector.Endpoint {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,code,amount,active,day,at,local,uid,doc,note\n")
	for i := 1; i <= 25; i++ {
		id := fmt.Sprint(i)
		if i == 23 {
			id = "n/a"
		}
		fmt.Fprintf(&b, "%s,%03d,%d.%02d,%t,2024-01-%02d,2024-01-%02dT10:00:00Z,2024-01-%02d 10:00:00,0b4e7a4e-6d3c-4c54-9a54-3a0c7a2f6f%02d,\"{\"\"n\"\":%d}\",note %d\n",
			id, i, i*10, i, i%2 == 0, i, i, i, i, i, i)
	}
	return connector.Endpoint{URL: writeFile(t, "infer.csv", b.String())}
}

// TestInferTypesOnCreate: a CSV copied into a table the copy creates gets typed columns
// (PostgreSQL, MariaDB, SQLite), the summary's schema says which, and a later value that does
// not fit is a reject naming the type and the --map that widens it.
func TestInferTypesOnCreate(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and MariaDB; skipped with -short")
	}
	src := inferCSV(t)
	want := "id int64, code string, amount decimal(5,2), active bool, day date, at timestamptz, local timestamp, uid uuid, doc json, note string"
	for _, db := range databases(t, "infer") {
		t.Run(db.name, func(t *testing.T) {
			dst := connector.Endpoint{URL: db.url("typed")}
			rej := &memRejects{}
			res := engine.New(engine.Options{RunID: "inf", Source: src, Dest: dst, InferRows: 20, Rejects: rej}).Run(context.Background())
			if res.Status != runstatus.Partial || res.RowsWritten != 24 || res.RowsRejected != 1 {
				t.Fatalf("status %s, written %d, rejected %d: %v", res.Status, res.RowsWritten, res.RowsRejected, res.Err)
			}
			var got []string
			for _, c := range res.Schema {
				got = append(got, c.Name+" "+c.Type)
			}
			if strings.Join(got, ", ") != want {
				t.Fatalf("schema\n %s\nwant\n %s", strings.Join(got, ", "), want)
			}
			r := rej.all[0]
			if r.Record != 23 || r.Column != "id" || r.Value != "n/a" || !strings.Contains(r.Reason, "int64") ||
				!strings.Contains(r.Reason, "--map id::string") || !strings.Contains(r.Reason, "first 20 records") {
				t.Fatalf("reject %+v", r)
			}
			schema, rows, _ := conntest.Read(t, dst, nil)
			if len(rows) != 24 {
				t.Fatalf("stored %d rows", len(rows))
			}
			types := map[string]connector.Type{}
			for _, c := range schema.Columns {
				types[c.Name] = c.Type
			}
			for name, ty := range map[string]connector.Type{"id": connector.TypeInt64, "code": connector.TypeString,
				"amount": connector.TypeDecimal, "active": connector.TypeBool, "day": connector.TypeDate,
				"local": connector.TypeTimestamp, "uid": connector.TypeUUID} {
				if types[name] != ty {
					t.Errorf("stored column %s is %s, want %s", name, types[name], ty)
				}
			}
			if rows[0][1] != "001" {
				t.Errorf("code stored as %#v, want \"001\"", rows[0][1])
			}
		})
	}
}

// TestInferKeepsTextWhenTold: --infer=false, an existing table and a file destination all
// keep the values as they are.
func TestInferKeepsTextWhenTold(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and MariaDB; skipped with -short")
	}
	src := inferCSV(t)
	for _, db := range databases(t, "noinfer") {
		t.Run(db.name, func(t *testing.T) {
			off := connector.Endpoint{URL: db.url("off")}
			res := engine.New(engine.Options{RunID: "off", Source: src, Dest: off, NoInfer: true}).Run(context.Background())
			if res.Status != runstatus.Succeeded || res.RowsWritten != 25 || res.Schema != nil {
				t.Fatalf("--infer=false: status %s, written %d, schema %v: %v", res.Status, res.RowsWritten, res.Schema, res.Err)
			}
			schema, _, _ := conntest.Read(t, off, nil)
			for _, c := range schema.Columns {
				if c.Type != connector.TypeString {
					t.Errorf("--infer=false made column %s %s", c.Name, c.Type)
				}
			}
			// Appending to the text table it made converts to its types, as without inference.
			res = engine.New(engine.Options{RunID: "again", Source: src, Dest: off}).Run(context.Background())
			if res.Status != runstatus.Succeeded || res.RowsWritten != 25 || res.Schema != nil {
				t.Fatalf("existing table: status %s, written %d, schema %v: %v", res.Status, res.RowsWritten, res.Schema, res.Err)
			}
		})
	}
	out := connector.Endpoint{URL: filepath.Join(t.TempDir(), "out.csv")}
	res := engine.New(engine.Options{RunID: "file", Source: src, Dest: out}).Run(context.Background())
	if res.Status != runstatus.Succeeded || res.Schema != nil {
		t.Fatalf("file copy: status %s, schema %v: %v", res.Status, res.Schema, res.Err)
	}
	_, rows, _ := conntest.Read(t, out, nil)
	if rows[0][1] != "001" || rows[0][2] != "10.01" || rows[22][0] != "n/a" {
		t.Fatalf("file copy changed values: %q", rows[0])
	}
}

// TestInferJSONKeepsItsTypes: an NDJSON source keeps its own numbers and booleans, and a
// string stays a string unless it reads as a timestamp or a UUID.
func TestInferJSONKeepsItsTypes(t *testing.T) {
	src := connector.Endpoint{URL: writeFile(t, "in.ndjson",
		`{"id":1,"at":"2024-01-01T10:00:00Z","n":"42","u":"0b4e7a4e-6d3c-4c54-9a54-3a0c7a2f6f11","ok":true}`+"\n"+
			`{"id":2,"at":"2024-01-02T10:00:00Z","n":"043","u":"0b4e7a4e-6d3c-4c54-9a54-3a0c7a2f6f12","ok":false}`+"\n")}
	dst := connector.Endpoint{URL: "sqlite:" + filepath.Join(t.TempDir(), "j.db") + "?table=j"}
	res := engine.New(engine.Options{RunID: "json", Source: src, Dest: dst}).Run(context.Background())
	var got []string
	for _, c := range res.Schema {
		got = append(got, c.Name+" "+c.Type)
	}
	if res.Status != runstatus.Succeeded || strings.Join(got, ", ") != "id int64, at timestamptz, n string, u uuid, ok bool" {
		t.Fatalf("status %s, schema %v: %v", res.Status, got, res.Err)
	}
}
