package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/errcode"
	"github.com/datahub-oss/datahub/internal/runs"
)

// TestDiskFullIs507: a full disk or database is answered 507 with a message saying so (and
// not where: the server's paths go to its log), not 500 "internal error".
func TestDiskFullIs507(t *testing.T) {
	s := &server{}
	tests := []struct {
		name string
		err  error
	}{
		{"ENOSPC", fmt.Errorf("record run: %w", &fs.PathError{Op: "write", Path: "/srv/data/datahub.db-wal", Err: syscall.ENOSPC})},
		{"under another code", connector.Errorf(connector.CodeInternal, "", "", fmt.Errorf("flush: %w", syscall.ENOSPC))},
		{"named", fmt.Errorf("apply: %w", connector.DiskFull("", "the hub's metadata store /srv/data/datahub.db", errors.New("database or disk is full")))},
	}
	for _, tc := range tests {
		e := s.toError(context.Background(), tc.err)
		if e.GetStatus() != http.StatusInsufficientStorage || e.Code != CodeStorageFull ||
			!strings.Contains(e.Message, "full") || strings.Contains(e.Message, "/srv/data") {
			t.Errorf("%s: %d %s %q", tc.name, e.GetStatus(), e.Code, e.Message)
		}
	}
	if e := s.toError(context.Background(), errors.New("boom")); e.GetStatus() != http.StatusInternalServerError {
		t.Errorf("an unexpected error: %d", e.GetStatus())
	}
}

// TestErrorCodesInOpenAPI: the OpenAPI enum of the error body's code is the catalogue's API
// codes, and every code the API can answer with is in it: that of every catalogue code
// (through toError, at the catalogue's status), and that of every status an operation
// declares.
func TestErrorCodesInOpenAPI(t *testing.T) {
	s, _ := build(Deps{})
	doc := s.api.OpenAPI()
	body := doc.Components.Schemas.Map()["Error"]
	if body == nil || body.Properties["code"] == nil {
		t.Fatal("no Error schema with a code in the OpenAPI document")
	}
	enum := map[string]bool{}
	var listed []string
	for _, v := range body.Properties["code"].Enum {
		enum[v.(string)] = true
		listed = append(listed, v.(string))
	}
	var want []string
	for _, c := range errcode.APICodes() {
		want = append(want, string(c))
	}
	if strings.Join(listed, ",") != strings.Join(want, ",") {
		t.Errorf("OpenAPI enum %v, catalogue %v", listed, want)
	}
	for _, e := range errcode.All() {
		got := s.toError(context.Background(), fmt.Errorf("doing it: %w", errcode.Errorf(e.Code, "", "", errors.New("it failed"))))
		if got.GetStatus() != e.HTTP || !enum[got.Code] {
			t.Errorf("%s: answered %d %q, want %d and a code of the enum", e.Code, got.GetStatus(), got.Code, e.HTTP)
		}
	}
	checked := 0
	for path, item := range doc.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op == nil {
				continue
			}
			for status := range op.Responses {
				n, err := strconv.Atoi(status)
				if err != nil || n < 400 {
					continue
				}
				checked++
				if c := codeFor(n); !enum[c] {
					t.Errorf("%s %s declares %d, whose code %q is not in the enum", op.Method, path, n, c)
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d error responses declared in the document: the walk is broken", checked)
	}
}

// TestServiceErrorStatuses: the services' errors get the catalogue's status, and a 5xx hides
// the message.
func TestServiceErrorStatuses(t *testing.T) {
	s := &server{}
	tests := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("get: %w", catalog.ErrNotFound), http.StatusNotFound, CodeNotFound},
		{fmt.Errorf("delete: %w", catalog.ErrInUse), http.StatusConflict, CodeConflict},
		{fmt.Errorf("start: %w", runs.ErrInvalid), http.StatusUnprocessableEntity, CodeInvalid},
		{auth.ErrInvalidToken, http.StatusUnauthorized, CodeUnauthenticated},
		{auth.ErrForbidden, http.StatusForbidden, CodeForbidden},
		{auth.ErrWeakPassword, http.StatusUnprocessableEntity, CodeInvalid},
		{context.DeadlineExceeded, http.StatusServiceUnavailable, CodeUnavailable},
		{errcode.Errorf(errcode.Unavailable, "nats://h:4222", "", errors.New("no responders")), http.StatusServiceUnavailable, CodeUnavailable},
	}
	for _, tc := range tests {
		e := s.toError(context.Background(), tc.err)
		if e.GetStatus() != tc.status || e.Code != tc.code {
			t.Errorf("%v: %d %s, want %d %s", tc.err, e.GetStatus(), e.Code, tc.status, tc.code)
		}
		if tc.status >= 500 && strings.Contains(e.Message, "nats://") {
			t.Errorf("%v: a 5xx shows the detail: %q", tc.err, e.Message)
		}
	}
}
