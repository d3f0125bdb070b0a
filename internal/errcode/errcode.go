// Package errcode is the hub's catalogue of error codes: for each code, once, the HTTP status
// the API answers it with, the exit status of the datahub command, whether trying again may
// succeed, and what it means. The codes of the public SDK's classification (package
// connector) are in it with the hub's own: those of the API's error body (its OpenAPI enum is
// made from this table) and those only the hub raises (unavailable, interrupted, config).
package errcode

import (
	"errors"
	"net/http"

	"github.com/datahub-oss/datahub/connector"
)

// Code is a stable error code, shown by the API, the CLI and the transaction log.
type Code string

// The codes of the API's error body (API true in the table).
const (
	Unauthenticated Code = "unauthenticated"
	Forbidden       Code = "forbidden"
	NotFound        Code = "not_found"
	Invalid         Code = "invalid"
	Conflict        Code = "conflict"
	Internal        Code = "internal"
	Unavailable     Code = "unavailable"
	Throttled       Code = "throttled"
	StorageFull     Code = "storage_full"
)

// The codes errors and run records carry: the SDK's (connector.Code*) and the hub's own.
const (
	Usage       = Code(connector.CodeUsage)
	Unreachable = Code(connector.CodeUnreachable)
	Auth        = Code(connector.CodeAuth)
	Schema      = Code(connector.CodeSchema)
	Data        = Code(connector.CodeData)
	Unsupported = Code(connector.CodeUnsupported)
	Canceled    = Code(connector.CodeCanceled)
	Transient   = Code(connector.CodeTransient)
	Permission  = Code(connector.CodePermission)
	TooLarge    = Code(connector.CodeTooLarge)
	InvalidData = Code(connector.CodeInvalidData)
	DiskFull    = Code(connector.CodeDiskFull)
	// Config: the hub's own configuration is wrong (the hub raises it).
	Config Code = "config"
	// Interrupted: the process running a run ended without recording its outcome (the hub
	// raises it; connectors never do).
	Interrupted Code = "interrupted"
)

// Exit statuses of the datahub command (documented in the README).
const (
	ExitOK       = 0
	ExitFailed   = 1
	ExitUsage    = 2
	ExitRejected = 3 // the run finished with rejected rows (status partial): not an error code
)

// Entry is one code of the catalogue.
type Entry struct {
	Code Code
	// HTTP is the status the API answers an error with this code with.
	HTTP int
	// Exit is the datahub command's exit status for it.
	Exit int
	// Retryable: trying the same again later may succeed with nothing changed.
	Retryable bool
	// API marks the codes an API error body carries (the OpenAPI enum); an error with another
	// code is answered with the API code of its HTTP status (see ForStatus).
	API bool
	// Meaning says what the code means, in one line.
	Meaning string
}

