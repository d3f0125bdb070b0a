package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/datahub-oss/datahub/connector"
)

// writeVia creates a table from ddl and writes rows into it with s through binary COPY (or,
// when text is set, the text COPY path the sink took before), returning the table's rows as
// text ordered by its first column, the write's rejects and the table's name.
func writeVia(t *testing.T, ddl string, s connector.Schema, mode connector.WriteMode, rows [][]any, text bool) ([]string, connector.RecordErrors, string) {
	t.Helper()
	conn := sqlConn(t)
	table := tableFor(t)
	mustExec(t, conn, "CREATE TABLE "+table+" ("+ddl+")")
	ctx := t.Context()
	snk := &Sink{ep: endpointFor(t, table)}
	defer snk.Close(ctx)
	if _, err := snk.Open(ctx, s, connector.SinkOptions{Mode: mode, Key: s.Key}); err != nil {
		t.Fatal(err)
	}
	if snk.bin == nil {
		t.Fatalf("table (%s) takes text COPY", ddl)
	}
	if text {
		snk.bin = nil
	}
	var re connector.RecordErrors
	if err := snk.Write(ctx, &connector.Batch{Rows: rows}); err != nil && !errors.As(err, &re) {
		t.Fatal(err)
	}
	if err := snk.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	q, err := conn.Query(ctx, "SELECT t::text FROM "+table+" t ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(q, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i] = strings.ReplaceAll(got[i], table, "T")
	}
	for i := range re {
		re[i].Err = errors.New(strings.ReplaceAll(re[i].Err.Error(), table, "T"))
	}
	return got, re, table
}

const allBinaryDDL = `n int PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, o oid, f4 real, f8 double precision,
	num numeric, n122 numeric(12,2), b boolean, t text, vc varchar(5), bc char(4), by bytea, d date,
	ts timestamp, ts3 timestamp(3), tz timestamptz, u uuid, j json, jb jsonb`

func allBinarySchema() connector.Schema {
	var s connector.Schema
	for _, c := range []struct {
		name string
		typ  connector.Type
	}{{"n", connector.TypeInt64}, {"i2", connector.TypeInt64}, {"i4", connector.TypeInt64}, {"i8", connector.TypeInt64},
		{"o", connector.TypeInt64}, {"f4", connector.TypeFloat64}, {"f8", connector.TypeFloat64}, {"num", connector.TypeDecimal},
		{"n122", connector.TypeDecimal}, {"b", connector.TypeBool}, {"t", connector.TypeString}, {"vc", connector.TypeString},
		{"bc", connector.TypeString}, {"by", connector.TypeBytes}, {"d", connector.TypeDate}, {"ts", connector.TypeTimestamp},
		{"ts3", connector.TypeTimestamp}, {"tz", connector.TypeTimestampTZ}, {"u", connector.TypeUUID}, {"j", connector.TypeJSON},
		{"jb", connector.TypeJSON}} {
		s.Columns = append(s.Columns, connector.Column{Name: c.name, Type: c.typ, Nullable: c.name != "n"})
	}
	s.Key = []string{"n"}
	return s
}

