package transform

import (
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

var src = connector.Schema{Columns: []connector.Column{
	{Name: "id", Type: connector.TypeInt64},
	{Name: "name", Type: connector.TypeString, Nullable: true},
	{Name: "amount", Type: connector.TypeString, Nullable: true},
	{Name: "note", Type: connector.TypeString, Nullable: true},
}, Key: []string{"id"}}

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		only     bool
		want     string // dest columns as name:type
		key      string
		identity bool
		err      string
	}{
		{name: "none", want: "id:int64 name:string amount:string note:string", key: "id", identity: true},
		{name: "rename keeps others and the key follows", args: []string{"id:ident"}, want: "ident:int64 name:string amount:string note:string", key: "ident", identity: true},
		{name: "cast", args: []string{"amount::decimal"}, want: "id:int64 name:string amount:decimal note:string", key: "id"},
		{name: "several in one flag", args: []string{"note:remark, amount:amt:float64"}, want: "id:int64 name:string amt:float64 remark:string", key: "id"},
		{name: "only keeps the rules' order", args: []string{"name", "id::string"}, only: true, want: "name:string id:string", key: "id"},
		{name: "only without the key drops the key", args: []string{"name"}, only: true, want: "name:string", key: "", identity: true},
		{name: "unknown column", args: []string{"nope:x"}, err: `source column "nope"`},
		{name: "twice", args: []string{"id:a", "id:b"}, err: "twice"},
		{name: "collision", args: []string{"name:note"}, err: `"note" twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseArgs(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			m.Only = tc.only
			p, err := m.Apply(src)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := p.Schema()
			var got []string
			for _, c := range s.Columns {
				got = append(got, c.Name+":"+c.Type.String())
			}
			if strings.Join(got, " ") != tc.want || strings.Join(s.Key, ",") != tc.key || p.Identity() != tc.identity {
				t.Fatalf("got %v key %v identity %v", got, s.Key, p.Identity())
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	text := "# comment\nid::int64\nname:full_name  # trailing comment\n\nonly\ndrop note\n"
	m, err := Parse(strings.NewReader(text), "m.map")
	if err != nil {
		t.Fatal(err)
	}
	if !m.Only || len(m.Rules) != 2 || m.Rules[1].To != "full_name" || len(m.Drop) != 1 {
		t.Fatalf("%+v", m)
	}
	js := `{"columns":[{"from":"id","type":"int64"},{"from":"name","to":"n"}],"only":true}`
	m, err = Parse(strings.NewReader(js), "m.json")
	if err != nil || len(m.Rules) != 2 || !m.Only {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range []string{"a:b:c:d\n", "a::nosuchtype\n", `{"columns":[{"to":"x"}]}`, `{"colums":[]}`} {
		if _, err := Parse(strings.NewReader(bad), "bad"); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if _, err := Parse(strings.NewReader("x\ny:z:bogus\n"), "f.map"); err == nil || !strings.Contains(err.Error(), "f.map line 2") {
		t.Errorf("error does not name the line: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"id::int64\nonly\n", `{"columns":[{"from":"a"}]}`, "a:b\ndrop c\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(strings.NewReader(s), "fuzz")
		if err != nil {
			return
		}
		// Whatever parses applies or fails cleanly against a schema.
		_, _ = m.Apply(src)
	})
}