// table is the catalogue. A 5xx answer hides the error's message (it goes to the server's
// log), so codes whose messages may quote a value (data) or a server path stay 5xx.
var table = []Entry{
	{Unauthenticated, http.StatusUnauthorized, ExitFailed, false, true, "no valid token or credentials were sent"},
	{Forbidden, http.StatusForbidden, ExitFailed, false, true, "the caller lacks the permission for what it asked"},
	{NotFound, http.StatusNotFound, ExitFailed, false, true, "the resource, run, database, table, file or column does not exist"},
	{Invalid, http.StatusUnprocessableEntity, ExitFailed, false, true, "the request or a resource in it is not valid"},
	{Conflict, http.StatusConflict, ExitFailed, false, true, "the current state or a concurrent change prevents the operation"},
	{Internal, http.StatusInternalServerError, ExitFailed, false, true, "a bug or an unexpected failure; the log has the details"},
	{Unavailable, http.StatusServiceUnavailable, ExitFailed, true, true, "a dependency of the hub (its store, its bus) is down; try again shortly"},
	{Throttled, http.StatusTooManyRequests, ExitFailed, true, true, "too many attempts; wait for Retry-After"},
	{StorageFull, http.StatusInsufficientStorage, ExitFailed, false, true, "a disk or database of the hub is full"},

	{Usage, http.StatusUnprocessableEntity, ExitUsage, false, false, "a bad URL, option or flag"},
	{Unreachable, http.StatusServiceUnavailable, ExitFailed, true, false, "an endpoint cannot be reached"},
	{Auth, http.StatusUnauthorized, ExitFailed, false, false, "the endpoint (or the hub) refused the credentials"},
	{Schema, http.StatusInternalServerError, ExitFailed, false, false, "source and target columns do not fit together"},
	{Data, http.StatusInternalServerError, ExitFailed, false, false, "a value was refused (the message may quote it)"},
	{Unsupported, http.StatusInternalServerError, ExitFailed, false, false, "the connector cannot do what was asked"},
	{Canceled, http.StatusServiceUnavailable, ExitFailed, false, false, "the run or request was cancelled or timed out"},
	{Transient, http.StatusServiceUnavailable, ExitFailed, true, false, "a failure worth retrying (deadlock, connection reset)"},
	{Permission, http.StatusForbidden, ExitFailed, false, false, "the endpoint (or the hub) refused the operation"},
	{TooLarge, http.StatusUnprocessableEntity, ExitFailed, false, false, "a value or object exceeds a limit"},
	{InvalidData, http.StatusUnprocessableEntity, ExitFailed, false, false, "input that cannot be parsed at all"},
	{DiskFull, http.StatusInsufficientStorage, ExitFailed, false, false, "a disk, a quota or a database is full"},
	{Config, http.StatusInternalServerError, ExitFailed, false, false, "the hub's own configuration is wrong"},
	{Interrupted, http.StatusInternalServerError, ExitFailed, false, false, "the process running it ended without recording an outcome"},
}

var byCode = func() map[Code]Entry {
	m := make(map[Code]Entry, len(table))
	for _, e := range table {
		if _, dup := m[e.Code]; dup {
			panic("errcode: code " + string(e.Code) + " twice in the table")
		}
		m[e.Code] = e
	}
	return m
}()

// All returns the catalogue in its order.
func All() []Entry { return append([]Entry(nil), table...) }

// Lookup returns the entry of c.
func Lookup(c Code) (Entry, bool) {
	e, ok := byCode[c]
	return e, ok
}

// HTTPStatus is the API's status for c; an unknown code is an internal error.
func HTTPStatus(c Code) int {
	if e, ok := byCode[c]; ok {
		return e.HTTP
	}
	return http.StatusInternalServerError
}

// ExitStatus is the datahub command's exit status for c; an unknown code is a failure.
func ExitStatus(c Code) int {
	if e, ok := byCode[c]; ok {
		return e.Exit
	}
	return ExitFailed
}

// APICodes are the codes an API error body carries, in the table's order: the OpenAPI enum.
func APICodes() []Code {
	var out []Code
	for _, e := range table {
		if e.API {
			out = append(out, e.Code)
		}
	}
	return out
}

// ForStatus is the API code of an HTTP status: the API code with that status; a failed
// precondition is a conflict; any other status is internal from 500 up, invalid below.
func ForStatus(status int) Code {
	for _, e := range table {
		if e.API && e.HTTP == status {
			return e.Code
		}
	}
	switch {
	case status == http.StatusPreconditionFailed:
		return Conflict
	case status >= 500:
		return Internal
	}
	return Invalid
}

// Errorf wraps err with a code of the catalogue, a redacted endpoint and a hint, as
// connector.Errorf does: the result is a *connector.Error, so connector.CodeOf and Of see
// the code.
func Errorf(c Code, endpoint, hint string, err error) error {
	return connector.Errorf(connector.Code(c), endpoint, hint, err)
}

// coder is an error that knows its code (the client's API errors).
type coder interface{ ErrorCode() string }

// Of returns the code of err: that of the first *connector.Error in its chain, else that of
// an error naming one (the client's API errors), else what connector.CodeOf makes of it
// (canceled, disk_full, unreachable or internal); "" for nil.
func Of(err error) Code {
	if err == nil {
		return ""
	}
	var ce *connector.Error
	if errors.As(err, &ce) {
		return Code(ce.Code)
	}
	var c coder
	if errors.As(err, &c) && c.ErrorCode() != "" {
		return Code(c.ErrorCode())
	}
	return Code(connector.CodeOf(err))
}
