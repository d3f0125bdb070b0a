package connector

import (
	"context"
	"errors"
	"net"
	"syscall"
)

// Code classifies an error for people and programs; codes are stable and shown by the CLI and API.
type Code string

// The error codes.
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
	CodeConfig      Code = "config"       // the hub's own configuration is wrong
	CodeConflict    Code = "conflict"     // a concurrent change prevented the operation
	CodeUnavailable Code = "unavailable"  // a dependency of the hub is down
	CodeTooLarge    Code = "too_large"    // a value or object exceeds a limit
	CodeInvalidData Code = "invalid_data" // input that cannot be parsed at all
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
	if isNetErr(err) {
		return CodeUnreachable
	}
	return CodeInternal
}

// Retryable reports whether trying again later may succeed: unreachable endpoints, transient
// failures and dropped connections. Cancellation is never retryable.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	switch CodeOf(err) {
	case CodeUnreachable, CodeTransient:
		return true
	}
	return isNetErr(err)
}

func isNetErr(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}
