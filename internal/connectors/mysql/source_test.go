package mysql

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/connectors/sqlkit"
)

func TestSourceTypeMapping(t *testing.T) {
	if v := serverVersion(t); !strings.Contains(v, "MariaDB") {
		t.Skipf("the table uses MariaDB's UUID type; server is %s", v)
	}
	table := tableFor(t, "")
	e := endpoint(t, table)
	exec(t, "CREATE TABLE "+quoteIdent(table)+` (
		id INT UNSIGNED NOT NULL PRIMARY KEY,
		bo BOOLEAN, ti TINYINT, sm SMALLINT UNSIGNED, bu BIGINT UNSIGNED, yr YEAR,
		fl FLOAT, db DOUBLE, de DECIMAL(12,2) NOT NULL DEFAULT 0,
		ch CHAR(3), vc VARCHAR(20) NOT NULL DEFAULT '', tx TEXT, en ENUM('a','b'), tm TIME,
		da DATE, dt DATETIME(3), ts TIMESTAMP(6) NULL, bi BINARY(4), vb VARBINARY(8), bl BLOB,
		js JSON, b1 BIT(1), b9 BIT(9), pt POINT NULL, uu UUID)`)
	exec(t, "INSERT INTO "+quoteIdent(table)+` VALUES (1, TRUE, -5, 65535, 18446744073709551615, 2024,
		3.14, 0.1, 1234567890.12, 'ab', 'vc', 'text', 'b', '-838:59:59', '2024-02-29', '2024-01-02 03:04:05.678',
		'2030-01-01 00:00:00.000001', 'ab', 'xy', 'blob', '{"k": 1}', b'1', b'100000001', POINT(1, 2),
		'123e4567-e89b-12d3-a456-426614174000')`)
	sc, rows, _ := readAll(t, e, nil)
	want := map[string]string{
		"id": "int64", "bo": "bool", "ti": "int64", "sm": "int64", "bu": "decimal(20,0)", "yr": "int64",
		"fl": "float64", "db": "float64", "de": "decimal(12,2)", "ch": "string(3)", "vc": "string(20)", "tx": "string",
		"en": "string", "tm": "string", "da": "date", "dt": "timestamp", "ts": "timestamptz", "bi": "bytes(4)",
		"vb": "bytes(8)", "bl": "bytes(65535)", "js": "json", "b1": "bool", "b9": "int64", "pt": "string", "uu": "uuid",
	}
	for _, c := range sc.Columns {
		got := strings.SplitN(c.Describe(), " ", 2)[0]
		if got != want[c.Name] {
			t.Errorf("column %s [%s] maps to %s, want %s", c.Name, c.Native, got, want[c.Name])
		}
	}
	if sc.Columns[0].Nullable || !sc.Columns[1].Nullable || sc.Columns[8].Nullable {
		t.Errorf("nullability wrong: %+v", sc.Columns[:9])
	}
	if len(sc.Key) != 1 || sc.Key[0] != "id" {
		t.Errorf("key %v", sc.Key)
	}
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	u, _ := connector.ParseUUID("123e4567-e89b-12d3-a456-426614174000")
	checks := []struct {
		col  int
		want any
	}{
		{0, int64(1)}, {1, true}, {2, int64(-5)}, {3, int64(65535)}, {4, connector.Decimal("18446744073709551615")},
		{5, int64(2024)}, {6, 3.14}, {7, 0.1}, {8, connector.Decimal("1234567890.12")}, {9, "ab"}, {11, "text"},
		{12, "b"}, {13, "-838:59:59"}, {14, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{15, time.Date(2024, 1, 2, 3, 4, 5, 678000000, time.UTC)}, {16, time.Date(2030, 1, 1, 0, 0, 0, 1000, time.UTC)},
		{17, []byte("ab\x00\x00")}, {18, []byte("xy")}, {20, json.RawMessage(`{"k": 1}`)}, {21, true}, {22, int64(257)},
		{23, "POINT(1 2)"}, {24, u},
	}
	for _, c := range checks {
		if !connector.Equal(sc.Columns[c.col].Type, c.want, r[c.col]) {
			t.Errorf("column %s: got %#v, want %#v", sc.Columns[c.col].Name, r[c.col], c.want)
		}
	}
}

func TestMariaDBJSONIsJSON(t *testing.T) {
	table := tableFor(t, "")
	e := endpoint(t, table)
	exec(t, "CREATE TABLE "+quoteIdent(table)+" (`we``ird` LONGTEXT CHECK (json_valid(`we``ird`)), plain LONGTEXT)")
	sc, _, _ := readAll(t, e, nil)
	if srv := serverVersion(t); strings.Contains(srv, "MariaDB") && sc.Columns[0].Type != connector.TypeJSON {
		t.Errorf("json column maps to %s", sc.Columns[0].Describe())
	}
	if sc.Columns[1].Type != connector.TypeString {
		t.Errorf("plain longtext maps to %s", sc.Columns[1].Describe())
	}
}

func serverVersion(t testing.TB) string {
	var v string
	admin(t).QueryRow("SELECT VERSION()").Scan(&v)
	return v
}

func TestResumeFromPosition(t *testing.T) {
	cases := []struct {
		name   string
		schema connector.Schema
		key    []string
		row    func(i int) []any
	}{
		{"bigint", connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}, {Name: "v", Type: connector.TypeString}}},
			[]string{"id"}, func(i int) []any { return []any{int64(9007199254740993 + 2*i), fmt.Sprint(i)} }},
		{"composite", connector.Schema{Columns: []connector.Column{{Name: "a", Type: connector.TypeString, Length: 10},
			{Name: "b", Type: connector.TypeDecimal, Precision: 30, Scale: 2}, {Name: "v", Type: connector.TypeString}}},
			[]string{"a", "b"}, func(i int) []any {
				return []any{[]string{"A", "a", "b"}[i%3], connector.Decimal(fmt.Sprintf("123456789012345678901234%d.0%d", i/3, i%10)), fmt.Sprint(i)}
			}},
		{"bytes", connector.Schema{Columns: []connector.Column{{Name: "k", Type: connector.TypeBytes, Length: 4}, {Name: "v", Type: connector.TypeString}}},
			[]string{"k"}, func(i int) []any { return []any{[]byte{byte(i * 20), 0, '\n', 0xff}, fmt.Sprint(i)} }},
		{"timestamptz", connector.Schema{Columns: []connector.Column{{Name: "k", Type: connector.TypeTimestampTZ}, {Name: "v", Type: connector.TypeString}}},
			[]string{"k"}, func(i int) []any { return []any{time.Date(2100, 1, 1, 0, 0, 0, i*1000, time.UTC), fmt.Sprint(i)} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := endpoint(t, tableFor(t, ""))
			var rows [][]any
			for i := 0; i < 10; i++ {
				rows = append(rows, tc.row(i))
			}
			writeAll(t, e, tc.schema, connector.SinkOptions{Key: tc.key}, rows)
			e.BatchSize = 3
			_, all, batches := readAll(t, e, nil)
			if len(all) != 10 || len(batches) != 4 {
				t.Fatalf("read %d rows in %d batches", len(all), len(batches))
			}
			for bi, b := range batches[:3] {
				// A position as this version writes it, and as the versions before sqlkit's
				// format did (stored in transaction logs and checkpoint tables).
				for _, pos := range []connector.Position{b.Pos, legacyPosition(t, b.Pos)} {
					_, rest, _ := readAll(t, e, pos)
					if len(rest) != 10-3*(bi+1) {
						t.Fatalf("from batch %d (pos %s): %d rows, want %d", bi, pos, len(rest), 10-3*(bi+1))
					}
					for i, r := range rest {
						if r[len(r)-1] != all[3*(bi+1)+i][len(r)-1] {
							t.Fatalf("from batch %d row %d: %v, want %v", bi, i, r, all[3*(bi+1)+i])
						}
					}
				}
			}
			_, rest, _ := readAll(t, e, batches[3].Pos)
			if len(rest) != 0 {
				t.Errorf("after the last batch: %d rows", len(rest))
			}
		})
	}
}

