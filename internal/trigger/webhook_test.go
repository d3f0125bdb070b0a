package trigger

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

func TestParseWebhook(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]any
		want     WebhookSettings
		errs     []string
	}{
		{name: "defaults", settings: map[string]any{"env": "dev", "secret": "secret:hook"},
			want: WebhookSettings{Env: "DEV", Secret: "secret:hook", Auth: HookAuthHMAC, Body: HookBodyIgnore, MaxBody: DefaultHookMaxBody}},
		{name: "everything", settings: map[string]any{"env": "PROD", "secret": "env:HOOK", "auth": "token", "body": "data", "maxBody": "512KiB"},
			want: WebhookSettings{Env: "PROD", Secret: "env:HOOK", Auth: HookAuthToken, Body: HookBodyData, MaxBody: 512 << 10}},
		{name: "maxBody as a JSON number", settings: map[string]any{"env": "DEV", "secret": "file:/run/hook", "maxBody": json.Number("2048")},
			want: WebhookSettings{Env: "DEV", Secret: "file:/run/hook", Auth: HookAuthHMAC, Body: HookBodyIgnore, MaxBody: 2048}},
		{name: "maxBody in MB", settings: map[string]any{"env": "DEV", "secret": "secret:h", "maxBody": "2MB"},
			want: WebhookSettings{Env: "DEV", Secret: "secret:h", Auth: HookAuthHMAC, Body: HookBodyIgnore, MaxBody: 2_000_000}},
		{name: "missing", settings: nil, errs: []string{"env is required", "secret is required"}},
		{name: "a literal secret is refused and not echoed", settings: map[string]any{"env": "DEV", "secret": "hunter2"},
			errs: []string{"secret: want a reference"}},
		{name: "bad values", settings: map[string]any{"env": "MARS", "secret": "secret:h", "auth": "basic", "body": "keep", "maxBody": "lots"},
			errs: []string{"env:", `auth: "basic"`, `body: "keep"`, "maxBody:"}},
		{name: "maxBody bounds", settings: map[string]any{"env": "DEV", "secret": "secret:h", "maxBody": "2GiB"}, errs: []string{"maxBody: want 1 to"}},
		{name: "unknown key", settings: map[string]any{"env": "DEV", "secret": "secret:h", "cron": "@hourly"}, errs: []string{`unknown setting "cron"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWebhook(catalog.Trigger{Type: TypeWebhook, Settings: tt.settings})
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; got %+v", got)
			}
			for _, e := range tt.errs {
				if !strings.Contains(err.Error(), e) {
					t.Errorf("error %q does not say %q", err, e)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error echoes the secret: %v", err)
			}
		})
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"10MiB", "1", "512 KiB", "1gb", "-1", "9223372036854775807GiB", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("parseSize(%q) = %d", s, n)
		}
	})
}

func TestHooksClaim(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		h := NewHooks(db)
		h.now = func() time.Time { return now }
		key := HookKey("key:order-1")

		claimed, run, err := h.Claim(ctx, "orders", key)
		if err != nil || !claimed || run != "" {
			t.Fatalf("first claim: %v %q %v", claimed, run, err)
		}
		// Claimed but no run yet: a concurrent repeat waits.
		if claimed, run, err = h.Claim(ctx, "orders", key); err != nil || claimed || run != "" {
			t.Fatalf("claim while in flight: %v %q %v", claimed, run, err)
		}
		if err := h.SetRun(ctx, "orders", key, "run-1"); err != nil {
			t.Fatal(err)
		}
		if claimed, run, err = h.Claim(ctx, "orders", key); err != nil || claimed || run != "run-1" {
			t.Fatalf("repeat: %v %q %v", claimed, run, err)
		}
		// Keys are per integration.
		if claimed, _, err = h.Claim(ctx, "invoices", key); err != nil || !claimed {
			t.Fatalf("other integration: %v %v", claimed, err)
		}
		// Release only forgets deliveries without a run.
		if err := h.Release(ctx, "orders", key); err != nil {
			t.Fatal(err)
		}
		if _, run, _ = h.Claim(ctx, "orders", key); run != "run-1" {
			t.Fatalf("released a delivery with a run: %q", run)
		}
		if err := h.Release(ctx, "invoices", key); err != nil {
			t.Fatal(err)
		}
		if claimed, _, _ = h.Claim(ctx, "invoices", key); !claimed {
			t.Fatal("released delivery cannot be claimed again")
		}
		// After the window the key is new again.
		now = now.Add(HookDedupeWindow + time.Second)
		if claimed, run, err = h.Claim(ctx, "orders", key); err != nil || !claimed || run != "" {
			t.Fatalf("after 24 h: %v %q %v", claimed, run, err)
		}
	})
}
