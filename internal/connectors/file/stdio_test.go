package file

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/engine"
	"github.com/datahub-oss/datahub/internal/testutil"
)

func TestIsStdio(t *testing.T) {
	for raw, want := range map[string]bool{
		"-": true, "-?delimiter=;": true, "./-": false, "file:-": false, "--": false, "-.csv": false, "": false,
	} {
		if got := IsStdio(raw); got != want {
			t.Errorf("IsStdio(%q) = %v, want %v", raw, got, want)
		}
	}
}

// TestStdioRoundTrip: CSV read from the standard input comes out of the standard output as
// NDJSON, and as a JSON array in the default mode (append), which a file could not take.
func TestStdioRoundTrip(t *testing.T) {
	in := "id,name\n1,Ada\n2,\"Grace, H.\"\n"
	for _, tc := range []struct{ format, want string }{
		{"ndjson", `{"id":"1","name":"Ada"}` + "\n" + `{"id":"2","name":"Grace, H."}` + "\n"},
		{"json", `"Grace, H."`},
		{"csv", in},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var out bytes.Buffer
			c := WithStdio(ctx, strings.NewReader(in), &out)
			res := engine.New(engine.Options{
				Source: connector.Endpoint{URL: "-", Format: "csv"}, Dest: connector.Endpoint{URL: "-", Format: tc.format},
				Mode: connector.ModeAppend, Retries: -1,
			}).Run(c)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			if res.RowsWritten != 2 || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("wrote %d rows: %q, want %q in it", res.RowsWritten, out.String(), tc.want)
			}
			if tc.format == "ndjson" && out.String() != tc.want {
				t.Fatalf("stdout %q, want exactly %q", out.String(), tc.want)
			}
		})
	}
}

// TestStdioOptions: options after "-" apply as they do to a file.
func TestStdioOptions(t *testing.T) {
	c := WithStdio(ctx, strings.NewReader("a;b\n1;2\n"), io.Discard)
	src, err := connector.NewSource(c, connector.Endpoint{URL: "-?delimiter=;", Format: "csv"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close(c)
	if err := src.Open(c, nil); err != nil {
		t.Fatal(err)
	}
	s, _ := src.Schema(c)
	if got := strings.Join(s.Names(), ","); got != "a,b" {
		t.Fatalf("columns %s, want a,b", got)
	}
}

// TestStdioRefusals: "-" without a format, without streams (a server), twice (a retry or a
// second attempt), resumed or upserted is refused with a usage error, never read half.
func TestStdioRefusals(t *testing.T) {
	withStd := WithStdio(ctx, strings.NewReader("a\n1\n"), io.Discard)
	s := schemaOf("a")
	for _, tc := range []struct {
		name string
		do   func() error
		code connector.Code
		want string
	}{
		{"no format", func() error {
			_, err := connector.NewSource(withStd, connector.Endpoint{URL: "-"})
			return err
		}, connector.CodeUsage, "--from-format or --to-format"},
		{"no streams", func() error {
			_, err := connector.NewSink(ctx, connector.Endpoint{URL: "-", Format: "csv"})
			return err
		}, connector.CodeUsage, "not available here"},
		{"resume", func() error {
			c := WithStdio(ctx, strings.NewReader("a\n1\n"), io.Discard)
			src, err := connector.NewSource(c, connector.Endpoint{URL: "-", Format: "csv"})
			if err != nil {
				return err
			}
			defer src.Close(c)
			return src.Open(c, []byte(`{"offset":2,"line":2,"record":1}`))
		}, connector.CodeUsage, "cannot resume from standard input"},
		{"upsert", func() error {
			k, err := connector.NewSink(withStd, connector.Endpoint{URL: "-", Format: "ndjson"})
			if err != nil {
				return err
			}
			_, err = k.Open(withStd, s, connector.SinkOptions{Mode: connector.ModeUpsert})
			return err
		}, connector.CodeUnsupported, "no keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil || connector.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v (code %s), want %s mentioning %q", err, connector.CodeOf(err), tc.code, tc.want)
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		c := WithStdio(ctx, strings.NewReader("a\n1\n"), io.Discard)
		for _, open := range []func() error{
			func() error {
				_, err := connector.NewSource(c, connector.Endpoint{URL: "-", Format: "csv"})
				return err
			},
			func() error { _, err := connector.NewSink(c, connector.Endpoint{URL: "-", Format: "csv"}); return err },
		} {
			if err := open(); err != nil {
				t.Fatalf("first: %v", err)
			}
			if err := open(); err == nil || !strings.Contains(err.Error(), "used already") {
				t.Fatalf("second: %v, want a refusal", err)
			}
		}
	})
}

// meter counts the bytes written to it, safe to read while the engine writes.
type meter struct{ n atomic.Int64 }

func (m *meter) Write(p []byte) (int, error) {
	m.n.Add(int64(len(p)))
	return len(p), nil
}

// TestStdioStreams: records come out of the standard output while the standard input is
// still open, so a copy through "-" holds a batch or a buffer, never the whole stream.
func TestStdioStreams(t *testing.T) {
	pr, pw := io.Pipe()
	out := &meter{}
	c, cancel := context.WithCancel(WithStdio(ctx, pr, out))
	defer cancel()
	done := make(chan engine.Result, 1)
	go func() {
		done <- engine.New(engine.Options{
			Source: connector.Endpoint{URL: "-", Format: "csv", BatchSize: 100}, Dest: connector.Endpoint{URL: "-", Format: "ndjson"},
			Mode: connector.ModeAppend, Retries: -1, CheckpointRows: 1000,
		}).Run(c)
	}()
	var sent bytes.Buffer
	sent.WriteString("id,note\n")
	for i := range 20000 { // about 1 MiB, more than any buffer of the writer
		fmt.Fprintf(&sent, "%d,%s\n", i, strings.Repeat("x", 40))
	}
	if _, err := pw.Write(sent.Bytes()); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 30*time.Second, "records on stdout before stdin ends", func() bool { return out.n.Load() > 0 })
	if _, err := pw.Write([]byte("20000,last\n")); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	res := <-done
	if res.Err != nil || res.RowsWritten != 20001 {
		t.Fatalf("rows written %d, err %v", res.RowsWritten, res.Err)
	}
}
