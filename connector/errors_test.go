package connector

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"
)

func TestCapText(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 100, "short"},
		{strings.Repeat("a", 100), 100, strings.Repeat("a", 100)},
		{strings.Repeat("a", 50<<20), 4096, strings.Repeat("a", 4064) + "… (cut, 49 MiB more)"},
		{strings.Repeat("a", 5000), 4096, strings.Repeat("a", 4064) + "… (cut, 936 bytes more)"},
		{strings.Repeat("é", 3000), 4096, strings.Repeat("é", 2032) + "… (cut, 1 KiB more)"},
	}
	for _, tc := range tests {
		got := CapText(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("CapText(%d bytes, %d) = %q…", len(tc.in), tc.max, got[max(0, len(got)-40):])
		}
		if !utf8.ValidString(got) || len(got) > tc.max+32 {
			t.Errorf("CapText(%d bytes, %d): %d bytes, valid UTF-8 %v", len(tc.in), tc.max, len(got), utf8.ValidString(got))
		}
	}
	big := fmt.Errorf("header: %w", Errorf(CodeInvalidData, "x.csv", "", errors.New(strings.Repeat("h", 1<<20))))
	capped := CapError(big)
	if len(capped.Error()) > MaxErrorText || CodeOf(capped) != CodeInvalidData {
		t.Fatalf("capped error: %d bytes, code %s", len(capped.Error()), CodeOf(capped))
	}
}

func TestDiskFullIsNamedAndNotRetried(t *testing.T) {
	enospc := &fs.PathError{Op: "write", Path: "/data/rejects.ndjson", Err: syscall.ENOSPC}
	tests := []struct {
		name      string
		err       error
		code      Code
		retryable bool
	}{
		{"ENOSPC", enospc, CodeDiskFull, false},
		{"EDQUOT", fmt.Errorf("write: %w", syscall.EDQUOT), CodeDiskFull, false},
		{"named", DiskFull("sqlite:/x.db", "the SQLite database /x.db", errors.New("database or disk is full")), CodeDiskFull, false},
		{"EACCES", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, CodeInternal, false},
		{"ECONNRESET", fmt.Errorf("read: %w", syscall.ECONNRESET), CodeUnreachable, true},
		{"unknown host", Errorf(CodeUnreachable, "mysql://h/db", "", fmt.Errorf("connect: %w",
			&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}})), CodeUnreachable, false},
		{"resolver timeout", fmt.Errorf("connect: %w", &net.DNSError{Err: "i/o timeout", Name: "h", IsTimeout: true}), CodeUnreachable, true},
	}
	for _, tc := range tests {
		if got := CodeOf(tc.err); got != tc.code {
			t.Errorf("%s: code %s, want %s", tc.name, got, tc.code)
		}
		if got := Retryable(tc.err); got != tc.retryable {
			t.Errorf("%s: retryable %v, want %v", tc.name, got, tc.retryable)
		}
	}
	msg := DiskFull("", "/data/rejects.ndjson", enospc).Error()
	if !strings.Contains(msg, "no space left writing /data/rejects.ndjson") || !strings.Contains(msg, "free space") {
		t.Errorf("message %q", msg)
	}
}

func TestCheckNameLengths(t *testing.T) {
	s := func(names ...string) Schema {
		var sc Schema
		for _, n := range names {
			sc.Columns = append(sc.Columns, Column{Name: n, Type: TypeString})
		}
		return sc
	}
	bytes := func(s string) int { return len(s) }
	tests := []struct {
		name   string
		table  []string
		schema Schema
		bad    string
	}{
		{"fits", []string{"public", strings.Repeat("t", 63)}, s("id", strings.Repeat("c", 63)), ""},
		{"long column", []string{"public", "t"}, s("id", strings.Repeat("c", 64)), "column name"},
		{"long table", []string{"public", strings.Repeat("t", 64)}, s("id"), "table name"},
		{"multibyte", []string{"t"}, s(strings.Repeat("é", 32)), "column name"},
		{"huge", []string{"t"}, s(strings.Repeat("h", 50<<20)), "column name"},
	}
	for _, tc := range tests {
		err := CheckNameLengths("pg", "PostgreSQL", 63, "bytes", bytes, tc.table, tc.schema)
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad) || !strings.Contains(err.Error(), "at most 63") ||
			CodeOf(err) != CodeSchema || len(err.Error()) > 1024):
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
