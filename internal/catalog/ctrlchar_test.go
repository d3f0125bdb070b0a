package catalog_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/catalog"
)

// TestControlCharactersRefused: names, owners and contacts that people read refuse control
// and invisible formatting characters (issue 8, finding 13), naming the field; the message
// never echoes the character itself.
func TestControlCharactersRefused(t *testing.T) {
	system := func(meta string) string {
		return "apiVersion: datahub/v1\nkind: System\nmetadata: {name: sys" + meta + "}\nspec: {owner: team}\n"
	}
	tests := []struct {
		name, doc, field, char string
	}{
		{"metadata.name escape", "apiVersion: datahub/v1\nkind: System\nmetadata: {name: \"sys\\e[2J\"}\nspec: {owner: team}\n", "metadata.name", ""},
		{"metadata.owner", system(`, owner: "ann\e]0;x\a"`), "metadata.owner", "U+001B"},
		{"metadata.owner bidi", system(`, owner: "ann\u202Egpj.exe"`), "metadata.owner", "U+202E"},
		{"spec.owner email", "apiVersion: datahub/v1\nkind: System\nmetadata: {name: sys}\nspec: {owner: \"ann\\u200b@example.org\"}\n",
			"spec.owner", "U+200B"},
		{"contact name", "apiVersion: datahub/v1\nkind: System\nmetadata: {name: sys}\nspec: {owner: team, contacts: [{name: \"Ann\\x9b31m\"}]}\n",
			"spec.contacts[0].name", "U+009B"},
		{"contact email", "apiVersion: datahub/v1\nkind: System\nmetadata: {name: sys}\nspec: {owner: team, contacts: [{name: Ann, email: \"a\\e@example.org\"}]}\n",
			"spec.contacts[0].email", "U+001B"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := catalog.Parse([]byte(tc.doc), "test.yaml")
			var es catalog.Errors
			if !errors.As(err, &es) {
				t.Fatalf("want catalog.Errors, got %v", err)
			}
			found := false
			for _, e := range es {
				if e.Field == tc.field && strings.Contains(e.Problem, tc.char) {
					found = true
				}
				if strings.ContainsAny(e.Problem, "\x1b\u202e\u200b\u009b") {
					t.Errorf("the message holds the character: %q", e.Problem)
				}
			}
			if !found {
				t.Errorf("no problem on %s naming %s: %v", tc.field, tc.char, err)
			}
		})
	}
	ok := "apiVersion: datahub/v1\nkind: System\nmetadata: {name: sys, owner: \"Zoë Ångström\"}\nspec: {owner: team, contacts: [{name: \"山田 太郎\", email: zoe@example.org}]}\n"
	if _, err := catalog.Parse([]byte(ok), "ok.yaml"); err != nil {
		t.Errorf("printable names refused: %v", err)
	}
}
