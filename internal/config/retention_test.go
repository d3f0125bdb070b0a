package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseAge(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "36h", want: 36 * time.Hour},
		{in: " 90D ", want: 90 * 24 * time.Hour},
		{in: "0", want: 0},
		{in: "off", want: 0},
		{in: "OFF", want: 0},
		{in: "7", bad: true},
		{in: "-1d", bad: true},
		{in: "-3h", bad: true},
		{in: "d", bad: true},
		{in: "36500d2000000h", bad: true}, // overflows
		{in: "soon", bad: true},
		{in: "", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAge(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("ParseAge(%q) = %s, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got.Duration() != tc.want {
				t.Fatalf("ParseAge(%q) = %s, %v; want %s", tc.in, got, err, tc.want)
			}
			back, err := ParseAge(got.String())
			if err != nil || back != got {
				t.Fatalf("%s does not read back: %s, %v", got, back, err)
			}
		})
	}
}

func TestRetentionLayers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "datahub.yaml")
	yml := "retention:\n  hook_bodies: 2d\n  trigger_history: 0\n  notifications: off\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []string{"DATAHUB_RETENTION_REJECTS=12h", "DATAHUB_RETENTION_NOTIFICATIONS=1d6h"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Retention{HookBodies: Age(48 * time.Hour), TriggerHistory: 0, Notifications: Age(30 * time.Hour), Rejects: Age(12 * time.Hour)}
	if c.Retention != want {
		t.Fatalf("retention %+v, want %+v", c.Retention, want)
	}
	d, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Retention != DefaultRetention() || d.Retention.HookBodies.String() != "7d" || d.Retention.Notifications.String() != "90d" {
		t.Fatalf("default retention %+v", d.Retention)
	}
}

func TestRetentionErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file string
		env        []string
		want       string
	}{
		{"bare number", "retention:\n  hook_bodies: 7\n", nil, "line 2: \"7\""},
		{"not a duration", "", []string{"DATAHUB_RETENTION_REJECTS=forever"}, "DATAHUB_RETENTION_REJECTS"},
		{"too short", "retention: {trigger_history: 5m}\n", nil, "retention.trigger_history"},
		{"unknown key", "retention: {runs: 7d}\n", nil, "runs"},
		{"not a scalar", "retention: {rejects: [1d]}\n", nil, "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
				if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(path, tc.env, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
