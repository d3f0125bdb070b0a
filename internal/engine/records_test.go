package engine

import (
	"slices"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

// TestRowRecords: the good rows of a batch are numbered around the records the source
// rejected, so that a read reject and a later convert or write reject never share a number.
func TestRowRecords(t *testing.T) {
	rows := func(n int) [][]any { return make([][]any, n) }
	rej := func(recs ...int64) []connector.Reject {
		var out []connector.Reject
		for _, r := range recs {
			out = append(out, connector.Reject{Record: r})
		}
		return out
	}
	cases := []struct {
		name  string
		first int64
		b     connector.Batch
		want  []int64
	}{
		{"no rejects", 1, connector.Batch{Rows: rows(3)}, []int64{1, 2, 3}},
		{"reject in the middle", 1, connector.Batch{Rows: rows(4), Rejects: rej(3)}, []int64{1, 2, 4, 5}},
		{"rejects first and last", 11, connector.Batch{Rows: rows(2), Rejects: rej(11, 14)}, []int64{12, 13}},
		{"adjacent rejects", 1, connector.Batch{Rows: rows(2), Rejects: rej(2, 3)}, []int64{1, 4}},
		{"unnumbered reject", 1, connector.Batch{Rows: rows(2), Rejects: rej(0)}, []int64{1, 2}},
		{"only rejects", 5, connector.Batch{Rejects: rej(5, 6)}, []int64{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := rowRecords(tc.first, &tc.b); !slices.Equal(got, tc.want) {
				t.Fatalf("rowRecords = %v, want %v", got, tc.want)
			}
		})
	}
}
