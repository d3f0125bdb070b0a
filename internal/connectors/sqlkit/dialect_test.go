package sqlkit

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/datahub-oss/datahub/connector"
)

func TestParseName(t *testing.T) {
	pg, my := Postgres, MySQL(false)
	for _, tt := range []struct {
		d    *Dialect
		in   string
		want []Part
		err  error
	}{
		{pg, "orders", []Part{{Text: "orders"}}, nil},
		{pg, " sales . orders ", []Part{{Text: "sales"}, {Text: "orders"}}, nil},
		{pg, `"My Schema"."a.b""c"`, []Part{{Text: "My Schema", Quoted: true}, {Text: `a.b"c`, Quoted: true}}, nil},
		{pg, `s."T"`, []Part{{Text: "s"}, {Text: "T", Quoted: true}}, nil},
		{pg, "`a`", []Part{{Text: "`a`"}}, nil},
		{my, "`my.db`.`t``x`", []Part{{Text: "my.db", Quoted: true}, {Text: "t`x", Quoted: true}}, nil},
		{pg, "a.b.c", nil, ErrTooManyParts},
		{pg, "a.", nil, ErrEmptyPart},
		{pg, ".a", nil, ErrEmptyPart},
		{pg, "a..b", nil, ErrEmptyPart},
		{pg, `""`, nil, ErrEmptyPart},
		{pg, `"open`, nil, ErrUnterminatedQuote},
		{my, "`open", nil, ErrUnterminatedQuote},
		{pg, `"a"b`, nil, ErrUnexpectedText},
		{pg, "  ", nil, ErrEmptyName},
	} {
		got, err := tt.d.ParseName(tt.in)
		if !errors.Is(err, tt.err) || !slices.Equal(got, tt.want) {
			t.Errorf("%s ParseName(%q) = %v, %v; want %v, %v", tt.d.Name, tt.in, got, err, tt.want, tt.err)
		}
		var ne *NameError
		if err != nil && (!errors.As(err, &ne) || !strings.Contains(err.Error(), "table name")) {
			t.Errorf("ParseName(%q): error %v is not a NameError", tt.in, err)
		}
	}
}

// FuzzParseName: the parser never panics, and a name it reads, quoted again, reads the same.
func FuzzParseName(f *testing.F) {
	for _, s := range []string{"orders", "s.t", `"a.b""c".d`, "`x`.`y`", `"open`, "a..b", " a . b ", `"a" . "b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, d := range []*Dialect{Postgres, MySQL(true), SQLite} {
			parts, err := d.ParseName(s)
			if err != nil {
				if !errors.As(err, new(*NameError)) {
					t.Fatalf("%q: error %v is not a NameError", s, err)
				}
				continue
			}
			if len(parts) == 0 || len(parts) > d.MaxParts {
				t.Fatalf("%q: %d parts", s, len(parts))
			}
			texts := make([]string, len(parts))
			for i, p := range parts {
				if p.Text == "" {
					t.Fatalf("%q: empty part", s)
				}
				texts[i] = p.Text
			}
			again, err := d.ParseName(d.QuoteName(texts...))
			if err != nil || len(again) != len(parts) {
				t.Fatalf("%q: quoted %s reads %v, %v", s, d.QuoteName(texts...), again, err)
			}
			for i := range again {
				if again[i].Text != parts[i].Text || !again[i].Quoted {
					t.Fatalf("%q: quoted part %d reads %+v, want %q", s, i, again[i], parts[i].Text)
				}
			}
		}
	})
}

func TestQuote(t *testing.T) {
	if got := Postgres.QuoteName("s", `a"b`); got != `"s"."a""b"` {
		t.Errorf("Postgres.QuoteName = %s", got)
	}
	if got := MySQL(false).QuoteName("", "a`b"); got != "`a``b`" {
		t.Errorf("MySQL.QuoteName = %s", got)
	}
	if got := SQLite.QuoteIdents([]string{"a", "b"}); got != `"a", "b"` {
		t.Errorf("QuoteIdents = %s", got)
	}
}

func TestSideName(t *testing.T) {
	for _, tt := range []struct {
		d     *Dialect
		table string
	}{
		{Postgres, "orders"},
		{Postgres, strings.Repeat("é", 40)},
		{Postgres, strings.Repeat("x", 63)},
		{MySQL(false), strings.Repeat("x", 60)},
		{MySQL(false), strings.Repeat("é", 60)},
		{SQLite, strings.Repeat("x", 200)},
	} {
		got := tt.d.SideName(tt.table, StagingSuffix)
		if !strings.HasSuffix(got, StagingSuffix) || !utf8.ValidString(got) ||
			(tt.d.MaxIdent > 0 && tt.d.identLen(got) > tt.d.MaxIdent) {
			t.Errorf("%s SideName(%d chars) = %q", tt.d.Name, utf8.RuneCountInString(tt.table), got)
		}
		if tt.d.identLen(tt.table+StagingSuffix) <= tt.d.MaxIdent || tt.d.MaxIdent == 0 {
			if got != tt.table+StagingSuffix {
				t.Errorf("%s SideName(%q) = %q, want the plain suffix", tt.d.Name, tt.table, got)
			}
		}
	}
	// Two long names with the same beginning get different side tables.
	a, b := strings.Repeat("x", 70)+"a", strings.Repeat("x", 70)+"b"
	if MySQL(false).SideName(a, StagingSuffix) == MySQL(false).SideName(b, StagingSuffix) {
		t.Error("long names sharing a prefix share a side table")
	}
}

func TestCheckNames(t *testing.T) {
	s := connector.Schema{Columns: []connector.Column{{Name: strings.Repeat("é", 40), Type: connector.TypeString}}}
	if err := Postgres.CheckNames("ep", []string{"public", "t"}, s); connector.CodeOf(err) != connector.CodeSchema {
		t.Errorf("80-byte column name on PostgreSQL: %v", err)
	}
	if err := MySQL(false).CheckNames("ep", []string{"db", "t"}, s); err != nil {
		t.Errorf("40-character column name on MySQL: %v", err)
	}
	if err := SQLite.CheckNames("ep", []string{strings.Repeat("t", 500)}, s); err != nil {
		t.Errorf("SQLite has no limit: %v", err)
	}
}

func TestUpsertClause(t *testing.T) {
	for _, tt := range []struct {
		d            *Dialect
		keys, update []string
		want         string
	}{
		{Postgres, []string{"id"}, []string{"a"}, ` ON CONFLICT ("id") DO UPDATE SET "a" = excluded."a"`},
		{SQLite, []string{"id"}, nil, ` ON CONFLICT ("id") DO NOTHING`},
		{MySQL(false), []string{"id"}, []string{"a", "b"}, " ON DUPLICATE KEY UPDATE `a` = VALUES(`a`), `b` = VALUES(`b`)"},
		{MySQL(true), []string{"id"}, []string{"a"}, " AS dh_new ON DUPLICATE KEY UPDATE `a` = dh_new.`a`"},
		{MySQL(true), []string{"id"}, nil, " AS dh_new ON DUPLICATE KEY UPDATE `id` = dh_new.`id`"},
	} {
		if got := tt.d.Upsert(tt.keys, tt.update); got != tt.want {
			t.Errorf("%s Upsert(%v, %v) = %s, want %s", tt.d.Name, tt.keys, tt.update, got, tt.want)
		}
	}
}
