package file

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

// BenchmarkSourceCSV reads a CSV shaped like the lead's benchmark table (PostgreSQL's COPY ...
// CSV HEADER of id, name, email, amount, created_at, note) through the connector.
func BenchmarkSourceCSV(b *testing.B) {
	p := filepath.Join(b.TempDir(), "bench.csv")
	f, _ := os.Create(p)
	w := bufio.NewWriter(f)
	w.WriteString("id,name,email,amount,created_at,note\n")
	const rows = 200000
	for i := 1; i <= rows; i++ {
		fmt.Fprintf(w, "%d,name %d,user%d@example.org,%d.%02d,2024-01-%02d 10:%02d:%02d+00,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx%032x\n",
			i, i, i, i%1000, i%100, i%28+1, i%60, i%60, i*7919)
	}
	w.Flush()
	f.Close()
	info, _ := os.Stat(p)
	b.SetBytes(info.Size())
	b.ReportAllocs()
	for b.Loop() {
		src, err := connector.NewSource(ctx, connector.Endpoint{URL: p})
		if err != nil {
			b.Fatal(err)
		}
		if err := src.Open(ctx, nil); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			bt, _, err := src.Read(ctx)
			if errors.Is(err, connector.ErrEndOfInput) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += len(bt.Rows)
		}
		src.Close(ctx)
		if n != rows {
			b.Fatalf("%d rows", n)
		}
	}
}