// TestBinaryMatchesText is the golden round trip: every value the hub encodes reads back from
// the server (as text) exactly as the same value written with text COPY.
func TestBinaryMatchesText(t *testing.T) {
	u, _ := connector.ParseUUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	ist := time.FixedZone("", 5*3600+1800)
	// Halfway between float32 1 and its successor: float32() rounds it to 1, while float4in reads
	// its shortest text, 1.0000000596046448, as the successor.
	mid := 1 + math.Pow(2, -24)
	rows := [][]any{
		{int64(1), int64(math.MinInt16), int64(math.MaxInt32), int64(math.MinInt64), int64(-1), 0.1, math.Copysign(0, -1),
			connector.Decimal("-123456789012345678901234567890.000000000100"), connector.Decimal("1.005"), true,
			"tab\there\nnewline\r\\back 'q' \"dq\" é 😀", "abc     ", "ab", all,
			time.Date(-43, 3, 15, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 2, 3, 4, 5, 123456500, time.UTC),
			time.Date(2024, 1, 2, 3, 4, 5, 999500000, time.UTC), time.Date(2024, 2, 29, 23, 59, 59, 999999500, ist),
			u, json.RawMessage(`{"b": 1,   "a": [1, 2.50, null]}`), json.RawMessage(`{"b": 1,   "a": [1, 2.50, null]}`)},
		{int64(2), int64(math.MaxInt16), int64(math.MinInt32), int64(math.MaxInt64), int64(math.MaxUint32), mid, math.MaxFloat64,
			connector.Decimal("0.000000000000000000000000000001"), connector.Decimal("-9999999999.99"), false,
			"", "", "", []byte{}, time.Date(5874897, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(294276, 12, 31, 23, 59, 59, 999999000, time.UTC), time.Date(-4712, 1, 1, 0, 0, 0, 500, time.UTC),
			connector.UUID{}, json.RawMessage(`"\u00e9"`), json.RawMessage(`[]`)},
		{int64(3), nil, nil, nil, nil, math.Inf(-1), math.NaN(), connector.Decimal("0"), connector.Decimal("0.00"), nil,
			`\N`, nil, nil, nil, time.Date(2000, 1, 1, 23, 0, 0, 0, ist), time.Date(1999, 12, 31, 23, 59, 59, 999999999, ist),
			nil, time.Date(1, 1, 1, 0, 0, 0, 1500, time.UTC), nil, nil, nil},
		{int64(4), int64(0), int64(-1), int64(1), int64(0), math.SmallestNonzeroFloat32, math.SmallestNonzeroFloat64,
			connector.Decimal("10000"), connector.Decimal("99990000.0001"), true, "x", "abcde", "abcd", []byte{0},
			time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
			time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC), time.Date(1969, 12, 31, 23, 59, 59, 999999, time.UTC),
			u, json.RawMessage(`1e3`), json.RawMessage(`{"a": {"b": ["c"]}}`)},
		// Values of Go types the encoders do not expect travel as their text form, as before.
		{int64(5), "7", int64(8), "9", "10", int64(11), int64(12), int64(-13), "1.5e1", "true", int64(14), true, 1.5, nil,
			nil, nil, nil, nil, nil, "[1]", "{}"},
	}
	s := allBinarySchema()
	bin, binRej, _ := writeVia(t, allBinaryDDL, s, connector.ModeAppend, rows, false)
	txt, txtRej, _ := writeVia(t, allBinaryDDL, s, connector.ModeAppend, rows, true)
	if len(binRej) > 0 || len(txtRej) > 0 {
		t.Fatalf("rejects: binary %v, text %v", binRej, txtRej)
	}
	if len(bin) != len(rows) || !slices.Equal(bin, txt) {
		t.Fatalf("binary COPY wrote\n%s\ntext COPY wrote\n%s", strings.Join(bin, "\n"), strings.Join(txt, "\n"))
	}
}

