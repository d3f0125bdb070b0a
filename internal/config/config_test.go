package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type fakeFlags map[string]string

func (f fakeFlags) Changed(n string) bool { _, ok := f[n]; return ok }
func (f fakeFlags) Value(n string) string { return f[n] }

func TestLoadLayers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "datahub.yaml")
	yml := "addr: 0.0.0.0:9000\nworkers: 2\nroles: [api, worker]\noidc:\n  issuer: https://id.example.org\n  client_id: hub\n  redirect_url: https://hub/cb\n  client_secret: env:OIDC_SECRET\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, []string{"DATAHUB_WORKERS=8", "DATAHUB_TOKEN_TTL=12h", "UNRELATED=1"}, fakeFlags{"workers": "3"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "0.0.0.0:9000" || c.Workers != 3 || c.TokenTTL != 12*time.Hour || len(c.Roles) != 2 || c.Has(RoleScheduler) {
		t.Fatalf("%+v", c)
	}
	if c.Data != "datahub-data" || c.OIDC.Issuer != "https://id.example.org" || c.OIDC.RolesClaim != "groups" {
		t.Fatalf("defaults lost: %+v", c)
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, file string
		env        []string
		flags      fakeFlags
		want       string
	}{
		{"unknown key", "listen_addr: x\n", nil, nil, "listen_addr"},
		{"bad addr", "addr: nope\n", nil, nil, "addr:"},
		{"bad role", "", []string{"DATAHUB_ROLES=api,chef"}, nil, `roles: "chef"`},
		{"bad workers env", "", []string{"DATAHUB_WORKERS=many"}, nil, "environment variable DATAHUB_WORKERS"},
		{"bad duration", "", []string{"DATAHUB_SHUTDOWN_TIMEOUT=soon"}, nil, "DATAHUB_SHUTDOWN_TIMEOUT"},
		{"bad flag", "", nil, fakeFlags{"workers": "0"}, "workers: 0"},
		{"store scheme", "store: mysql://x\n", nil, nil, "store:"},
		{"inline oidc secret", "oidc: {issuer: https://i, client_id: c, redirect_url: https://r, client_secret: hunter2}\n", nil, nil, "oidc.client_secret"},
		{"listen with external", "nats: nats://h:4222\nnats_listen: 127.0.0.1:4222\n", nil, nil, "nats_listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
				if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(path, tc.env, tc.flags)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestEmptyFileAndDefaultsValid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:8080" || !c.Has(RoleWorker) {
		t.Fatalf("%+v", c)
	}
}
