package schema

import (
	"errors"
	"testing"
)

// FuzzValidate checks that Validate never panics and that it fails only with *Error,
// listing at most MaxProblems problems.
func FuzzValidate(f *testing.F) {
	s, err := Compile(map[string]any{
		"type":     "object",
		"required": []any{"id"},
		"properties": map[string]any{
			"id":     map[string]any{"type": "string", "pattern": "^[a-z]+-[0-9]+$"},
			"amount": map[string]any{"type": "number", "multipleOf": 0.01},
			"tags":   map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "uniqueItems": true},
			"nested": map[string]any{"$ref": "#"},
		},
		"additionalProperties": false,
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{`{"id":"a-1"}`, `{"id":"a-1","amount":1.25,"tags":["x","x"]}`, `{"nested":{"nested":{}}}`, `[]`, `null`, `"x"`, `{"id":1e400}`, `{"amount":1e-9999999}`, `{"amount":123456789.123456789e300}`, `{`, ``} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := s.Validate(data)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T) is not *Error", err, err)
		}
		if len(e.Problems) > MaxProblems {
			t.Fatalf("%d problems listed", len(e.Problems))
		}
		if !e.NotJSON && len(e.Problems) == 0 {
			t.Fatalf("a validation error without problems: %v", err)
		}
	})
}
