package sqlkit

import (
	"slices"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

func testTable() *Table {
	return &Table{
		Name: "shop.orders",
		Columns: []Column{
			{Name: "id"}, {Name: "Name"}, {Name: "name_upper", Generated: true},
			{Name: "code", Required: true}, {Name: "note"},
		},
		Key:    []string{"id"},
		Unique: [][]string{{"code", "Name"}},
	}
}

func TestMatch(t *testing.T) {
	tb := testTable()
	for _, tt := range []struct {
		src  []string
		want []int
		err  string // a part of the error's text
	}{
		{[]string{"id", "name", "note"}, []int{0, 1, 4}, ""},
		{[]string{"NOTE", "ID"}, []int{4, 0}, ""},
		{[]string{"id", "missing"}, nil, `column "missing" is not in table shop.orders (its columns: id, Name, name_upper, code, note)`},
		{[]string{"name_upper"}, nil, "generated"},
		{[]string{"name", "NAME"}, nil, `two source columns map to column "Name"`},
	} {
		got, err := Match("ep", tb, tt.src)
		switch {
		case tt.err == "" && (err != nil || !slices.Equal(got, tt.want)):
			t.Errorf("Match(%v) = %v, %v; want %v", tt.src, got, err, tt.want)
		case tt.err != "" && (connector.CodeOf(err) != connector.CodeSchema || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("Match(%v) = %v; want a schema error with %q", tt.src, err, tt.err)
		}
	}
}

func TestCheckRequired(t *testing.T) {
	tb := testTable()
	if err := CheckRequired("ep", tb, []int{0, 3}); err != nil {
		t.Errorf("required column written: %v", err)
	}
	if err := CheckRequired("ep", tb, []int{0, 1}); connector.CodeOf(err) != connector.CodeSchema || !strings.Contains(err.Error(), `"code"`) {
		t.Errorf("required column left out: %v", err)
	}
}

func TestKeys(t *testing.T) {
	tb := testTable()
	s := connector.Schema{Columns: []connector.Column{{Name: "Id", Type: connector.TypeInt64}, {Name: "v", Type: connector.TypeString}}}
	if got, err := SourceKey("ep", s, []string{"id"}); err != nil || !slices.Equal(got, []string{"Id"}) {
		t.Errorf("SourceKey = %v, %v", got, err)
	}
	if _, err := SourceKey("ep", s, []string{"nope"}); connector.CodeOf(err) != connector.CodeSchema || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("SourceKey of a missing column: %v", err)
	}
	if got, err := TableKey("ep", tb, nil); err != nil || !slices.Equal(got, []string{"id"}) {
		t.Errorf("TableKey defaults to the primary key: %v, %v", got, err)
	}
	if got, err := TableKey("ep", tb, []string{"NAME", "Code"}); err != nil || !slices.Equal(got, []string{"Name", "code"}) {
		t.Errorf("TableKey spells as the table: %v, %v", got, err)
	}
	if _, err := TableKey("ep", tb, []string{"nope"}); connector.CodeOf(err) != connector.CodeSchema {
		t.Errorf("TableKey of a missing column: %v", err)
	}

	all := []int{0, 1, 3, 4}
	for _, tt := range []struct {
		keys    []string
		written []int
		err     string
	}{
		{[]string{"id"}, all, ""},
		{[]string{"code", "Name"}, all, ""},
		{[]string{"Name", "code"}, all, ""},
		{nil, all, "no primary key"},
		{[]string{"id"}, []int{1, 3}, "not among the columns written"},
		{[]string{"note"}, all, "unique index"},
		{[]string{"id", "note"}, all, "unique index"},
	} {
		err := CheckUpsertKey("ep", tb, tt.keys, tt.written)
		if (tt.err == "") != (err == nil) || (err != nil && (connector.CodeOf(err) != connector.CodeSchema || !strings.Contains(err.Error(), tt.err))) {
			t.Errorf("CheckUpsertKey(%v, %v) = %v, want %q", tt.keys, tt.written, err, tt.err)
		}
	}
}
