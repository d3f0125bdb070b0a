package connector

import (
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// testSpec declares one option of every type.
func testSpec() *Spec {
	s := &Spec{
		Name: "tt",
		Options: []Option{
			{Name: "s", Type: OptString, Default: "def"},
			{Name: "n", Type: OptInt, Default: "5"},
			{Name: "b", Type: OptBool, Default: "true"},
			{Name: "d", Type: OptDuration, Default: "10s"},
			{Name: "z", Type: OptSize, Default: "1KiB"},
			{Name: "bulk", Type: OptEnum, Enum: []string{"load", "insert"}, Default: "load"},
			{Name: "tls", Type: OptEnum, Enum: []string{"false", "true"}, Aliases: map[string]string{"1": "true", "0": "false"}},
			{Name: "p", Type: OptPath},
			{Name: "pw", Type: OptSecret},
			{Name: "delimiter", Type: OptChar, Default: ","},
		},
		NewSource: func(context.Context, Endpoint) (Source, error) { return nil, nil },
	}
	s.checkOptions()
	return s
}

func TestOptionParse(t *testing.T) {
	s := testSpec()
	cases := []struct {
		opt, in string
		want    any
		err     string
	}{
		{"s", "hello world", "hello world", ""},
		{"n", "42", int64(42), ""},
		{"n", " -7 ", int64(-7), ""},
		{"n", "4.2", nil, `option n: "4.2" is not a whole number`},
		{"n", "99999999999999999999", nil, "is not a whole number"},
		{"b", "yes", true, ""},
		{"b", "OFF", false, ""},
		{"b", "maybe", nil, `option b: "maybe" is not true or false`},
		{"d", "1h30m", 90 * time.Minute, ""},
		{"d", "500ms", 500 * time.Millisecond, ""},
		{"d", "10", nil, `option d: "10" is not a duration such as 500ms, 10s or 1h30m`},
		{"d", "-1s", nil, "is not a duration"},
		{"z", "1048576", int64(1 << 20), ""},
		{"z", "64KB", int64(64 << 10), ""},
		{"z", "16mib", int64(16 << 20), ""},
		{"z", "2 G", int64(2 << 30), ""},
		{"z", "1T", int64(1 << 40), ""},
		{"z", "12XB", nil, `option z: "12XB" is not a size`},
		{"z", "KB", nil, "is not a size"},
		{"z", "99999999999T", nil, "is not a size"},
		{"bulk", "insert", "insert", ""},
		{"bulk", "LOAD", "load", ""},
		{"bulk", "fast", nil, `option bulk: "fast" is not one of load, insert`},
		{"tls", "1", "true", ""},
		{"tls", " 0 ", "false", ""},
		{"tls", "TRUE", "true", ""},
		{"tls", "2", nil, `option tls: "2" is not one of false, true`},
		{"p", "/data/in", "/data/in", ""},
		{"p", "a\x00b", nil, "is not a path"},
		{"pw", "hunter22", "hunter22", ""},
		{"delimiter", ";", ';', ""},
		{"delimiter", "tab", '\t', ""},
		{"delimiter", "é", 'é', ""},
		{"delimiter", "ab", nil, `option delimiter: "ab" is not one character`},
	}
	for _, c := range cases {
		t.Run(c.opt+"="+c.in, func(t *testing.T) {
			got, err := s.Option(c.opt).Parse(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("Parse(%q) = %v, %v; want error %q", c.in, got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Parse(%q) = %#v, %v; want %#v", c.in, got, err, c.want)
			}
		})
	}
}

func TestSecretNeverEchoed(t *testing.T) {
	o := Option{Name: "token", Type: OptSecret}
	if _, err := o.Parse("anything"); err != nil {
		t.Fatal(err)
	}
	o = Option{Name: "pin", Secret: true, Type: OptInt}
	_, err := o.Parse("s3cr3t-value")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error %v repeats the secret", err)
	}
}

func TestParseOptions(t *testing.T) {
	s := testSpec()
	o, err := s.ParseOptions(Endpoint{URL: "tt://h/x?n=9&bulk=Insert&delimiter=%3B", Options: map[string]string{"n": "1", "b": "false"}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Int("n") != 9 || o.String("bulk") != "insert" || o.Char("delimiter") != ';' || o.Bool("b") {
		t.Fatalf("the URL query must win and options be typed: n=%d bulk=%s delim=%q b=%v", o.Int("n"), o.String("bulk"), o.Char("delimiter"), o.Bool("b"))
	}
	if o.String("s") != "def" || o.Duration("d") != 10*time.Second || o.Size("z") != 1024 || o.String("p") != "" {
		t.Fatalf("defaults not applied: %q %v %d %q", o.String("s"), o.Duration("d"), o.Size("z"), o.String("p"))
	}
	if !o.IsSet("n") || o.IsSet("d") {
		t.Fatal("IsSet is wrong")
	}

	for _, c := range []struct {
		e    Endpoint
		want string
	}{
		{Endpoint{URL: "tt://h/x?bulk=fast"}, `option bulk: "fast" is not one of load, insert`},
		{Endpoint{URL: "tt://h/x", Options: map[string]string{"delimitr": ";"}}, `connector tt has no option "delimitr" (options: s, n, b, d, z, bulk, tls, p, pw, delimiter)`},
		{Endpoint{URL: "tt://h/x?n=%zz"}, "not percent-encoded"},
		{Endpoint{URL: "tt://u:pw@h/x?n=x"}, `option n: "x" is not a whole number`},
	} {
		_, err := s.ParseOptions(c.e)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseOptions(%s) = %v; want %q", c.e.Redacted(), err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), ":pw@") {
			t.Errorf("the error repeats the password: %v", err)
		}
	}

	s.DriverParams = true
	if _, err := s.ParseOptions(Endpoint{URL: "tt://h/x?application_name=me"}); err != nil {
		t.Fatalf("a driver parameter is refused: %v", err)
	}
}

func TestBadDeclarationsPanic(t *testing.T) {
	for name, opts := range map[string][]Option{
		"enum without values": {{Name: "e", Type: OptEnum}},
		"bad default":         {{Name: "n", Type: OptInt, Default: "ten"}},
		"duplicate":           {{Name: "a"}, {Name: "a"}},
		"alias to no value":   {{Name: "e", Type: OptEnum, Enum: []string{"x"}, Aliases: map[string]string{"1": "y"}}},
		"alias on a string":   {{Name: "s", Aliases: map[string]string{"1": "y"}}},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			(&Spec{Name: "x", Options: opts}).checkOptions()
		})
	}
}

