package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/transform"
)

// textSource is a mem source of text records (connector.TextSource); createSink a mem sink
// that says whether it created its table (connector.TableCreator).
type textSource struct{ *memSource }

func (textSource) SelfTyped() bool { return false }

type createSink struct {
	*memSink
	created bool
}

func (s *createSink) Open(ctx context.Context, sc connector.Schema, o connector.SinkOptions) (connector.Schema, error) {
	s.t.mu.Lock()
	s.created = s.t.schema.Columns == nil
	s.t.mu.Unlock()
	return s.memSink.Open(ctx, sc, o)
}

func (s *createSink) Created() bool { return s.created }

func init() {
	connector.Register(connector.Spec{
		Name: "memtext", Schemes: []string{"memtext", "memcreate"}, Summary: "in-memory text sources and creating sinks",
		NewSource: func(_ context.Context, e connector.Endpoint) (connector.Source, error) {
			return textSource{&memSource{t: table(e.URL), batch: max(e.BatchSize, 1)}}, nil
		},
		NewSink: func(_ context.Context, e connector.Endpoint) (connector.Sink, error) {
			return &createSink{memSink: &memSink{t: table(e.URL)}}, nil
		},
	})
}

func textTable(name string, rows int, bad map[int][2]string) {
	t := table(name)
	t.schema = connector.Schema{Columns: []connector.Column{
		{Name: "id", Type: connector.TypeString, Nullable: true}, {Name: "day", Type: connector.TypeString, Nullable: true}}}
	t.committed = nil
	for i := 1; i <= rows; i++ {
		r := []any{fmt.Sprint(i), fmt.Sprintf("2024-01-%02d", i%28+1)}
		if b, ok := bad[i]; ok {
			r = []any{b[0], b[1]}
		}
		t.committed = append(t.committed, r)
	}
}

// TestInferOnCreate: the sample is replayed (every row written once, in order), the created
// table gets the inferred types, and a later value that does not fit (by the sampling rules,
// or because it is no value of the type at all) is a reject naming the type and the widening.
func TestInferOnCreate(t *testing.T) {
	textTable("memtext:in", 30, map[int][2]string{25: {"25", "2024-02-30"}, 27: {"007", "2024-01-01"}, 28: {"", "2024-01-02"}})
	delete(tables, "memcreate:out")
	rej := &memRejects{}
	res := New(Options{RunID: "inf", Source: connector.Endpoint{URL: "memtext:in", BatchSize: 4}, Dest: connector.Endpoint{URL: "memcreate:out"},
		InferRows: 10, Rejects: rej}).Run(context.Background())
	if res.Status != runstatus.Partial || res.RowsRead != 30 || res.RowsWritten != 28 || res.RowsRejected != 2 {
		t.Fatalf("status %s, read %d, written %d, rejected %d: %v", res.Status, res.RowsRead, res.RowsWritten, res.RowsRejected, res.Err)
	}
	if len(res.Schema) != 2 || res.Schema[0].Type != "int64" || res.Schema[1].Type != "date" {
		t.Fatalf("schema %+v", res.Schema)
	}
	out := table("memcreate:out")
	if out.committed[0][0] != int64(1) || out.committed[23][0] != int64(24) || out.committed[24][0] != int64(26) || out.committed[25][0] != nil {
		t.Fatalf("rows %v", out.committed)
	}
	for i, want := range [][2]string{{"day", "--map day::string"}, {"id", "--map id::string"}} {
		r := rej.all[i]
		if r.Column != want[0] || !strings.Contains(r.Reason, want[1]) || !strings.Contains(r.Reason, "first 10 records") {
			t.Errorf("reject %d: %+v", i, r)
		}
	}
}

// TestInferKeepsExistingTypes: a table that exists keeps its types, and the summary shows no
// inferred schema; NoInfer keeps text in a created table. (The mem source streams natively
// unless told not to.)
func TestInferKeepsExistingTypes(t *testing.T) {
	textTable("memtext:in2", 5, nil)
	delete(tables, "memcreate:out2")
	res := New(Options{RunID: "no", Source: connector.Endpoint{URL: "memtext:in2"}, Dest: connector.Endpoint{URL: "memcreate:out2"}, NoInfer: true, NoFastPath: true}).Run(context.Background())
	if res.Status != runstatus.Succeeded || res.Schema != nil || table("memcreate:out2").committed[0][0] != "1" {
		t.Fatalf("NoInfer: %s %+v %v", res.Status, res.Schema, res.Err)
	}
	res = New(Options{RunID: "again", Source: connector.Endpoint{URL: "memtext:in2"}, Dest: connector.Endpoint{URL: "memcreate:out2"}, NoFastPath: true}).Run(context.Background())
	if res.Status != runstatus.Succeeded || res.Schema != nil || table("memcreate:out2").committed[5][0] != "1" {
		t.Fatalf("existing table: %s %+v %v", res.Status, res.Schema, res.Err)
	}
}

// TestInferMisfitNamesTheRenamingRule: the widening a reject suggests keeps the mapping's
// rename, since a source column takes one rule.
func TestInferMisfitNamesTheRenamingRule(t *testing.T) {
	textTable("memtext:in3", 5, map[int][2]string{5: {"x", "2024-01-01"}})
	delete(tables, "memcreate:out3")
	m, err := transform.ParseArgs([]string{"id:ident"})
	if err != nil {
		t.Fatal(err)
	}
	rej := &memRejects{}
	res := New(Options{RunID: "ren", Source: connector.Endpoint{URL: "memtext:in3"}, Dest: connector.Endpoint{URL: "memcreate:out3"},
		Mapping: m, InferRows: 4, Rejects: rej}).Run(context.Background())
	if res.RowsRejected != 1 || !strings.Contains(rej.all[0].Reason, "--map id:ident:string") || rej.all[0].Column != "ident" {
		t.Fatalf("rejected %d: %+v", res.RowsRejected, rej.all)
	}
}
