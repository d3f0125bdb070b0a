package secret

import (
	"testing"
)

func TestRedactor(t *testing.T) {
	r := NewRedactor()
	if got := r.Redact("nothing known yet"); got != "nothing known yet" {
		t.Fatal(got)
	}
	r.Add("abc", "", "s3cr3t", "s3cr3t-longer", "p@ss word/1")
	r.Add("s3cr3t") // twice is fine
	for in, want := range map[string]string{
		"abc stays: too short":                   "abc stays: too short",
		"pw=s3cr3t;":                             "pw=xxxxx;",
		"pw=s3cr3t-longer;":                      "pw=xxxxx;",
		"s3cr3ts3cr3t":                           "xxxxxxxxxx",
		"raw p@ss word/1 query p%40ss+word%2F1":  "raw xxxxx query xxxxx",
		"path p@ss%20word%2F1 end":               "path xxxxx end",
		"no secrets here, only the word secret.": "no secrets here, only the word secret.",
	} {
		if got := r.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
		if got := string(r.RedactBytes([]byte(in))); got != want {
			t.Errorf("RedactBytes(%q) = %q, want %q", in, got, want)
		}
	}
	if got := r.RedactURL("postgres://u:other-pw@h/db?sslpassword=zz&note=s3cr3t"); got != "postgres://u:xxxxx@h/db?sslpassword=xxxxx&note=xxxxx" {
		t.Errorf("RedactURL = %q", got)
	}
	var nilR *Redactor
	nilR.Add("whatever")
	if nilR.Redact("whatever") != "whatever" || nilR.Len() != 0 {
		t.Error("nil Redactor")
	}
}

func TestRedactorConcurrent(t *testing.T) {
	r := NewRedactor()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			r.Add("value-" + string(rune('a'+i%26)) + "-secret")
		}
	}()
	for range 200 {
		_ = r.Redact("value-a-secret and value-z-secret")
	}
	<-done
	if got := r.Redact("value-a-secret"); got != Mask {
		t.Fatalf("Redact = %q", got)
	}
}