func TestOptionsSchemaGolden(t *testing.T) {
	got, err := json.MarshalIndent(testSpec().OptionsSchema(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "options.schema.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(got)+"\n" {
		t.Fatalf("schema changed (go test -run OptionsSchemaGolden -update to accept):\n%s", got)
	}
}

// FuzzParseOptions: any URL query and option value is either parsed into a value of the
// option's type or refused with an error naming the option; it never panics, and a secret is
// never repeated in the error.
func FuzzParseOptions(f *testing.F) {
	for _, seed := range []string{"n=1&b=yes", "z=64KB&d=1s", "delimiter=ab", "bulk=%zz", "pw=x&&&=", "?#", "z=99999999999999999999T"} {
		f.Add(seed, "v")
	}
	s := testSpec()
	f.Fuzz(func(t *testing.T, query, secret string) {
		o, err := s.ParseOptions(Endpoint{URL: "tt://h/x?" + query, Options: map[string]string{"pw": secret}})
		if err != nil {
			if len(secret) > 3 && strings.Contains(err.Error(), secret) && !strings.Contains(query, secret) {
				t.Fatalf("error repeats the secret: %v", err)
			}
			return
		}
		_, _, _, _, _, _ = o.Int("n"), o.Bool("b"), o.Duration("d"), o.Size("z"), o.String("bulk"), o.Char("delimiter")
		if o.Size("z") < 0 || o.Duration("d") < 0 {
			t.Fatalf("negative size or duration from %q", query)
		}
	})
}

// TestDeclaredSecretRedacted: an option declared secret is redacted and scrubbed like a
// password even when its name does not look secret (internal/redact tests Secrets).
func TestDeclaredSecretRedacted(t *testing.T) {
	Register(Spec{Name: "pintest", Schemes: []string{"pintest"},
		Options:   []Option{{Name: "pin", Type: OptSecret, Help: "the PIN"}, {Name: "table", Help: "a table"}},
		NewSource: func(context.Context, Endpoint) (Source, error) { return nil, nil }})
	raw := "pintest://h/db?table=t&pin=839201"
	if got := Redact(raw); got != "pintest://h/db?table=t&pin=xxxxx" {
		t.Fatalf("Redact = %s", got)
	}
	if !SecretParam("pintest", "pin") || SecretParam("pintest", "table") || !SecretParam("any", "api_token") {
		t.Fatal("SecretParam is wrong")
	}
	if SecretOption("pintest", "table") || !SecretOption("PINTEST", "pin") || SecretOption("nope", "pin") {
		t.Fatal("SecretOption is wrong")
	}
	info := Spec{Name: "x", Options: []Option{{Name: "pin", Secret: true, Default: "0000"}}}
	if in := info.Info(); !in.Options[0].Secret || in.Options[0].Default != "" || in.Options[0].Type != OptSecret {
		t.Fatalf("Info shows a secret: %+v", in.Options[0])
	}
}

func TestOptionsOf(t *testing.T) {
	Register(Spec{Name: "oftest", Schemes: []string{"oftest"},
		Options:   []Option{{Name: "rows", Type: OptInt, Default: "10"}},
		NewSource: func(context.Context, Endpoint) (Source, error) { return nil, nil }})
	o, err := OptionsOf(Endpoint{URL: "oftest:?rows=1000"})
	if err != nil || o.Int("rows") != 1000 {
		t.Fatalf("OptionsOf = %d, %v", o.Int("rows"), err)
	}
	if _, err := OptionsOf(Endpoint{URL: "oftest:?rows=many"}); err == nil {
		t.Fatal("a bad int was taken")
	}
	if _, err := OptionsOf(Endpoint{URL: "nosuch:?rows=1"}); err == nil {
		t.Fatal("an unknown scheme was taken")
	}
}

// TestIntRange: an int option with a range takes the whole numbers in it and refuses the
// others naming the option, the value and the range; the schema and Info carry the range.
func TestIntRange(t *testing.T) {
	s := &Spec{Name: "rt", Options: []Option{
		{Name: "pct", Type: OptInt, Range: &IntRange{Min: 0, Max: 100}, Default: "0"},
		{Name: "rows", Type: OptInt, Range: &IntRange{Min: 0, Max: math.MaxInt64}},
		{Name: "temp", Type: OptInt, Range: &IntRange{Min: math.MinInt64, Max: 40}},
	}}
	s.checkOptions()
	for _, c := range []struct {
		opt, in string
		want    any
		err     string
	}{
		{"pct", "0", int64(0), ""},
		{"pct", " 100 ", int64(100), ""},
		{"pct", "101", nil, `option pct: "101" is not a whole number from 0 to 100`},
		{"pct", "-1", nil, `option pct: "-1" is not a whole number from 0 to 100`},
		{"pct", "half", nil, `option pct: "half" is not a whole number from 0 to 100`},
		{"rows", "9223372036854775807", int64(math.MaxInt64), ""},
		{"rows", "-5", nil, `option rows: "-5" is not a whole number, 0 or more`},
		{"temp", "-300", int64(-300), ""},
		{"temp", "41", nil, `option temp: "41" is not a whole number, 40 or less`},
	} {
		got, err := s.Option(c.opt).Parse(c.in)
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("Parse %s=%q = %v, %v; want error %q", c.opt, c.in, got, err, c.err)
			}
		} else if err != nil || got != c.want {
			t.Errorf("Parse %s=%q = %#v, %v; want %#v", c.opt, c.in, got, err, c.want)
		}
	}
	props := s.OptionsSchema()["properties"].(map[string]any)
	if p := props["pct"].(map[string]any); p["minimum"] != int64(0) || p["maximum"] != int64(100) {
		t.Errorf("schema of pct: %v", p)
	}
	if p := props["rows"].(map[string]any); p["minimum"] != int64(0) || p["maximum"] != nil {
		t.Errorf("schema of rows: %v", p)
	}
	if r := s.Info().Options[0].Range; r == nil || r.String() != "0 to 100" {
		t.Errorf("Info of pct: %+v", s.Info().Options[0])
	}
	for name, o := range map[string]Option{
		"range on a string": {Name: "s", Range: &IntRange{Min: 0, Max: 1}},
		"empty range":       {Name: "n", Type: OptInt, Range: &IntRange{Min: 2, Max: 1}},
		"default outside":   {Name: "n", Type: OptInt, Range: &IntRange{Min: 0, Max: 1}, Default: "2"},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			(&Spec{Name: "x", Options: []Option{o}}).checkOptions()
		})
	}
}

