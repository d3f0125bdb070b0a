package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/datahub-oss/datahub/connector"
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
