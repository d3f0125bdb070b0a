package csv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/format"
)

// benchData looks like the lead's benchmark table dumped by PostgreSQL's COPY ... CSV HEADER.
func benchData(rows int) []byte {
	var b bytes.Buffer
	b.WriteString("id,name,email,amount,created_at,note\n")
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(&b, "%d,name %d,user%d@example.org,%d.%02d,2024-01-%02d 10:%02d:%02d+00,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx%032x\n",
			i, i, i, i%1000, i%100, i%28+1, i%60, i%60, i*7919)
	}
	return b.Bytes()
}

func BenchmarkReader(b *testing.B) {
	data := benchData(200000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), format.Defaults("csv"), 10000)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			bt, err := r.Read(ctx)
			if errors.Is(err, connector.ErrEndOfInput) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += len(bt.Rows)
		}
		if n != 200000 {
			b.Fatalf("read %d rows", n)
		}
	}
}

// BenchmarkReaderQuoted measures the slow path: every text field quoted.
func BenchmarkReaderQuoted(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString("id,name,note\n")
	for i := 1; i <= 100000; i++ {
		fmt.Fprintf(&buf, "%d,\"name, %d\",\"a \"\"quoted\"\" note\r\nover two lines %d\"\n", i, i, i)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), format.Defaults("csv"), 10000)
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Read(context.Background()); err != nil {
				if !errors.Is(err, connector.ErrEndOfInput) {
					b.Fatal(err)
				}
				break
			}
		}
	}
}

func BenchmarkWriter(b *testing.B) {
	r, _ := NewReader(bytes.NewReader(benchData(100000)), format.Defaults("csv"), 100000)
	bt, _ := r.Read(context.Background())
	var n int64
	b.ReportAllocs()
	for b.Loop() {
		w, _ := NewWriter(io.Discard, r.Schema(), format.Defaults("csv"))
		cw := &countWriter{}
		w.w = cw
		if err := w.Write(bt); err != nil {
			b.Fatal(err)
		}
		w.Close()
		n = cw.n
	}
	b.SetBytes(n)
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
