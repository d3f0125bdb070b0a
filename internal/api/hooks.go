package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/notify"
	"github.com/datahub-oss/datahub/internal/runs"
	"github.com/datahub-oss/datahub/internal/runstatus"
	"github.com/datahub-oss/datahub/internal/trigger"
	"github.com/datahub-oss/datahub/internal/txlog"
)

// hookPath is the webhook trigger's operation. It is public (no bearer token): the handler
// authenticates every request with the integration's own secret.
const hookPath = BasePath + "/hooks/{integration}"

// hookPrefix is hookPath without its parameter.
const hookPrefix = BasePath + "/hooks/"

// hookNamePattern is catalog's resource name syntax: only such a segment makes a hook path
// public, so no dot, slash, percent sign or other spelling reaches the router untokened.
var hookNamePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// publicHook reports whether a raw request path is a webhook delivery: POST to exactly
// /api/v1/hooks/<name>. Every other method and spelling needs a token like any other path.
func publicHook(method, raw string) bool {
	if method != http.MethodPost {
		return false
	}
	name, ok := strings.CutPrefix(raw, hookPrefix)
	return ok && hookNamePattern.MatchString(name)
}

// publicTemplate reports whether an operation's path template is public by shape rather
// than by exact path (register's check).
func publicTemplate(method, tmpl string) bool {
	return method == http.MethodPost && tmpl == hookPath
}

// headerHookToken is the header of an auth: token webhook's secret (besides Authorization).
const headerHookToken = "X-DataHub-Token" //nolint:gosec // a header name, not a credential

type hookInput struct {
	Integration    string `path:"integration" doc:"The integration to run (its trigger must be of type webhook)"`
	Signature      string `header:"X-DataHub-Signature" doc:"auth hmac: sha256=<hex HMAC-SHA256, keyed with the trigger's secret, of \"<X-DataHub-Timestamp>.<body>\">"`
	Timestamp      string `header:"X-DataHub-Timestamp" doc:"auth hmac: Unix time in seconds when the request was signed; at most 5 minutes away from the hub's clock"`
	Token          string `header:"X-DataHub-Token" doc:"auth token: the trigger's secret (or send Authorization: Bearer <secret>)"`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Deliveries with the same key within 24 hours request one run (with auth hmac, the timestamp and signature serve as the key when it is absent)"`

	// Read in Resolve: huma leaves the body alone, so the handler reads it only as far as
	// the trigger's maxBody allows, and after authenticating when it can.
	body          io.Reader
	authorization string
	contentType   string
	contentLength int64
}

// Resolve captures what the handler reads itself (huma calls it before the handler).
func (in *hookInput) Resolve(hctx huma.Context) []error {
	in.body = hctx.BodyReader()
	in.authorization = hctx.Header("Authorization")
	in.contentType = hctx.Header("Content-Type")
	in.contentLength = -1
	if n, err := strconv.ParseInt(hctx.Header("Content-Length"), 10, 64); err == nil {
		in.contentLength = n
	}
	return nil
}

type hookBody struct {
	RunID  string           `json:"run_id" doc:"The run the delivery requested (the earlier one for a repeated delivery)"`
	Status runstatus.Status `json:"status" doc:"The run's status"`
}

type hookOutput struct {
	Status int
	Body   hookBody
}

