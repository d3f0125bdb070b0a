package schema

import (
	"errors"
	"strings"
	"testing"
)

var orderSchema = map[string]any{
	"type":     "object",
	"required": []any{"id", "amount"},
	"properties": map[string]any{
		"id":     map[string]any{"type": "string"},
		"amount": map[string]any{"type": "number", "minimum": 0},
		"lines":  map[string]any{"type": "array", "maxItems": 3},
	},
}

func TestCompile(t *testing.T) {
	tests := []struct {
		name    string
		doc     map[string]any
		wantErr string // "" for a schema that compiles
	}{
		{"object schema", orderSchema, ""},
		{"empty schema", map[string]any{}, ""},
		{"yaml numbers", map[string]any{"type": "integer", "maximum": 10, "minimum": 1.5}, ""},
		{"internal ref", map[string]any{"$defs": map[string]any{"id": map[string]any{"type": "string"}}, "$ref": "#/$defs/id"}, ""},
		{"own draft", map[string]any{"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"}, ""},
		{"bad type", map[string]any{"type": "nope"}, "not a valid JSON schema: /type:"},
		{"bad regex", map[string]any{"pattern": "("}, "/pattern: '(' is not valid regex"},
		{"remote ref", map[string]any{"$ref": "https://example.com/order.json"}, `failing loading "https://example.com/order.json": a schema cannot load other documents`},
		{"relative ref", map[string]any{"$ref": "order.json"}, `"order.json": a schema cannot load other documents`},
		{"file ref", map[string]any{"$ref": "file:///etc/passwd"}, "a schema cannot load other documents"},
		{"remote meta-schema", map[string]any{"$schema": "https://example.com/meta"}, "a schema cannot load other documents"},
		{"not JSON", map[string]any{"const": func() {}}, "the schema is not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Compile(tt.doc)
			if tt.wantErr == "" {
				if err != nil || s == nil {
					t.Fatalf("Compile: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Compile error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	s, err := Compile(orderSchema)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		msg     string
		want    []Problem // nil: valid
		notJSON bool
	}{
		{"valid", `{"id":"o-1","amount":12.5}`, nil, false},
		{"valid with extra", `{"id":"o-1","amount":0,"note":"x"}`, nil, false},
		{"invalid type", `{"id":"o-1","amount":"12"}`, []Problem{{"/amount", "got string, want number"}}, false},
		{"missing required", `{"id":"o-1"}`, []Problem{{"", "missing property 'amount'"}}, false},
		{"several", `{"amount":-1,"lines":[1,2,3,4]}`, []Problem{{"", "missing property 'id'"}, {"/amount", "minimum: got -1, want 0"}, {"/lines", "maxItems: got 4, want 3"}}, false},
		{"huge exponent", `{"id":"o-1","amount":1e40000000}`, []Problem{{"/amount", "a number out of range"}}, false},
		{"tiny exponent", `{"id":"o-1","amount":1e-9000000}`, []Problem{{"/amount", "a number out of range"}}, false},
		{"overflow", `{"id":"o-1","amount":1e309}`, []Problem{{"/amount", "a number out of range"}}, false},
		{"long number", `{"id":"o-1","lines":[1` + strings.Repeat("0", 100) + `]}`, []Problem{{"/lines/0", "a number of more than 100 characters"}}, false},
		{"not JSON", `amount=12`, nil, true},
		{"two documents", `{"id":"a","amount":1} {}`, nil, true},
		{"empty", ``, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Validate([]byte(tt.msg))
			if tt.want == nil && !tt.notJSON {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate error = %v (%T), want *Error", err, err)
			}
			if e.NotJSON != tt.notJSON {
				t.Fatalf("NotJSON = %v, want %v (%v)", e.NotJSON, tt.notJSON, err)
			}
			if tt.notJSON {
				if !strings.HasPrefix(err.Error(), "not JSON: ") {
					t.Fatalf("error = %q", err)
				}
				return
			}
			if len(e.Problems) != len(tt.want) {
				t.Fatalf("problems = %v, want %v", e.Problems, tt.want)
			}
			for _, p := range tt.want {
				found := false
				for _, q := range e.Problems {
					found = found || q == p
				}
				if !found {
					t.Errorf("problem %v missing from %v", p, e.Problems)
				}
			}
		})
	}
}

func TestValidateCapsProblems(t *testing.T) {
	props := map[string]any{}
	msg := map[string]string{}
	for _, k := range strings.Split("a b c d e f g h i j k l", " ") {
		props[k] = map[string]any{"type": "number"}
		msg[k] = `"x"`
	}
	s, err := Compile(map[string]any{"type": "object", "properties": props})
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for k, v := range msg {
		parts = append(parts, `"`+k+`":`+v)
	}
	err = s.Validate([]byte("{" + strings.Join(parts, ",") + "}"))
	var e *Error
	if !errors.As(err, &e) || len(e.Problems) != MaxProblems || e.More != 2 {
		t.Fatalf("error = %v, want %d problems and 2 more", err, MaxProblems)
	}
	if !strings.HasSuffix(err.Error(), "(and 2 more)") {
		t.Fatalf("error = %q", err)
	}
}

func TestErrorString(t *testing.T) {
	e := newError("does not match the schema", []Problem{{"", "missing property 'id'"}, {"/a~1b", "got string, want number"}})
	want := "does not match the schema: /: missing property 'id'; /a~1b: got string, want number"
	if e.Error() != want {
		t.Fatalf("Error() = %q, want %q", e.Error(), want)
	}
	if got := pointer([]string{"a/b", "c~d", "0"}); got != "/a~1b/c~0d/0" {
		t.Fatalf("pointer = %q", got)
	}
}