// TestBinaryRejects checks that values the hub cannot encode are rejected as the server
// refuses them on the text path (same rows, columns and reasons), mixed with rows the server
// refuses, in every mode.
func TestBinaryRejects(t *testing.T) {
	const ddl = "n int PRIMARY KEY, i2 smallint, i4 integer NOT NULL, d date, f4 real, num numeric, vc varchar(3)"
	s := connector.Schema{Key: []string{"n"}}
	for _, c := range []struct {
		name string
		typ  connector.Type
	}{{"n", connector.TypeInt64}, {"i2", connector.TypeInt64}, {"i4", connector.TypeInt64}, {"d", connector.TypeDate},
		{"f4", connector.TypeFloat64}, {"num", connector.TypeDecimal}, {"vc", connector.TypeString}} {
		s.Columns = append(s.Columns, connector.Column{Name: c.name, Type: c.typ, Nullable: true})
	}
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rows := [][]any{
		{int64(0), int64(1), int64(1), day, 1.5, connector.Decimal("1"), "ok"},
		{int64(1), int64(40000), int64(1), day, 1.5, connector.Decimal("1"), "ok"}, // smallint range (hub)
		{int64(2), int64(1), nil, day, 1.5, connector.Decimal("1"), "ok"},          // NOT NULL (server)
		{int64(3), int64(1), int64(1), day, 1e300, connector.Decimal("1"), "ok"},   // real range (hub)
		{int64(4), int64(1), int64(1), day, 1.5, connector.Decimal("1"), "ok"},
		{int64(5), int64(1), int64(1), day, 1.5, connector.Decimal("1"), "toolong"},                   // varchar(3) (server)
		{int64(6), int64(1), int64(1), day, 1e-300, connector.Decimal("1"), "ok"},                     // real underflow (hub)
		{int64(7), int64(1), int64(1), day, 1.5, connector.Decimal("abc"), "ok"},                      // not a number (hub)
		{int64(0), int64(1), int64(1), day, 1.5, connector.Decimal("1"), "dup"},                       // duplicate key (server)
		{int64(9), int64(1), int64(1) << 40, day, 1.5, connector.Decimal("1"), "ok"},                  // integer range (hub)
		{int64(10), int64(1), int64(1), time.Date(6000000, 1, 1, 0, 0, 0, 0, time.UTC), 1.5, nil, ""}, // date range (hub)
		{int64(11), "x", int64(1), day, 1.5, connector.Decimal("1"), "ok"},                            // text for smallint (hub)
		{int64(12), int64(1), int64(1), day, 1.5, connector.Decimal("-0.000"), "ok"},
	}
	for _, mode := range []connector.WriteMode{connector.ModeAppend, connector.ModeUpsert, connector.ModeReplace} {
		t.Run(string(mode), func(t *testing.T) {
			bin, binRej, _ := writeVia(t, ddl, s, mode, rows, false)
			txt, txtRej, _ := writeVia(t, ddl, s, mode, rows, true)
			if !slices.Equal(bin, txt) {
				t.Errorf("binary COPY wrote\n%s\ntext COPY wrote\n%s", strings.Join(bin, "\n"), strings.Join(txt, "\n"))
			}
			if len(binRej) != len(txtRej) {
				t.Fatalf("binary rejects\n%v\ntext rejects\n%v", binRej, txtRej)
			}
			for i, b := range binRej {
				x := txtRej[i]
				// The server quotes the date it refuses, the hub refuses it before it has text; the
				// upsert's failing row shows its arrival number, which counts the rows sent.
				be, xe := b.Err.Error(), x.Err.Error()
				be, _, _ = strings.Cut(be, ": Failing row contains")
				if b.Index != x.Index || b.Column != x.Column || !strings.HasPrefix(xe, be) {
					t.Errorf("reject %d: binary {%d %s %v}, text {%d %s %v}", i, b.Index, b.Column, b.Err, x.Index, x.Column, x.Err)
				}
			}
		})
	}
}

// TestBinaryFallsBackToText checks that a table with a type the hub has no encoder for is
// written with text COPY.
func TestBinaryFallsBackToText(t *testing.T) {
	conn := sqlConn(t)
	table := tableFor(t)
	mustExec(t, conn, "CREATE TABLE "+table+" (id bigint PRIMARY KEY, iv interval, nm name)")
	ctx := t.Context()
	snk := &Sink{ep: endpointFor(t, table)}
	defer snk.Close(ctx)
	s := connector.Schema{Columns: []connector.Column{{Name: "id", Type: connector.TypeInt64},
		{Name: "iv", Type: connector.TypeString, Nullable: true}, {Name: "nm", Type: connector.TypeString, Nullable: true}}}
	if _, err := snk.Open(ctx, s, connector.SinkOptions{}); err != nil {
		t.Fatal(err)
	}
	if snk.bin != nil {
		t.Fatal("a table with interval and name columns is written with binary COPY")
	}
	if err := snk.Write(ctx, &connector.Batch{Rows: [][]any{{int64(1), "1 day 02:00", strings.Repeat("n", 70)}}}); err != nil {
		t.Fatal(err)
	}
	if err := snk.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var iv, nm string
	if err := conn.QueryRow(ctx, "SELECT iv::text, nm::text FROM "+table).Scan(&iv, &nm); err != nil {
		t.Fatal(err)
	}
	if iv != "1 day 02:00:00" || nm != strings.Repeat("n", 63) {
		t.Errorf("iv %q nm %q", iv, nm)
	}
}