// legacyPosition is pos in the format before sqlkit's: a JSON array of the key texts, binary
// ones in base64.
func legacyPosition(t *testing.T, pos connector.Position) connector.Position {
	t.Helper()
	k, err := sqlkit.DecodeKeyset(pos, nil)
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, len(k.After))
	for i, v := range k.After {
		switch x := v.(type) {
		case []byte:
			texts[i] = base64.StdEncoding.EncodeToString(x)
		default:
			texts[i] = x.(string)
		}
	}
	out, err := json.Marshal(texts)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestQuerySource(t *testing.T) {
	table := tableFor(t, "")
	e := endpoint(t, table)
	writeAll(t, e, edgeSchema(), connector.SinkOptions{Key: []string{"id"}}, edgeRows())
	q := connector.Endpoint{URL: dbURL("query=" + urlEscape("SELECT id, d2, s, ts, tz, `by`, id * 2 AS twice FROM "+quoteIdent(table)+" ORDER BY id"))}
	sc, rows, batches := readAll(t, q, nil)
	types := []connector.Type{connector.TypeInt64, connector.TypeDecimal, connector.TypeString, connector.TypeTimestamp,
		connector.TypeTimestamp, connector.TypeBytes, connector.TypeInt64}
	for i, c := range sc.Columns {
		if c.Type != types[i] {
			t.Errorf("query column %s maps to %s, want %s", c.Name, c.Describe(), types[i])
		}
	}
	if len(rows) != 4 || batches[0].Pos != nil || rows[0][6] != int64(2) || rows[0][2] != edgeRows()[0][5] {
		t.Errorf("query rows: %v", rows)
	}
	src := newSource(t, q)
	if err := src.Open(context.Background(), connector.Position(`["1"]`)); connector.CodeOf(err) != connector.CodeUnsupported {
		t.Errorf("query resume: %v", err)
	}
	src.Close(context.Background())
}

