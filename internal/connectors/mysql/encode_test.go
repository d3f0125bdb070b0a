package mysql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

func TestLoadEncoder(t *testing.T) {
	cols := []tcol{{kind: kInt}, {kind: kString}, {kind: kBytes}, {kind: kDate}, {kind: kDatetime}, {kind: kInstant},
		{kind: kDecimal}, {kind: kBool}, {kind: kJSON}, {kind: kUUID}, {kind: kFloat}}
	u, _ := connector.ParseUUID("123e4567-e89b-12d3-a456-426614174000")
	loc := time.FixedZone("", -7*3600)
	rows := [][]any{
		{int64(-42), "a\tb\nc\\d\re\x00f \\N 😀", []byte{0, '\t', 0xff}, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
			time.Date(2040, 1, 2, 3, 4, 5, 123456789, time.UTC), time.Date(2040, 1, 2, 3, 4, 5, 0, loc),
			connector.Decimal("-12.50"), true, json.RawMessage("{\"k\":\"\\t\"}"), u, 1e21},
		{nil, "", []byte{}, nil, time.Date(5, 1, 1, 0, 0, 0, 1000, time.UTC), nil, nil, false, nil, nil, 0.1},
	}
	e := loadEncoder{cols: cols}
	var b bytes.Buffer
	if err := e.encode(&b, rows); err != nil {
		t.Fatal(err)
	}
	want := "-42\ta\\tb\\nc\\\\d\\re\\0f \\\\N 😀\t0009ff\t2024-02-29\t2040-01-02 03:04:05.123456\t2040-01-02 10:04:05\t" +
		"-12.50\t1\t{\"k\":\"\\\\t\"}\t123e4567-e89b-12d3-a456-426614174000\t1e+21\n" +
		"\\N\t\t\t\\N\t0005-01-01 00:00:00.000001\t\\N\t\\N\t0\t\\N\t\\N\t0.1\n"
	if got := b.String(); got != want {
		t.Errorf("encoded\n%q\nwant\n%q", got, want)
	}
}

func TestLoadEncoderChunks(t *testing.T) {
	e := loadEncoder{cols: []tcol{{kind: kInt}, {kind: kString}}}
	var rows [][]any
	for i := 0; i < 20000; i++ {
		rows = append(rows, []any{int64(i), "some text of a typical length"})
	}
	var w chunkRecorder
	if err := e.encode(&w, rows); err != nil {
		t.Fatal(err)
	}
	if len(w.sizes) < 2 {
		t.Errorf("one chunk of %v bytes: not streamed", w.sizes)
	}
	for _, s := range w.sizes[:len(w.sizes)-1] {
		if s < chunkSize || s > chunkSize+200 {
			t.Errorf("chunk of %d bytes", s)
		}
	}
	if !bytes.HasSuffix(w.all.Bytes(), []byte("19999\tsome text of a typical length\n")) {
		t.Error("last row missing")
	}
}

type chunkRecorder struct {
	sizes []int
	all   bytes.Buffer
}

func (c *chunkRecorder) Write(p []byte) (int, error) {
	c.sizes = append(c.sizes, len(p))
	return c.all.Write(p)
}

// BenchmarkLoadEncoder encodes the rows of the lead's benchmark table (id, name, email,
// amount numeric(12,2), created_at timestamptz, note).
func BenchmarkLoadEncoder(b *testing.B) {
	e := loadEncoder{cols: []tcol{{kind: kInt}, {kind: kString}, {kind: kString}, {kind: kDecimal}, {kind: kInstant}, {kind: kString}}}
	rows := make([][]any, 10000)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		rows[i] = []any{int64(i), fmt.Sprint("Customer ", i), fmt.Sprintf("customer%d@example.com", i),
			connector.Decimal(fmt.Sprintf("%d.%02d", i%100000, i%100)), base.Add(time.Duration(i) * time.Second),
			"a note with some words in it, and a tab\there"}
	}
	var n int64
	w := discard{&n}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.encode(w, rows); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
	b.SetBytes(n / int64(b.N))
}

type discard struct{ n *int64 }

func (d discard) Write(p []byte) (int, error) { *d.n += int64(len(p)); return len(p), nil }
