package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/secret"
)

// publicPaths are the raw paths reachable without a token, compared byte for byte: any other
// spelling of them is not public. Everything else under /api/ needs a valid token before
// anything looks at the path. The register helper refuses a public operation not listed here.
var publicPaths = map[string]bool{
	"/healthz":                   true,
	"/readyz":                    true,
	"/api/v1/openapi.json":       true,
	"/api/v1/auth/login":         true,
	"/api/v1/auth/oidc/login":    true,
	"/api/v1/auth/oidc/callback": true,
}

type remoteKey struct{}

// WithRemote returns a context carrying the client's address, for audit entries written
// below the HTTP layer (CatalogAuditHook).
func WithRemote(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, remoteKey{}, addr)
}

// RemoteFrom returns the address WithRemote stored, or "".
func RemoteFrom(ctx context.Context) string {
	s, _ := ctx.Value(remoteKey{}).(string)
	return s
}

type loggerKey struct{}

func withLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// loggerFrom returns the request's logger (a discarding one outside a request).
func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

// underAPI reports whether a request path could be taken for one under /api/ by anything
// that decodes or cleans it. It is asked of the raw path, the decoded path and the cleaned
// decoded path, lower-cased, so no spelling slips past authentication.
func underAPI(p string) bool {
	p = strings.ToLower(p)
	return p == "/api" || strings.HasPrefix(p, "/api/")
}

// malformed reports whether a raw request path has any spelling that routers, proxies or
// file systems may read differently: empty or repeated segments, dot segments (plain or
// percent-encoded), encoded slashes and backslashes, path parameters, NUL, or a trailing
// slash. Such paths are refused before routing.
func malformed(raw, decoded string) bool {
	if raw == "" || raw[0] != '/' {
		return true
	}
	if path.Clean(raw) != raw {
		return true
	}
	lower := strings.ToLower(raw)
	for _, bad := range []string{"//", "/./", "/../", ";", "\\", "\x00", "%2e", "%2f", "%5c", "%00", "%3b"} {
		if strings.Contains(lower, bad) {
			return true
		}
	}
	return strings.ContainsAny(decoded, "\\;\x00")
}

// bearer returns the token of an Authorization: Bearer header, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func remoteHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// statusWriter records the status for the access log. Unwrap keeps http.ResponseController
// (read deadlines, flushing) working through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headWriter answers a HEAD request that is served as a GET: it discards the body and, when
// the handler finished without flushing, sends the Content-Length the GET's body would have
// had. A handler that flushes (a stream) sends its headers at the first flush, as a GET would.
type headWriter struct {
	http.ResponseWriter
	status int   // asked for, not yet sent
	sent   bool  // headers sent
	n      int64 // body bytes discarded
}

func (w *headWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.status == 0 {
		w.status = code
	}
}

func (w *headWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += int64(len(b))
	return len(b), nil
}

