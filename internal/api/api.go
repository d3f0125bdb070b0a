// Package api is the hub's REST API under /api/v1, described by an OpenAPI 3.1 document that
// huma generates from the handlers' types.
//
// Security is layered so that no route can be forgotten: the guard middleware runs before
// the router and refuses every path under /api/ without a valid token (except the exact
// public paths) and every malformed path; every operation is registered through one helper
// that requires its permission, and a huma middleware checks that permission before the
// request body is read. Checks that depend on the object (a run's environment, a token's
// owner) are made in the handlers.
package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"
	"github.com/go-chi/chi/v5"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/auth"
	"github.com/datahub-oss/datahub/internal/bus"
	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/notify"
	"github.com/datahub-oss/datahub/internal/policy"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/trigger"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// Deps are the services the API serves.
type Deps struct {
	Auth *auth.Service
	// OIDC is the OpenID Connect login, nil when not configured.
	OIDC    *auth.OIDC
	Catalog *catalog.Service
	// Runs queues and cancels runs; its Audit field must be set for run requests and
	// cancellations to be audited (the API passes it the actor and remote address).
	Runs    *runs.Service
	Log     *txlog.Log
	Secrets *secret.Service
	Audit   *audit.Log
	// Notify lists the notification log; nil answers 503.
	Notify *notify.Service
	// Ready reports whether the store and the bus answer (/readyz); nil means always ready.
	Ready func(ctx context.Context) error
	// Logger receives the access log and errors; every secret value the secret service knows
	// is scrubbed from it.
	Logger *slog.Logger
	// TokenTTL is the lifetime of API tokens created without expires_in (zero: the auth
	// service's default).
	TokenTTL time.Duration
	// DataDir is the data folder: run rejects are only served from its rejects folder.
	DataDir string
	// AuditAnchorFile is the hub's audit anchor file: verification checks the chain against
	// its latest anchor when the request gives none ("" = no such check).
	AuditAnchorFile string
	// Bus serves topics and dead-letter queues (the service bus); nil answers them with 503.
	Bus *bus.Bus
	// Hooks dedupes webhook deliveries (Idempotency-Key); nil answers webhooks with 503.
	Hooks *trigger.Hooks
	// Now is the clock of the login back-off (default time.Now); tests set it.
	Now func() time.Time
	// Policy checks every applied document (endpoint confinement, secret references, run
	// rights of triggers) and every deletion; nil checks nothing (tests of other parts).
	Policy *policy.Policy
}

// server is the API's state.
type server struct {
	d   Deps
	log *slog.Logger
	api huma.API
	// schemas are the compiled schemas of topics, checked on publish.
	schemas schemaCache
	// logins backs off failed logins.
	logins *loginLimits
}

// BasePath is the API's path prefix.
const BasePath = "/api/v1"

// bearerScheme is the OpenAPI security scheme of the token.
const bearerScheme = "bearer"

// New returns the API's handler, health endpoints included.
func New(d Deps) http.Handler {
	_, h := build(d)
	return h
}

// build returns the server (for tests that walk its operations) and its handler.
func build(d Deps) (*server, http.Handler) {
	installErrorModel()
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if d.Secrets != nil {
		logger = slog.New(&redactHandler{h: logger.Handler(), red: d.Secrets.Redactor()})
	}
	s := &server{d: d, log: logger, logins: newLoginLimits(d.Now)}

	router := chi.NewMux()
	router.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, apiError(http.StatusNotFound, "no such endpoint"))
	})
	router.MethodNotAllowed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, apiError(http.StatusMethodNotAllowed, "method not allowed"))
	})

	cfg := huma.DefaultConfig("Data Hub API", "v1")
	// The document is served below (one exact public path); no docs UI, no schema endpoints,
	// and no $schema links added to response bodies (the contract's shapes are exact).
	cfg.OpenAPIPath, cfg.DocsPath, cfg.SchemasPath = "", "", ""
	cfg.CreateHooks = nil
	cfg.Info.Description = "The Data Hub REST API. Every operation but the public ones needs `Authorization: Bearer <token>`; " +
		"each names the permission it needs in x-permission."
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		bearerScheme: {Type: "http", Scheme: "bearer", Description: "An API or session token (dht_...)."},
	}
	s.api = humachi.New(router, cfg)
	s.api.UseMiddleware(s.authorize)

	s.healthRoutes()
	s.identityRoutes()
	s.resourceRoutes()
	s.runRoutes()
	s.secretRoutes()
	s.auditRoutes()
	s.notificationRoutes()
	s.topicRoutes()
	s.pullRoutes()
	s.hookRoutes()
	s.connectorRoutes()

	doc, err := json.Marshal(s.api.OpenAPI())
	if err != nil {
		panic(fmt.Sprintf("api: render the OpenAPI document: %v", err))
	}
	router.Get(BasePath+"/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
	return s, s.guard(router)
}

