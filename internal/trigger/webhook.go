package trigger

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store"
)

// TypeWebhook is the trigger fired by POST /api/v1/hooks/{integration} (the API serves it;
// the Scheduler does not).
const TypeWebhook = "webhook"

// ActorWebhook is the actor of runs a webhook requests.
const ActorWebhook = "trigger:webhook"

// Webhook authentication and body handling.
const (
	// HookAuthHMAC: X-DataHub-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">
	// with X-DataHub-Timestamp (Unix seconds, at most 5 minutes away), as notify signs.
	HookAuthHMAC = "hmac"
	// HookAuthToken: the secret itself in Authorization: Bearer or X-DataHub-Token.
	HookAuthToken = "token"
	// HookBodyIgnore: the body only fires the run.
	HookBodyIgnore = "ignore"
	// HookBodyData: the body is the run's data (CSV, JSON or NDJSON), read instead of the
	// source endpoint's.
	HookBodyData = "data"
)

// Limits of the webhook trigger's maxBody.
const (
	DefaultHookMaxBody int64 = 10 << 20
	MaxHookMaxBody     int64 = 1 << 30
)

// HookDedupeWindow is how long an Idempotency-Key (or a signature) is remembered.
const HookDedupeWindow = 24 * time.Hour

// WebhookSettings are the settings of a webhook trigger:
//
//	trigger:
//	  type: webhook
//	  env: DEV
//	  secret: secret:orders-hook   # required: a reference (secret:, env:, file:), never a value
//	  auth: hmac                   # default; or token
//	  body: ignore                 # default; or data (the body is the run's source)
//	  maxBody: 10MiB               # bytes, or with KB/KiB/MB/MiB/GB/GiB; default 10 MiB
type WebhookSettings struct {
	Env     string
	Secret  string
	Auth    string
	Body    string
	MaxBody int64
}

// ParseWebhook reads a webhook trigger.
func ParseWebhook(t catalog.Trigger) (WebhookSettings, error) {
	s := &settings{m: t.Settings}
	out := WebhookSettings{Env: s.env(), Secret: s.str("secret", true), Auth: s.str("auth", false), Body: s.str("body", false)}
	if out.Secret != "" && !secret.IsRef(out.Secret) {
		// The value is not echoed: it may be the secret itself.
		s.errs = append(s.errs, "secret: want a reference (secret:NAME, env:NAME or file:PATH), not a value")
		out.Secret = ""
	}
	switch out.Auth {
	case "":
		out.Auth = HookAuthHMAC
	case HookAuthHMAC, HookAuthToken:
	default:
		s.errs = append(s.errs, fmt.Sprintf("auth: %q is not one of hmac, token", out.Auth))
	}
	switch out.Body {
	case "":
		out.Body = HookBodyIgnore
	case HookBodyIgnore, HookBodyData:
	default:
		s.errs = append(s.errs, fmt.Sprintf("body: %q is not one of ignore, data", out.Body))
	}
	out.MaxBody = s.size("maxBody", DefaultHookMaxBody, 1, MaxHookMaxBody)
	return out, s.done(TypeWebhook, "env", "secret", "auth", "body", "maxBody")
}

// size reads a byte count: a number, or a string such as 512KiB or 10MB.
func (s *settings) size(key string, def, minimum, maximum int64) int64 {
	v, ok := s.m[key]
	if !ok || v == nil {
		return def
	}
	var n int64
	var err error
	switch x := v.(type) {
	case string:
		n, err = parseSize(x)
	case int:
		n = int64(x)
	case int64:
		n = x
	case float64:
		if x != math.Trunc(x) || x > math.MaxInt64 {
			err = errors.New("want a whole number of bytes")
		}
		n = int64(x)
	default:
		n, err = parseSize(fmt.Sprint(x)) // json.Number
	}
	if err == nil && (n < minimum || n > maximum) {
		err = fmt.Errorf("want %d to %d bytes", minimum, maximum)
	}
	if err != nil {
		s.errs = append(s.errs, fmt.Sprintf("%s: %v", key, err))
		return def
	}
	return n
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000}, {"b", 1}}

func parseSize(v string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(v))
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q: want a size such as 1048576, 512KiB or 10MiB", v)
	}
	return n * mult, nil
}

func init() {
	store.Register(store.Migration{Component: "trigger", Version: 2, SQL: `CREATE TABLE trigger_hooks (
	integration TEXT NOT NULL,
	hook_key TEXT NOT NULL,
	run_id TEXT NOT NULL DEFAULT '',
	at TEXT NOT NULL,
	PRIMARY KEY (integration, hook_key))`})
}

// Hooks remembers the idempotency keys of webhook deliveries, so that a delivery sent twice
// (a retry, a replayed signature) requests one run.
type Hooks struct {
	db  *store.DB
	now func() time.Time
}

// NewHooks returns the webhook delivery log kept in db.
func NewHooks(db *store.DB) *Hooks { return &Hooks{db: db, now: time.Now} }

// HookKey is the stored form of a delivery's key: a hash, so that neither long keys nor
// signatures are kept.
func HookKey(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// Claim records key for integration. It returns claimed true when this caller is the first
// within HookDedupeWindow (it must request the run, then SetRun or Release); otherwise runID
// is the run the earlier delivery requested ("" while that one is still being requested).
func (h *Hooks) Claim(ctx context.Context, integration, key string) (claimed bool, runID string, err error) {
	now := h.now()
	err = h.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM trigger_hooks WHERE integration = ? AND at < ?`,
			integration, store.Time(now.Add(-HookDedupeWindow))); err != nil {
			return err
		}
		res, err := tx.Exec(ctx, `INSERT INTO trigger_hooks (integration, hook_key, at) VALUES (?, ?, ?)
	ON CONFLICT (integration, hook_key) DO NOTHING`, integration, key, store.Time(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 1 {
			claimed = true
			return nil
		}
		return tx.QueryRow(ctx, `SELECT run_id FROM trigger_hooks WHERE integration = ? AND hook_key = ?`, integration, key).Scan(&runID)
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = errors.New("the delivery was released meanwhile; retry")
	}
	if err != nil {
		return false, "", fmt.Errorf("record webhook delivery of %s: %w", integration, err)
	}
	return claimed, runID, nil
}

// SetRun notes the run a claimed delivery requested.
func (h *Hooks) SetRun(ctx context.Context, integration, key, runID string) error {
	if _, err := h.db.Exec(ctx, `UPDATE trigger_hooks SET run_id = ? WHERE integration = ? AND hook_key = ?`, runID, integration, key); err != nil {
		return fmt.Errorf("record webhook run of %s: %w", integration, err)
	}
	return nil
}

// Release forgets a claimed delivery whose run could not be requested, so that a retry can.
func (h *Hooks) Release(ctx context.Context, integration, key string) error {
	if _, err := h.db.Exec(ctx, `DELETE FROM trigger_hooks WHERE integration = ? AND hook_key = ? AND run_id = ''`, integration, key); err != nil {
		return fmt.Errorf("release webhook delivery of %s: %w", integration, err)
	}
	return nil
}

// Check validates a trigger's settings by its type (manual and unknown types have none
// checked here), for a catalog apply-time hook.
func Check(t catalog.Trigger) error {
	var err error
	switch t.Type {
	case TypeSchedule:
		_, err = ParseSchedule(t)
	case TypeFile:
		_, err = ParseFile(t)
	case TypeWebhook:
		_, err = ParseWebhook(t)
	case TypeEvent:
		_, err = ParseEvent(t)
	}
	return err
}