func (s *server) hookRoutes() {
	register(s, permPublic, huma.Operation{
		OperationID: "webhook", Method: http.MethodPost, Path: hookPath, Tags: []string{"runs"},
		Summary: "Start a run of an integration triggered by a webhook",
		Description: "Needs no bearer token: the request is authenticated with the integration's webhook secret " +
			"(trigger settings `auth`). `hmac` (default): `X-DataHub-Signature: sha256=<hex HMAC-SHA256 of \"<timestamp>.<body>\">` " +
			"with `X-DataHub-Timestamp` (Unix seconds, at most 5 minutes old), the scheme the hub's outgoing webhooks use. " +
			"`token`: the secret in `Authorization: Bearer <secret>` or `X-DataHub-Token`. A failed check, an unknown " +
			"integration and an integration without a webhook trigger all answer the same 401. With `body: data` the body " +
			"(text/csv, application/json or application/x-ndjson, at most the trigger's maxBody) is the run's source.",
		DefaultStatus: http.StatusAccepted,
		RequestBody: &huma.RequestBody{Description: "Ignored, or the run's data when the trigger says body: data.",
			Content: map[string]*huma.MediaType{"text/csv": {}, "application/json": {}, "application/x-ndjson": {}}},
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict, http.StatusRequestEntityTooLarge,
			http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, s.hook)
}

// errHookDenied is every authentication failure, the same whether the integration exists,
// has a webhook trigger or not, so that the answer tells nothing about the catalog.
func errHookDenied() *Error {
	return apiError(http.StatusUnauthorized, "authentication required: send the webhook's signature or token")
}

func (s *server) hook(ctx context.Context, in *hookInput) (*hookOutput, error) {
	log := loggerFrom(ctx).With("integration", in.Integration)
	set, cfgErr, known := s.hookSettings(ctx, in.Integration)
	if !known {
		// Read as much as a default webhook would, so the answer matches one's.
		if _, err := readHookBody(in, trigger.DefaultHookMaxBody); err != nil {
			return nil, err
		}
		return nil, errHookDenied()
	}
	if set.Secret == "" || (set.Auth != trigger.HookAuthHMAC && set.Auth != trigger.HookAuthToken) {
		log.WarnContext(ctx, "webhook refused: the integration's webhook trigger is not valid", "err", cfgErr)
		return nil, errHookDenied()
	}
	if s.d.Secrets == nil {
		log.ErrorContext(ctx, "webhook refused: no secret service")
		return nil, errHookDenied()
	}
	key, err := s.d.Secrets.Resolve(ctx, set.Secret)
	if err != nil || key == "" {
		log.WarnContext(ctx, "webhook refused: its secret cannot be resolved or is empty", "err", err)
		return nil, errHookDenied()
	}
	if set.Auth == trigger.HookAuthToken && !tokenMatches(key, hookToken(in)) {
		return nil, errHookDenied()
	}
	body, err := readHookBody(in, set.MaxBody)
	if err != nil {
		return nil, err
	}
	if set.Auth == trigger.HookAuthHMAC {
		if err := notify.VerifySignature(key, in.Timestamp, body, in.Signature); err != nil {
			log.InfoContext(ctx, "webhook refused", "err", err)
			return nil, errHookDenied()
		}
	}
	// Authenticated: the caller may now learn what is wrong with the trigger.
	if cfgErr != nil {
		return nil, apiError(http.StatusBadRequest, "the integration's webhook trigger is not valid: "+cfgErr.Error())
	}
	ext := ""
	if set.Body == trigger.HookBodyData {
		if ext = hookExt(in.contentType); ext == "" {
			return nil, apiError(http.StatusUnsupportedMediaType, "body: data takes Content-Type text/csv, application/json or application/x-ndjson")
		}
		if s.d.DataDir == "" {
			return nil, apiError(http.StatusServiceUnavailable, "the hub has no data folder to keep webhook bodies in")
		}
	}
	if s.d.Hooks == nil {
		log.ErrorContext(ctx, "webhook refused: no delivery log")
		return nil, apiError(http.StatusServiceUnavailable, genericMessage(http.StatusServiceUnavailable))
	}

	idem := strings.TrimSpace(in.IdempotencyKey)
	if idem == "" && set.Auth == trigger.HookAuthHMAC {
		idem = "sig:" + in.Timestamp + "." + in.Signature
	} else if idem != "" {
		idem = "key:" + idem
	}
	var hk string
	if idem != "" {
		hk = trigger.HookKey(idem)
		claimed, runID, err := s.d.Hooks.Claim(ctx, in.Integration, hk)
		if err != nil {
			return nil, err
		}
		if !claimed {
			if runID == "" {
				return nil, apiError(http.StatusConflict, "a delivery with this key is being processed; retry shortly")
			}
			r, err := s.d.Log.Get(ctx, runID)
			if err != nil {
				return nil, err
			}
			return &hookOutput{Status: http.StatusAccepted, Body: hookBody{RunID: r.ID, Status: r.Status}}, nil
		}
	}
	run, err := s.requestHookRun(ctx, in.Integration, set, ext, body)
	if err != nil {
		if hk != "" {
			if rerr := s.d.Hooks.Release(context.WithoutCancel(ctx), in.Integration, hk); rerr != nil {
				log.ErrorContext(ctx, "release webhook delivery", "err", rerr)
			}
		}
		return nil, err
	}
	if hk != "" {
		if err := s.d.Hooks.SetRun(ctx, in.Integration, hk, run.ID); err != nil {
			// The run is queued: report it; only a repeat of this delivery may run twice.
			log.ErrorContext(ctx, "record webhook run", "run_id", run.ID, "err", err)
		}
	}
	return &hookOutput{Status: http.StatusAccepted, Body: hookBody{RunID: run.ID, Status: run.Status}}, nil
}

// hookSettings reads an integration's webhook trigger: known is false when there is no such
// integration or its trigger is not a webhook; cfgErr is a problem with its settings.
func (s *server) hookSettings(ctx context.Context, name string) (set trigger.WebhookSettings, cfgErr error, known bool) {
	e, err := s.d.Catalog.Get(ctx, catalog.KindIntegration, name)
	if err != nil {
		if !errors.Is(err, catalog.ErrNotFound) {
			loggerFrom(ctx).ErrorContext(ctx, "webhook: read the integration", "integration", name, "err", err)
		}
		return set, nil, false
	}
	spec := e.Resource.Integration()
	if spec == nil || spec.Trigger.Type != trigger.TypeWebhook {
		return set, nil, false
	}
	set, cfgErr = trigger.ParseWebhook(spec.Trigger)
	return set, cfgErr, true
}

// requestHookRun stores the body when it is the data and requests the run.
func (s *server) requestHookRun(ctx context.Context, name string, set trigger.WebhookSettings, ext string, body []byte) (txlog.Run, error) {
	delivery := txlog.NewID()
	params := map[string]string{"delivery": delivery}
	var file string
	if set.Body == trigger.HookBodyData {
		dir := filepath.Join(s.d.DataDir, "hooks", name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return txlog.Run{}, fmt.Errorf("store webhook body: %w", err)
		}
		abs, err := filepath.Abs(filepath.Join(dir, delivery+"."+ext))
		if err != nil {
			return txlog.Run{}, fmt.Errorf("store webhook body: %w", err)
		}
		if err := writeNew(abs, body); err != nil {
			return txlog.Run{}, fmt.Errorf("store webhook body: %w", err)
		}
		file, params[runs.ParamFile] = abs, abs
	}
	run, err := s.d.Runs.Request(ctx, runs.Request{Integration: name, Env: set.Env, Actor: trigger.ActorWebhook, Trigger: runs.TriggerWebhook, Remote: RemoteFrom(ctx), Params: params})
	if err != nil && file != "" {
		_ = os.Remove(file)
	}
	return run, err
}

// writeNew writes a file that must not exist yet, readable by the hub only.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return err
	}
	return f.Close()
}

// readHookBody reads the whole body, refusing one larger than limit with 413.
func readHookBody(in *hookInput, limit int64) ([]byte, error) {
	tooLarge := apiError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than this webhook takes (%d bytes)", limit))
	if in.contentLength > limit {
		return nil, tooLarge
	}
	if in.body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(in.body, limit+1))
	if err != nil {
		return nil, apiError(http.StatusBadRequest, "could not read the request body")
	}
	if int64(len(b)) > limit {
		return nil, tooLarge
	}
	return b, nil
}

// hookToken is the token of an auth: token request.
func hookToken(in *hookInput) string {
	if t := strings.TrimSpace(in.Token); t != "" {
		return t
	}
	scheme, tok, ok := strings.Cut(in.authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// tokenMatches compares in constant time (hashes first, so lengths tell nothing either).
func tokenMatches(want, got string) bool {
	if got == "" {
		return false
	}
	a, b := sha256.Sum256([]byte(want)), sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// hookExt is the stored body's file extension for a Content-Type, "" when unsupported.
func hookExt(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	switch mt {
	case "text/csv", "application/csv":
		return "csv"
	case "application/json":
		return "json"
	case "application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines":
		return "ndjson"
	}
	return ""
}