// register is the only way operations are added: perm is required, and is either a
// permission of auth's table or permPublic for a path in publicPaths. It stores the
// permission in the operation's metadata (authorize enforces it) and in the document
// (x-permission), declares the security requirement, and maps the handler's errors onto the
// contract.
func register[I, O any](s *server, perm auth.Permission, op huma.Operation, h func(context.Context, *I) (*O, error)) {
	switch {
	case perm == permPublic:
		if !publicPaths[op.Path] && !publicTemplate(op.Method, op.Path) {
			panic(fmt.Sprintf("api: %s %s is declared public but is not in publicPaths", op.Method, op.Path))
		}
		op.Security = []map[string][]string{}
	case slices.Contains(auth.Permissions(), perm):
		op.Security = []map[string][]string{{bearerScheme: {}}}
		op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden)
	default:
		panic(fmt.Sprintf("api: %s %s: unknown permission %q", op.Method, op.Path, perm))
	}
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[metaPermission] = perm
	if op.Extensions == nil {
		op.Extensions = map[string]any{}
	}
	op.Extensions["x-permission"] = string(perm)
	huma.Register(s.api, op, func(ctx context.Context, in *I) (*O, error) {
		out, err := h(ctx, in)
		if err != nil {
			return nil, s.toError(ctx, err)
		}
		return out, nil
	})
}

// principal is the caller of a protected operation (authorize guarantees one).
func principal(ctx context.Context) *auth.Principal {
	if p := auth.FromContext(ctx); p != nil {
		return p
	}
	return &auth.Principal{}
}

// appendAudit records a write. A write whose audit entry cannot be written is reported as
// failed: the audit log must not silently miss changes.
func (s *server) appendAudit(ctx context.Context, e audit.Entry) error {
	if s.d.Audit == nil {
		return nil
	}
	e.Remote = RemoteFrom(ctx)
	if _, err := s.d.Audit.Append(ctx, e); err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// detailsJSON renders audit details; the values are names, numbers and flags only.
func detailsJSON(m map[string]any) string {
	b, err := json.Marshal(m)
	if err != nil {
		return "{}"
	}
	return string(b)
}

type statusBody struct {
	Status string `json:"status" example:"ok"`
}

type statusOutput struct {
	Body statusBody
}

func (s *server) healthRoutes() {
	register(s, permPublic, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz", Tags: []string{"health"},
		Summary: "Liveness: the process serves",
	}, func(context.Context, *struct{}) (*statusOutput, error) {
		return &statusOutput{Body: statusBody{Status: "ok"}}, nil
	})
	register(s, permPublic, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Tags: []string{"health"},
		Summary: "Readiness: the store and the bus answer", Errors: []int{http.StatusServiceUnavailable},
	}, func(ctx context.Context, _ *struct{}) (*statusOutput, error) {
		if s.d.Ready != nil {
			if err := s.d.Ready(ctx); err != nil {
				loggerFrom(ctx).WarnContext(ctx, "not ready", "err", err)
				return nil, apiError(http.StatusServiceUnavailable, "not ready: the store or the bus does not answer")
			}
		}
		return &statusOutput{Body: statusBody{Status: "ok"}}, nil
	})
}
