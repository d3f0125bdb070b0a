package connector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"unicode/utf8"
)

// Code classifies an error for people and programs; codes are stable and shown by the CLI,
// the API and the transaction log. The hub raises a few codes of its own (its catalogue maps
// every code to an HTTP status and an exit status): a connector meeting a Code it does not
// know treats it as fatal.
type Code string

// The error codes connectors use: CodeUnreachable and CodeTransient are retryable, CodeAuth
// is refused credentials, CodeNotFound a missing object, CodeUsage, CodeSchema and CodeData
// bad input; anything else is fatal to the run.
const (
	CodeUsage       Code = "usage"        // a bad URL, option or flag
	CodeUnreachable Code = "unreachable"  // the endpoint cannot be reached (retryable)
	CodeAuth        Code = "auth"         // the endpoint refused the credentials
	CodeNotFound    Code = "not_found"    // database, table, file or column missing
	CodeSchema      Code = "schema"       // source and target columns do not fit together
	CodeData        Code = "data"         // a value was refused
	CodeUnsupported Code = "unsupported"  // the connector cannot do what was asked
	CodeInternal    Code = "internal"     // a bug or an unexpected failure
	CodeCanceled    Code = "canceled"     // the run was cancelled
	CodeTransient   Code = "transient"    // a failure worth retrying (deadlock, connection reset)
	CodePermission  Code = "permission"   // the endpoint refused the operation
	CodeConflict    Code = "conflict"     // a concurrent change prevented the operation
	CodeTooLarge    Code = "too_large"    // a value or object exceeds a limit
	CodeInvalidData Code = "invalid_data" // input that cannot be parsed at all
	CodeDiskFull    Code = "disk_full"    // a disk, a quota or a database is full
)

// Error is an error with a code, the endpoint it concerns (already redacted) and a hint
// saying what to check.
type Error struct {
	Code     Code
	Endpoint string
	Hint     string
	Err      error
}

func (e *Error) Error() string {
	s := ""
	if e.Endpoint != "" {
		s = e.Endpoint + ": "
	}
	if e.Err != nil {
		s += e.Err.Error()
	} else {
		s += string(e.Code)
	}
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf wraps err with a code, a redacted endpoint and a hint.
func Errorf(code Code, endpoint, hint string, err error) error {
	return &Error{Code: code, Endpoint: endpoint, Hint: hint, Err: err}
}

// CodeOf returns the code of the first *Error in err's chain; context errors map to
// CodeCanceled, network errors to CodeUnreachable, anything else to CodeInternal.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return CodeCanceled
	}
	if IsDiskFull(err) {
		return CodeDiskFull
	}
	if isNetErr(err) {
		return CodeUnreachable
	}
	return CodeInternal
}

// Retryable reports whether trying again later may succeed: unreachable endpoints, transient
// failures and dropped connections. Cancellation and an unknown host name are never retryable.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	// A name the resolver says does not exist will not exist a second later either; a
	// resolver that timed out or failed is another matter.
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return false
	}
	switch CodeOf(err) {
	case CodeUnreachable, CodeTransient:
		return true
	}
	return isNetErr(err)
}

// UnknownHostHint is the hint for an error that says a host name does not exist ("" for
// any other error); such an error is not retried.
func UnknownHostHint(err error) string {
	var dns *net.DNSError
	if errors.As(err, &dns) && dns.IsNotFound {
		return "check the host name " + dns.Name + ": DNS does not know it"
	}
	return ""
}

// IsDiskFull reports whether err says a disk or a quota is full (ENOSPC, EDQUOT) or carries
// CodeDiskFull.
func IsDiskFull(err error) bool {
	var e *Error
	if errors.As(err, &e) && e.Code == CodeDiskFull {
		return true
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// DiskFull names a full disk or database: what was being written (a file, a database, the
// hub's data folder) and err, the cause. endpoint is the redacted endpoint, "" for the hub's
// own files.
func DiskFull(endpoint, what string, err error) error {
	return Errorf(CodeDiskFull, endpoint, "free space (or raise the quota) where it lives, then run again; an append resumes from its last checkpoint",
		fmt.Errorf("no space left writing %s: %w", what, err))
}

func isNetErr(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) {
		// Every syscall.Errno has the methods of a net.Error: only the network ones below
		// count, so that a full disk or a refused permission is not retried as a dropped
		// connection would be.
		if _, bare := ne.(syscall.Errno); !bare {
			return true
		}
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// MaxErrorText bounds the text of an error, a reject reason or a quoted value kept in a run's
// record: errors that quote their input (a header line, a field) would otherwise carry
// megabytes into memory, the transaction log and the API.
const MaxErrorText = 4 << 10

// CapText returns s cut to at most max bytes (on a UTF-8 boundary), the cut marked with how
// much was left out, e.g. "… (cut, 49 MiB more)". s is returned as it is when it fits.
func CapText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	keep := max - 32
	if keep < 0 {
		keep = 0
	}
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + "… (cut, " + sizeText(int64(len(s)-keep)) + " more)"
}

// sizeText writes a byte count for people: 312 bytes, 12 KiB, 49 MiB.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatInt(n>>30, 10) + " GiB"
	case n >= 1<<20:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// CapError returns err with its text capped at MaxErrorText, keeping err's chain for Code and
// errors.Is; nil stays nil.
func CapError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if len(msg) <= MaxErrorText {
		return err
	}
	return &cappedError{msg: CapText(msg, MaxErrorText), err: err}
}

type cappedError struct {
	msg string
	err error
}

func (c *cappedError) Error() string { return c.msg }
func (c *cappedError) Unwrap() error { return c.err }