// fuzzConn connects to the admin database: the fuzz targets need no tables, and each fuzzing
// worker is a test binary of its own that would otherwise recreate the test database under
// the others.
func fuzzConn(f *testing.F) *pgx.Conn {
	f.Helper()
	conn, err := pgx.Connect(f.Context(), adminURL())
	if err != nil {
		if testing.Short() {
			f.Skipf("PostgreSQL at %s not usable: %v", connector.Redact(adminURL()), err)
		}
		f.Fatalf("PostgreSQL at %s (set DATAHUB_TEST_PG) is not usable: %v", connector.Redact(adminURL()), err)
	}
	f.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// serverReads asks the server to read a value both ways in one statement: $1 as the hub's
// binary encoding of a pgType, $2 as the text the text path sends, each returned as text
// (or the server's error).
func serverReads(t *testing.T, conn *pgx.Conn, pgType string, oid uint32, bin, text []byte) (fromBin, fromText string, binErr, textErr error) {
	t.Helper()
	read := func(v []byte, format int16) (string, error) {
		rr := conn.PgConn().ExecParams(t.Context(), "SELECT $1::"+pgType+"::text", [][]byte{v}, []uint32{oid}, []int16{format}, nil)
		res := rr.Read()
		if res.Err != nil {
			return "", res.Err
		}
		return string(res.Rows[0][0]), nil
	}
	fromBin, binErr = read(bin, 1)
	fromText, textErr = read(text, 0)
	return fromBin, fromText, binErr, textErr
}

// FuzzNumericBinary checks the decimal text to base-10000 encoder against numeric_in.
func FuzzNumericBinary(f *testing.F) {
	for _, s := range []string{"0", "-0.00", "1", "-1", "9999", "10000", "0.0001", "0.00001", "123456789.987654321",
		"-0.000000000000000000000000000001", "1e5", "+7", " 12.5 ", "1.", ".5", "00012.3400", "99999999999999999999.9999999999",
		"1" + strings.Repeat("0", 400), "0." + strings.Repeat("0", 300) + "1", "abc", "1.2.3", "-", ""} {
		f.Add(s)
	}
	conn := fuzzConn(f)
	c := &binColumn{name: "n", typ: connector.TypeDecimal, pgType: "numeric"}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := connector.ParseDecimal(s)
		if err != nil || len(d) > 2000 {
			return // the engine refuses it before the sink
		}
		enc, err := encodeNumeric(nil, d, c)
		text := asText(nil, d, connector.TypeDecimal)
		fromBin, fromText, binErr, textErr := serverReads(t, conn, "numeric", pgtype.NumericOID, enc, text)
		switch {
		case err != nil:
			if textErr == nil {
				t.Fatalf("%q: hub refused (%v), the server reads %s", d, err, fromText)
			}
		case binErr != nil || textErr != nil:
			if (binErr == nil) != (textErr == nil) {
				t.Fatalf("%q: binary %v (%s), text %v (%s)", d, binErr, fromBin, textErr, fromText)
			}
		case fromBin != fromText:
			t.Fatalf("%q: binary reads %s, text %s", d, fromBin, fromText)
		}
	})
}

// FuzzTimestampBinary checks the date and timestamp encoders against date_in and timestamp_in
// reading the text path's form of the same time.Time.
func FuzzTimestampBinary(f *testing.F) {
	for _, seed := range []struct {
		sec  int64
		ns   int64
		zone int32
	}{{0, 0, 0}, {946684800, 0, 0}, {-1, 999999999, 0}, {1709251199, 999999500, 19800}, {1709251199, 1500, -36000},
		{-210863520000, 0, 0}, {9224318016000, 0, 0}, {-62135596800, 500, 3600}, {253402300799, 999999999, 50400}} {
		f.Add(seed.sec, seed.ns, seed.zone)
	}
	conn := fuzzConn(f)
	types := []struct {
		typ    connector.Type
		pgType string
		oid    uint32
	}{{connector.TypeDate, "date", pgtype.DateOID}, {connector.TypeTimestamp, "timestamp", pgtype.TimestampOID},
		{connector.TypeTimestampTZ, "timestamptz", pgtype.TimestamptzOID}}
	f.Fuzz(func(t *testing.T, sec, ns int64, zone int32) {
		// Within ±300,000 years of 1970 (PostgreSQL's range and a little beyond), zones within ±16 h.
		const span = 300_000 * 366 * 86400
		sec %= span
		ns %= 1_000_000_000
		tm := time.Unix(sec, ns).In(time.FixedZone("", int(zone%(16*3600))))
		for _, ty := range types {
			c := &binColumn{name: "v", typ: ty.typ, pgType: ty.pgType}
			enc, _ := binaryEncoder(pgColumn{OID: ty.oid})
			b, err := enc(nil, tm, c)
			text := asText(nil, tm, ty.typ)
			fromBin, fromText, binErr, textErr := serverReads(t, conn, ty.pgType, ty.oid, b, text)
			switch {
			case err != nil:
				if textErr == nil {
					t.Fatalf("%s %s: hub refused (%v), the server reads %s", ty.pgType, text, err, fromText)
				}
			case binErr != nil || textErr != nil:
				if (binErr == nil) != (textErr == nil) {
					t.Fatalf("%s %s: binary %v (%s), text %v (%s)", ty.pgType, text, binErr, fromBin, textErr, fromText)
				}
			case fromBin != fromText:
				t.Fatalf("%s %s: binary reads %s, text %s", ty.pgType, text, fromBin, fromText)
			}
		}
	})
}

