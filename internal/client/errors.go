package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"unicode"

	"github.com/datahub-oss/datahub/internal/errcode"
)

// The error codes of the API's error body: the API codes of the hub's catalogue (errcode).
const (
	CodeUnauthenticated = string(errcode.Unauthenticated)
	CodeForbidden       = string(errcode.Forbidden)
	CodeNotFound        = string(errcode.NotFound)
	CodeInvalid         = string(errcode.Invalid)
	CodeConflict        = string(errcode.Conflict)
	CodeInternal        = string(errcode.Internal)
	CodeUnavailable     = string(errcode.Unavailable)
	CodeThrottled       = string(errcode.Throttled)
	// CodeStorageFull (HTTP 507): a disk or database of the hub is full.
	CodeStorageFull = string(errcode.StorageFull)
)

// APIError is an answer of the server other than success: its HTTP status and the error body
// {code, message, details}.
type APIError struct {
	Status  int
	Code    string
	Message string
	// Details is the body's details object as sent (nil when none); FieldErrors reads the
	// validation errors in it.
	Details json.RawMessage

	// noToken tells a 401 that no token was sent at all.
	noToken bool
	// login marks a refused login, whose 401 is about the password, not a token.
	login bool
}

// tokenHint says where a token comes from.
//
//nolint:gosec // G101: it names where the token is, it holds none
const tokenHint = "set DATAHUB_TOKEN or --token (see <data>/admin.token in the server's data folder for the first admin)"

// ErrorCode is the body's code, for errcode.Of (and so the CLI's exit status).
func (e *APIError) ErrorCode() string { return e.Code }

func (e *APIError) Error() string {
	msg := e.Message
	if e.Status == http.StatusUnauthorized && !e.login {
		if e.noToken {
			return "the server wants a token: " + tokenHint
		}
		if msg != "" && !strings.EqualFold(msg, "unauthenticated") && !strings.EqualFold(msg, http.StatusText(e.Status)) {
			return fmt.Sprintf("the server refused the token (%s): %s", msg, tokenHint)
		}
		return "the server refused the token: " + tokenHint
	}
	if msg == "" {
		msg = fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	}
	switch e.Status {
	case http.StatusForbidden:
		return "not allowed: " + msg
	case http.StatusServiceUnavailable:
		return "the server is not ready: " + msg
	}
	if fes := e.FieldErrors(); len(fes) > 0 {
		lines := make([]string, 0, len(fes)+1)
		lines = append(lines, msg)
		for _, f := range fes {
			lines = append(lines, "  "+f.String())
		}
		return strings.Join(lines, "\n")
	}
	return msg
}

// FieldError is one validation problem in the details of an `invalid` error.
type FieldError struct {
	File     string `json:"file,omitempty"`
	Document int    `json:"document,omitempty"`
	Kind     string `json:"kind,omitempty"`
	Name     string `json:"name,omitempty"`
	Line     int    `json:"line,omitempty"`
	Field    string `json:"field,omitempty"`
	Message  string `json:"message"`
}

// String places the problem: "file: document 2 (Integration "x") line 4: field: message".
func (f FieldError) String() string {
	var place []string
	if f.Document > 0 {
		place = append(place, fmt.Sprintf("document %d", f.Document))
	}
	if f.Kind != "" && f.Name != "" {
		place = append(place, fmt.Sprintf("(%s %q)", f.Kind, f.Name))
	}
	if f.Line > 0 {
		place = append(place, fmt.Sprintf("line %d", f.Line))
	}
	var b strings.Builder
	if f.File != "" {
		b.WriteString(f.File + ": ")
	}
	if len(place) > 0 {
		b.WriteString(strings.Join(place, " ") + ": ")
	}
	if f.Field != "" {
		b.WriteString(f.Field + ": ")
	}
	b.WriteString(f.Message)
	return b.String()
}

// FieldErrors returns the validation problems listed in the details (details.errors).
func (e *APIError) FieldErrors() []FieldError {
	if len(e.Details) == 0 {
		return nil
	}
	var d struct {
		Errors []FieldError `json:"errors"`
	}
	if json.Unmarshal(e.Details, &d) != nil {
		return nil
	}
	return d.Errors
}

// StatusOf returns the HTTP status of an *APIError in err's chain, 0 when there is none.
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// IsNotFound reports whether err is the server's 404.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// maxErrorBody bounds the error body read.
const maxErrorBody = 1 << 20

// readAPIError turns a non-2xx answer into an *APIError. A body in another shape (a proxy's
// page, huma's problem+json) still gives a message.
func readAPIError(resp *http.Response, noToken bool) *APIError {
	e := &APIError{Status: resp.StatusCode, noToken: noToken}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var b struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
		// huma's default model, in case a route escaped the override.
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	if json.Unmarshal(body, &b) == nil {
		e.Code, e.Message = b.Code, b.Message
		if e.Message == "" {
			e.Message = firstNonEmpty(b.Detail, b.Title)
		}
		if len(b.Details) > 0 && string(b.Details) != "null" {
			e.Details = b.Details
		}
	} else {
		e.Message = oneLine(string(body), 200)
	}
	if e.Code == "" {
		e.Code = codeFor(resp.StatusCode)
	}
	return e
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// codeFor is the contract's code of an HTTP status, for answers without one.
func codeFor(status int) string { return string(errcode.ForStatus(status)) }

// oneLine makes text printable on one line, cut to n characters.
func oneLine(s string, n int) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// ConnError is a call that got no answer: the server is down, unreachable or too slow.
type ConnError struct {
	// URL is the server's base URL.
	URL string
	Err error
}

func (e *ConnError) Error() string {
	if errors.Is(e.Err, syscall.ECONNREFUSED) {
		return fmt.Sprintf("cannot reach the Data Hub server at %s; is `datahub serve` running?", e.URL)
	}
	return fmt.Sprintf("cannot reach the Data Hub server at %s: %v", e.URL, e.Err)
}

func (e *ConnError) Unwrap() error { return e.Err }

// Transient reports whether err is worth retrying as it is: the server could not be reached,
// or answered that it (or a proxy in front of it) cannot serve now (502, 503, 504).
func Transient(err error) bool {
	var ce *ConnError
	if errors.As(err, &ce) {
		return true
	}
	switch StatusOf(err) {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