func TestSourceCancelAndClose(t *testing.T) {
	table := tableFor(t, "")
	e := endpoint(t, table)
	var rows [][]any
	for i := 0; i < 50000; i++ {
		rows = append(rows, []any{int64(i), fmt.Sprint("value ", i)})
	}
	writeAll(t, e, connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64}, {Name: "v", Type: connector.TypeString}}},
		connector.SinkOptions{Key: []string{"id"}}, rows)
	e.BatchSize = 100
	src := newSource(t, e)
	if err := src.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if _, _, err := src.Read(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	start := time.Now()
	if _, _, err := src.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("read after cancel: %v", err)
	}
	if err := src.Close(context.Background()); err != nil {
		t.Error(err)
	}
	if err := src.Close(context.Background()); err != nil {
		t.Error(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel and close took %v", d)
	}

	// Closing a half-read source does not drain the rest.
	src = newSource(t, e)
	if err := src.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := src.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	src.Close(context.Background())
}

func TestSourceNotFound(t *testing.T) {
	e := endpoint(t, tableFor(t, ""))
	src := newSource(t, e)
	defer src.Close(context.Background())
	err := src.Open(context.Background(), nil)
	if connector.CodeOf(err) != connector.CodeNotFound || !strings.Contains(err.Error(), tableFor(t, "")) {
		t.Errorf("missing table: %v", err)
	}
}

// A source query that writes fails with a clear error and changes nothing, DDL included
// (whose implicit commit would otherwise leave the READ ONLY transaction).
func TestSourceQueryIsReadOnly(t *testing.T) {
	table := tableFor(t, "")
	endpoint(t, table)
	other := table + "_new"
	t.Cleanup(func() { _, _ = admin(t).Exec("DROP TABLE IF EXISTS " + quoteIdent(other)) })
	exec(t, "CREATE TABLE "+quoteIdent(table)+" (id INT PRIMARY KEY, v TEXT)")
	exec(t, "INSERT INTO "+quoteIdent(table)+" VALUES (1, 'a'), (2, 'b'), (3, 'c')")
	// The server writes OUTFILEs as its own user, where secure_file_priv lets it: the test
	// asks for a name that cannot exist yet and checks it never appears.
	outfile := filepath.Join(os.TempDir(), "datahub-outfile-"+table)
	t.Cleanup(func() { _ = os.Remove(outfile) })
	for name, q := range map[string]string{
		"delete":           "DELETE FROM " + quoteIdent(table) + " WHERE id = 1",
		"update":           "UPDATE " + quoteIdent(table) + " SET v = 'x'",
		"insert":           "INSERT INTO " + quoteIdent(table) + " VALUES (9, 'x')",
		"create table":     "CREATE TABLE " + quoteIdent(other) + " (id INT)",
		"drop table":       "DROP TABLE " + quoteIdent(table),
		"for update":       "SELECT * FROM " + quoteIdent(table) + " FOR UPDATE",
		"delete returning": "DELETE FROM " + quoteIdent(table) + " RETURNING id",
		"into outfile":     "SELECT * FROM " + quoteIdent(table) + " INTO OUTFILE '" + outfile + "'",
		"into dumpfile":    "SELECT v FROM " + quoteIdent(table) + " LIMIT 1 /*!50000 INTO DUMPFILE '" + outfile + "' */",
	} {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			ctx := context.Background()
			src := newSource(t, connector.Endpoint{URL: dbURL("query=" + urlEscape(q))})
			defer src.Close(ctx)
			err := src.Open(ctx, nil)
			if connector.CodeOf(err) != connector.CodeUsage || !strings.Contains(err.Error(), "a source query must only read: ") {
				t.Fatalf("got %v (code %s), want a usage error saying a source query must only read", err, connector.CodeOf(err))
			}
			if n := count(t, table); n != 3 {
				t.Fatalf("the table has %d rows, want 3", n)
			}
		})
	}
	if _, err := os.Stat(outfile); err == nil {
		t.Fatalf("a source query wrote %s on the database server", outfile)
	}
	var n int
	if err := admin(t).QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", other).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a source query created table %s (%d, %v)", other, n, err)
	}
	if _, rows, _ := readAll(t, connector.Endpoint{URL: dbURL("query=" + urlEscape("SELECT v FROM "+quoteIdent(table)+" ORDER BY id"))}, nil); len(rows) != 3 {
		t.Fatalf("a reading query got %d rows", len(rows))
	}
}