func (w *headWriter) Flush() {
	w.send()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// send sends the headers once; before they are sent, a body's length is known.
func (w *headWriter) send() {
	if w.sent {
		return
	}
	w.sent = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.ResponseWriter.WriteHeader(w.status)
}

// finish sends the headers of a handler that returned, with the length of its body.
func (w *headWriter) finish() {
	if w.sent {
		return
	}
	h := w.Header()
	if w.n > 0 && h.Get("Content-Length") == "" && h.Get("Transfer-Encoding") == "" {
		h.Set("Content-Length", strconv.FormatInt(w.n, 10))
	}
	w.send()
}

// guard is the pre-router middleware, fail-closed in this order: (1) every path under /api/
// but the exact public ones needs a valid token, whatever it looks like, even unknown or
// malformed; (2) a malformed raw path is refused with 400; (3) the router and then the
// operation's permission check (authorize) run. It also sets the request's logger, remote
// address and principal, logs the request and turns a panic into a 500.
func (s *server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		raw := r.URL.EscapedPath()
		remote := remoteHost(r.RemoteAddr)
		log := s.log.With("method", r.Method, "path", raw, "remote", remote)
		ctx := withLogger(WithRemote(r.Context(), remote), log)
		var who string
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // compared as the sentinel net/http documents
					panic(v)
				}
				log.ErrorContext(ctx, "handler panicked", "panic", fmt.Sprint(v))
				if sw.status == 0 {
					writeError(sw, apiError(http.StatusInternalServerError, genericMessage(http.StatusInternalServerError)))
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK // nothing written: net/http answers 200
			}
			// One line per request is for debugging: at the default level a server's log is its
			// start, its runs and its problems, not its traffic. Server errors stay visible.
			level := slog.LevelDebug
			if status >= http.StatusInternalServerError {
				level = slog.LevelWarn
			}
			log.Log(ctx, level, "request", "status", status, "user", who, "ms", time.Since(began).Milliseconds())
		}()
		w = sw

		public := publicPaths[raw] || publicHook(r.Method, raw)
		if !public && (underAPI(raw) || underAPI(r.URL.Path) || underAPI(path.Clean("/"+r.URL.Path))) {
			tok := bearer(r)
			if tok == "" {
				writeError(w, apiError(http.StatusUnauthorized, "authentication required: send Authorization: Bearer <token>"))
				return
			}
			p, err := s.d.Auth.Verify(ctx, tok)
			switch {
			case errors.Is(err, auth.ErrInvalidToken):
				writeError(w, apiError(http.StatusUnauthorized, "invalid, expired or revoked token"))
				return
			case err != nil:
				log.ErrorContext(ctx, "token verification failed", "err", err)
				writeError(w, apiError(http.StatusServiceUnavailable, genericMessage(http.StatusServiceUnavailable)))
				return
			}
			who = p.Name
			ctx = auth.WithPrincipal(ctx, p)
		}
		if !public && malformed(raw, r.URL.Path) {
			writeError(w, apiError(http.StatusBadRequest, "malformed request path"))
			return
		}
		if r.Method == http.MethodHead {
			// HEAD is GET without the body (RFC 9110 9.3.2): the same route, the same
			// permission check, the same status and headers.
			hw := &headWriter{ResponseWriter: w}
			r = r.WithContext(ctx)
			r.Method = http.MethodGet
			next.ServeHTTP(hw, r)
			hw.finish()
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Metadata keys of an operation.
const metaPermission = "permission"

// permPublic marks the operations that need no token. It is not a permission of the table:
// only the register helper's callers name it, and only for paths in publicPaths.
const permPublic auth.Permission = "public"

// authorize is the huma middleware that enforces each operation's permission from the
// principal the guard put in the context. An operation without a permission is refused.
func (s *server) authorize(hctx huma.Context, next func(huma.Context)) {
	perm, _ := hctx.Operation().Metadata[metaPermission].(auth.Permission)
	if perm == permPublic {
		next(hctx)
		return
	}
	p := auth.FromContext(hctx.Context())
	if p == nil {
		_ = huma.WriteErr(s.api, hctx, http.StatusUnauthorized, "authentication required: send Authorization: Bearer <token>")
		return
	}
	if perm == "" || !p.Can(perm) {
		_ = huma.WriteErr(s.api, hctx, http.StatusForbidden, fmt.Sprintf("permission denied: this needs %s", permOrNone(perm)))
		return
	}
	next(hctx)
}

func permOrNone(p auth.Permission) string {
	if p == "" {
		return "a permission the operation does not declare"
	}
	return string(p)
}

// redactHandler scrubs every secret value the secret service has handed out from log
// records: messages, string attributes and errors. It is the last line of defence; nothing
// should log a secret in the first place.
type redactHandler struct {
	h   slog.Handler
	red *secret.Redactor
}

func (h *redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h *redactHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.red.Redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.red.Redact(v.String()))
	case slog.KindGroup:
		as := v.Group()
		out := make([]any, len(as))
		for i, g := range as {
			out[i] = h.attr(g)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.red.Redact(err.Error()))
		}
		return slog.String(a.Key, h.red.Redact(fmt.Sprint(v.Any())))
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
}

func (h *redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = h.attr(a)
	}
	return &redactHandler{h: h.h.WithAttrs(red), red: h.red}
}

func (h *redactHandler) WithGroup(name string) slog.Handler {
	return &redactHandler{h: h.h.WithGroup(name), red: h.red}
}
