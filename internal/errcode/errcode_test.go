package errcode

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/datahub-oss/datahub/connector"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestTableGolden: the catalogue (code, HTTP status, exit status, retryable, API) is held by a
// golden file, so that changing what a code answers is a deliberate, reviewed change.
func TestTableGolden(t *testing.T) {
	var b strings.Builder
	fmt.Fprintf(&b, "%-16s %4s %4s %-9s %s\n", "code", "http", "exit", "retryable", "api")
	for _, e := range All() {
		fmt.Fprintf(&b, "%-16s %4d %4d %-9v %v\n", e.Code, e.HTTP, e.Exit, e.Retryable, e.API)
	}
	path := filepath.Join("testdata", "codes.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("the catalogue changed; if that is meant, run go test ./internal/errcode -update and review the diff\ngot:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestTableSound: every entry has a meaning and a status, API codes have distinct statuses
// (so ForStatus is a function), and ForStatus maps every status of the table to an API code.
func TestTableSound(t *testing.T) {
	seen := map[int]Code{}
	api := map[Code]bool{}
	for _, c := range APICodes() {
		api[c] = true
	}
	for _, e := range All() {
		if e.Meaning == "" || http.StatusText(e.HTTP) == "" || e.HTTP < 400 {
			t.Errorf("%s: meaning %q, status %d", e.Code, e.Meaning, e.HTTP)
		}
		if e.Exit == ExitOK || e.Exit == ExitRejected {
			t.Errorf("%s: exit %d is not a failure's", e.Code, e.Exit)
		}
		if e.API {
			if prev, dup := seen[e.HTTP]; dup {
				t.Errorf("%s and %s both answer %d", prev, e.Code, e.HTTP)
			}
			seen[e.HTTP] = e.Code
		}
		if got := ForStatus(e.HTTP); !api[got] {
			t.Errorf("%s: status %d gives body code %q, not an API code", e.Code, e.HTTP, got)
		}
		if got := HTTPStatus(e.Code); got != e.HTTP {
			t.Errorf("HTTPStatus(%s) = %d", e.Code, got)
		}
		if got := ExitStatus(e.Code); got != e.Exit {
			t.Errorf("ExitStatus(%s) = %d", e.Code, got)
		}
	}
	for status, want := range map[int]Code{400: Invalid, 405: Invalid, 413: Invalid, 412: Conflict, 502: Internal, 504: Internal, 507: StorageFull, 429: Throttled} {
		if got := ForStatus(status); got != want {
			t.Errorf("ForStatus(%d) = %s, want %s", status, got, want)
		}
	}
	if HTTPStatus("no_such_code") != http.StatusInternalServerError || ExitStatus("no_such_code") != ExitFailed {
		t.Error("an unknown code must be an internal failure")
	}
}

// TestSDKCodesInTable: every code of the SDK is in the catalogue, and the table's retryable
// agrees with connector.Retryable, which the engine's retries follow.
func TestSDKCodesInTable(t *testing.T) {
	sdk := []connector.Code{connector.CodeUsage, connector.CodeUnreachable, connector.CodeAuth, connector.CodeNotFound,
		connector.CodeSchema, connector.CodeData, connector.CodeUnsupported, connector.CodeInternal, connector.CodeCanceled,
		connector.CodeTransient, connector.CodePermission, connector.CodeConflict, connector.CodeTooLarge,
		connector.CodeInvalidData, connector.CodeDiskFull}
	for _, c := range sdk {
		e, ok := Lookup(Code(c))
		if !ok {
			t.Errorf("SDK code %s is not in the catalogue", c)
			continue
		}
		if c == connector.CodeCanceled {
			continue // Retryable refuses cancellation whatever its code
		}
		if got := connector.Retryable(connector.Errorf(c, "", "", errors.New("x"))); got != e.Retryable {
			t.Errorf("%s: connector.Retryable %v, table %v", c, got, e.Retryable)
		}
	}
}

type apiErr struct{ code string }

func (e apiErr) Error() string     { return "api: " + e.code }
func (e apiErr) ErrorCode() string { return e.code }

func TestOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"nil", nil, ""},
		{"plain", errors.New("boom"), Internal},
		{"hub code", fmt.Errorf("enqueue: %w", Errorf(Unavailable, "nats://h", "", errors.New("no responders"))), Unavailable},
		{"sdk code", connector.Errorf(connector.CodeUsage, "", "", errors.New("bad option")), Usage},
		{"api error", fmt.Errorf("apply: %w", apiErr{"invalid"}), Invalid},
		{"canceled", fmt.Errorf("run: %w", context.Canceled), Canceled},
		{"ENOSPC", fmt.Errorf("write: %w", syscall.ENOSPC), DiskFull},
		{"ECONNREFUSED", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), Unreachable},
	}
	for _, tc := range tests {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("%s: Of = %q, want %q", tc.name, got, tc.want)
		}
	}
	if ExitStatus(Of(connector.Errorf(connector.CodeUsage, "", "", errors.New("x")))) != ExitUsage {
		t.Error("a usage error must exit 2")
	}
}