// BenchmarkEncodeCopyBinary is BenchmarkEncodeCopyText's batch encoded for binary COPY:
//
//	go test -run XXX -bench EncodeCopy -benchmem ./internal/connectors/postgres/
func BenchmarkEncodeCopyBinary(b *testing.B) {
	_, rows := benchRows(10000)
	cols := []pgColumn{{OID: pgtype.Int8OID}, {OID: pgtype.TextOID}, {OID: pgtype.TextOID}, {OID: pgtype.NumericOID},
		{OID: pgtype.TimestamptzOID}, {OID: pgtype.TextOID}}
	r := &binaryRows{cols: binaryColumns(cols)}
	var rejects connector.RecordErrors
	p := make([]byte, 65536)
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		r.begin(len(rows), &rejects)
		r.reset(rows, nil)
		for {
			k, err := r.Read(p)
			n += int64(k)
			if err != nil {
				break
			}
		}
	}
	if len(rejects) > 0 {
		b.Fatal(rejects)
	}
	b.SetBytes(n / int64(b.N))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}

// TestBinaryRejectsManyChunks checks the rows behind COPY's line numbers when the stream spans
// many CopyData messages and rows the hub refuses are spread among rows the server refuses.
func TestBinaryRejectsManyChunks(t *testing.T) {
	const ddl = "n int PRIMARY KEY, i2 smallint, name text NOT NULL"
	s := connector.Schema{Key: []string{"n"}, Columns: []connector.Column{{Name: "n", Type: connector.TypeInt64},
		{Name: "i2", Type: connector.TypeInt64, Nullable: true}, {Name: "name", Type: connector.TypeString, Nullable: true}}}
	var rows [][]any
	for i := range 6000 {
		var i2, name any = int64(i % 1000), strings.Repeat("n", 40)
		if i%97 == 5 {
			i2 = int64(100000 + i) // the hub refuses it
		}
		if i%89 == 7 {
			name = nil // the server refuses it
		}
		rows = append(rows, []any{int64(i), i2, name})
	}
	for _, mode := range []connector.WriteMode{connector.ModeAppend, connector.ModeUpsert} {
		t.Run(string(mode), func(t *testing.T) {
			bin, binRej, _ := writeVia(t, ddl, s, mode, rows, false)
			txt, txtRej, _ := writeVia(t, ddl, s, mode, rows, true)
			if len(bin) != len(txt) || !slices.Equal(bin, txt) {
				t.Errorf("binary COPY wrote %d rows, text COPY %d, or other rows", len(bin), len(txt))
			}
			if len(binRej) != len(txtRej) || len(binRej) != 62+68 {
				t.Fatalf("%d binary rejects, %d text rejects, want %d", len(binRej), len(txtRej), 62+68)
			}
			for i := range binRej {
				if binRej[i].Index != txtRej[i].Index || binRej[i].Column != txtRej[i].Column {
					t.Errorf("reject %d: binary row %d column %s, text row %d column %s", i,
						binRej[i].Index, binRej[i].Column, txtRej[i].Index, txtRej[i].Column)
				}
			}
		})
	}
}
