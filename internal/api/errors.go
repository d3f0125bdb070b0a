package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/errcode"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// The stable error codes of the contract: the API codes of the hub's catalogue (errcode).
const (
	CodeUnauthenticated = string(errcode.Unauthenticated)
	CodeForbidden       = string(errcode.Forbidden)
	CodeNotFound        = string(errcode.NotFound)
	CodeInvalid         = string(errcode.Invalid)
	CodeConflict        = string(errcode.Conflict)
	CodeInternal        = string(errcode.Internal)
	CodeUnavailable     = string(errcode.Unavailable)
	CodeThrottled       = string(errcode.Throttled)
	CodeStorageFull     = string(errcode.StorageFull)
)

// Error is every error response's body: a stable code, a message for people and, for
// validation errors, the fields at fault. It replaces huma's RFC 9457 model so that the API
// has one error shape whether huma (validation) or a handler produced it.
type Error struct {
	status  int
	Code    string   `json:"code" doc:"Stable error code"` // its enum is the catalogue's: see TransformSchema
	Message string   `json:"message" doc:"What went wrong, for people"`
	Details *Details `json:"details,omitempty" doc:"Field errors of a validation failure"`
	// headers go with the response (huma.HeadersError), e.g. a 429's Retry-After.
	headers http.Header
}

// Details are an error's particulars.
type Details struct {
	Errors []FieldError `json:"errors,omitempty"`
}

// FieldError is one problem in a request: where (a resource file's document and line, or a
// request field) and what. Values are never echoed: a rejected value may be a secret.
type FieldError struct {
	File     string `json:"file,omitempty"`
	Document int    `json:"document,omitempty"`
	Line     int    `json:"line,omitempty"`
	Field    string `json:"field,omitempty"`
	Message  string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// GetHeaders are the response headers that go with the error (huma.HeadersError).
func (e *Error) GetHeaders() http.Header { return e.headers }

// GetStatus is the HTTP status (huma.StatusError).
func (e *Error) GetStatus() int { return e.status }

// TransformSchema fills the enum of the body's code from the catalogue, so that the OpenAPI
// document lists exactly the codes the API answers with (huma.SchemaTransformer).
func (e *Error) TransformSchema(_ huma.Registry, s *huma.Schema) *huma.Schema {
	if p := s.Properties["code"]; p != nil {
		p.Enum = nil
		for _, c := range errcode.APICodes() {
			p.Enum = append(p.Enum, string(c))
		}
	}
	return s
}

// codeFor is the contract's code for an HTTP status.
func codeFor(status int) string { return string(errcode.ForStatus(status)) }

// apiError returns an error response; the message is shown as is, so it must hold nothing
// secret.
func apiError(status int, msg string) *Error {
	return &Error{status: status, Code: codeFor(status), Message: msg}
}

// genericMessage is what a 5xx response says: the detail goes to the log only.
func genericMessage(status int) string {
	if status == http.StatusServiceUnavailable {
		return "the hub is not ready; try again shortly"
	}
	return "internal error; the server log has the details"
}

var hookErrors sync.Once

// installErrorModel replaces huma's error constructors (package globals) with the contract's.
func installErrorModel() {
	hookErrors.Do(func() {
		huma.NewError = newHumaError
		huma.NewErrorWithContext = func(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
			if status >= 500 && hctx != nil {
				ctx := hctx.Context()
				loggerFrom(ctx).ErrorContext(ctx, "request failed", "status", status, "err", errors.Join(errs...))
			}
			return newHumaError(status, msg, errs...)
		}
	})
}

// newHumaError builds the contract's error from what huma reports. Huma's details carry the
// offending value (for a body that does not parse, the whole body): only locations and
// messages are kept.
func newHumaError(status int, msg string, errs ...error) huma.StatusError {
	if status >= 500 {
		return apiError(status, genericMessage(status))
	}
	e := apiError(status, msg)
	var fes []FieldError
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			ed := d.ErrorDetail()
			fes = append(fes, FieldError{Field: ed.Location, Message: ed.Message})
			continue
		}
		fes = append(fes, FieldError{Message: err.Error()})
	}
	if len(fes) > 0 {
		e.Details = &Details{Errors: fes}
	}
	return e
}

// toError maps a service error onto the contract. 4xx messages come from the services,
// which keep secrets out of their errors; anything unexpected is logged (redacted) and
// answered with a generic message.
func (s *server) toError(ctx context.Context, err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var ces catalog.Errors
	if errors.As(err, &ces) {
		return validationError("the resources are not valid", ces, false)
	}
	var ce *catalog.Error
	if errors.As(err, &ce) {
		return validationError("the resources are not valid", catalog.Errors{ce}, false)
	}
	code := codeOf(err)
	status := errcode.HTTPStatus(code)
	if code == errcode.DiskFull || code == errcode.StorageFull {
		// Not an internal error: an operator can act on it, so say what happened. Where (a
		// path of the server) goes to the log only.
		loggerFrom(ctx).ErrorContext(ctx, "request failed: storage full", "status", status, "err", err)
		return apiError(status,
			"insufficient storage: the hub could not write its data because a disk or database is full; an operator must free space (the server log says where), then retry")
	}
	if status >= 500 {
		loggerFrom(ctx).ErrorContext(ctx, "request failed", "status", status, "code", code, "err", err)
		return apiError(status, genericMessage(status))
	}
	return apiError(status, err.Error())
}

// codeOf is the catalogue's code of a service error: the services' sentinel errors that carry
// no code of their own, a timeout and a full disk anywhere in the chain, then the code in
// err's chain (errcode.Of). Statuses come from the catalogue only.
func codeOf(err error) errcode.Code {
	switch {
	case errors.Is(err, catalog.ErrNotFound), errors.Is(err, txlog.ErrNotFound), errors.Is(err, auth.ErrNotFound),
		errors.Is(err, secret.ErrNotFound):
		return errcode.NotFound
	case errors.Is(err, catalog.ErrInUse), errors.Is(err, auth.ErrNameTaken), errors.Is(err, auth.ErrLastAdmin):
		return errcode.Conflict
	case errors.Is(err, runs.ErrInvalid):
		return errcode.Invalid
	case errors.Is(err, auth.ErrInvalidToken), errors.Is(err, auth.ErrInvalidCredentials):
		return errcode.Unauthenticated
	case errors.Is(err, auth.ErrForbidden):
		return errcode.Forbidden
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// Whatever code a wrapping error gives: the request ran out of time or was cut.
		return errcode.Canceled
	case connector.IsDiskFull(err):
		return errcode.DiskFull
	}
	return errcode.Of(err)
}

// validationError turns catalog problems into a 422. For JSON input the lines refer to text
// the client never wrote, so they are left out.
func validationError(msg string, es catalog.Errors, dropLines bool) *Error {
	e := apiError(http.StatusUnprocessableEntity, msg)
	fes := make([]FieldError, 0, len(es))
	for _, ce := range es {
		fe := FieldError{File: ce.File, Document: ce.Doc, Line: ce.Line, Field: ce.Field, Message: ce.Problem}
		if dropLines {
			fe.Line = 0
		}
		fes = append(fes, fe)
	}
	e.Details = &Details{Errors: fes}
	return e
}

// writeError writes an error outside huma (the pre-router middleware, unknown routes).
func writeError(w http.ResponseWriter, e *Error) {
	b, err := json.Marshal(e)
	if err != nil {
		b = []byte(`{"code":"internal","message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="datahub"`)
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(append(b, '\n'))
}