// TestRequiredOptions: an endpoint without a required option (or with it empty) is refused
// naming it and saying where to set it; given in the URL, the options or (a secret) the
// secrets, it is taken. A required option cannot have a default.
func TestRequiredOptions(t *testing.T) {
	s := &Spec{Name: "rq", Options: []Option{
		{Name: "bucket", Required: true, Help: "the bucket to read"},
		{Name: "token", Type: OptSecret, Required: true, Help: "the API token"},
		{Name: "region", Default: "eu"},
	}}
	s.checkOptions()
	for _, c := range []struct {
		e    Endpoint
		want string // "" when taken
	}{
		{Endpoint{URL: "rq://h?bucket=b", Options: map[string]string{"token": "t0k3n-value"}}, ""},
		{Endpoint{URL: "rq://h", Options: map[string]string{"bucket": "b", "token": "t"}}, ""},
		{Endpoint{URL: "rq://h", Options: map[string]string{"token": "t"}},
			"option bucket: required but not set (add bucket=VALUE to the URL's query or bucket under the endpoint's options)"},
		{Endpoint{URL: "rq://h?bucket=", Options: map[string]string{"token": "t"}}, "option bucket: required"},
		{Endpoint{URL: "rq://h?bucket=b"}, "option token: required but not set (set it under the endpoint's secrets: as secret:NAME or env:NAME)"},
	} {
		o, err := s.ParseOptions(c.e)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("ParseOptions(%s %v): %v", c.e.URL, c.e.Options, err)
		case c.want == "" && (o.String("bucket") != "b" || o.String("region") != "eu"):
			t.Errorf("ParseOptions(%s %v) = bucket %q region %q", c.e.URL, c.e.Options, o.String("bucket"), o.String("region"))
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || CodeOf(err) != CodeUsage):
			t.Errorf("ParseOptions(%s %v) = %v (code %s); want a usage error with %q", c.e.URL, c.e.Options, err, CodeOf(err), c.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a required option with a default was declared")
		}
	}()
	(&Spec{Name: "x", Options: []Option{{Name: "a", Required: true, Default: "1"}}}).checkOptions()
}
