package outbound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/testutil"
)

const banner = "INFO {\"server_id\":\"NCSECRETBANNER\",\"version\":\"2.10.0\",\"jetstream\":true}\r\n"

func TestReasonHoldsNoTargetBytes(t *testing.T) {
	addr := testutil.NotHTTP(t, banner)
	c := mustGuard(t, "127.0.0.0/8").Client(5 * time.Second)
	err := get(t, c, "http://"+addr+"/")
	if err == nil || !strings.Contains(err.Error(), "SECRETBANNER") {
		t.Fatalf("the test needs Go's error to quote the banner: %v", err)
	}
	r := Reason(err)
	if r != "the target's answer is not HTTP" {
		t.Errorf("reason %q", r)
	}
	if s := Sanitize(fmt.Errorf("fetch keys: %w", err)).Error(); strings.Contains(s, "SECRET") || strings.Contains(s, "INFO") {
		t.Errorf("sanitized %q", s)
	}
	// TLS to the same port.
	err = get(t, c, "https://"+addr+"/")
	if r := Reason(err); strings.Contains(r, "INFO") || strings.Contains(r, "SECRET") || r == "" {
		t.Errorf("tls reason %q (%v)", r, err)
	}
}

func TestReason(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	c := mustGuard(t, "127.0.0.0/8").Client(2 * time.Second)
	if r := Reason(get(t, c, "http://"+closed+"/")); r != "connection refused" {
		t.Errorf("closed port: %q", r)
	}
	if r := Reason(get(t, c, "http://nonexistent.invalid/")); !strings.HasPrefix(r, "host name") {
		t.Errorf("no such host: %q", r)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if r := Reason(fmt.Errorf("x: %w", ctx.Err())); r != "canceled" {
		t.Errorf("canceled: %q", r)
	}
	if r := Reason(fmt.Errorf("x: %w", context.DeadlineExceeded)); r != "timed out" {
		t.Errorf("deadline: %q", r)
	}
	if r := Reason(errors.New("http2: server sent GOAWAY and closed the connection; DebugData=\"secret\"")); strings.Contains(r, "secret") {
		t.Errorf("goaway: %q", r)
	}
	if Reason(nil) != "" {
		t.Error("nil")
	}
	refused := &RefusedError{Addr: "127.0.0.1:80", Reason: ReasonLoopback}
	if s := Sanitize(fmt.Errorf("wrapped: %w", refused)); !errors.Is(s, ErrRefused) || s.Error() != refused.Error() {
		t.Errorf("sanitized refusal: %v", s)
	}
	flat := fmt.Errorf("oidc: get keys failed %v; and then %s", fmt.Errorf("dial: %w", refused), strings.Repeat("x", 300))
	if s := Sanitize(flat); !errors.Is(s, ErrRefused) || s.Error() != refused.Error() {
		t.Errorf("sanitized flattened refusal: %v", s)
	}
	if s := Sanitize(fmt.Errorf("x: %w", context.Canceled)); !errors.Is(s, context.Canceled) {
		t.Errorf("sanitized cancel: %v", s)
	}
}

func TestExcerpt(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"404 page not found", "404 page not found"},
		{"line1\r\nline2\x1b[31mred\x00", "line1..line2.[31mred."},
		{"bad \xff utf8", "bad . utf8"},
		{"naïve ünïcode", "naïve ünïcode"},
		{"bidi \u202e trick", "bidi . trick"},
		{long, strings.Repeat("a", MaxExcerpt) + "…[cut]"},
	} {
		if got := Excerpt([]byte(tc.in)); got != tc.want {
			t.Errorf("Excerpt(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if s := Sanitize(errors.New("401 Unauthorized: " + long)).Error(); len(s) > MaxExcerpt+len("…[cut]") || !strings.HasSuffix(s, "…[cut]") {
		t.Errorf("sanitized long error: %q", s)
	}
}
