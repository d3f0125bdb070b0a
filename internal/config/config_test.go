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
		{"inline smtp password", "smtp: {host: mail.example.org, from: hub@example.org, username: hub, password: hunter2}\n", nil, nil, "smtp.password"},
		{"smtp without from", "", []string{"DATAHUB_SMTP_HOST=mail.example.org"}, nil, "smtp.from"},
		{"smtp port", "smtp: {host: mail.example.org, from: hub@example.org, port: 70000}\n", nil, nil, "smtp.port"},
		{"smtp without host", "smtp: {from: hub@example.org}\n", nil, nil, "smtp.host"},
		{"smtp bad bool", "", []string{"DATAHUB_SMTP_HOST=m", "DATAHUB_SMTP_FROM=a@b.org", "DATAHUB_SMTP_TLS=maybe"}, nil, "DATAHUB_SMTP_TLS"},
		{"base url", "base_url: datahub.example.org\n", nil, nil, "base_url"},
		{"ack wait too short", "", []string{"DATAHUB_WORKER_ACK_WAIT=10ms"}, nil, "worker_ack_wait"},
		{"lease ttl too short", "lease_ttl: 100ms\n", nil, nil, "lease_ttl"},
		{"negative checkpoint rows", "", []string{"DATAHUB_CHECKPOINT_ROWS=-1"}, nil, "checkpoint_rows"},
		{"listen with external", "nats: nats://h:4222\nnats_listen: 127.0.0.1:4222\n", nil, nil, "nats_listen"},
		{"replicas with embedded", "nats_replicas: 3\n", nil, nil, "nats_replicas: 3 needs a NATS cluster"},
		{"replicas zero", "", []string{"DATAHUB_NATS=nats://a:4222", "DATAHUB_NATS_REPLICAS=0"}, nil, "nats_replicas: 0 is not between 1 and 5"},
		{"replicas six", "nats: nats://a:4222\n", nil, fakeFlags{"nats-replicas": "6"}, "nats_replicas: 6 is not between 1 and 5"},
		{"replicas not a number", "", []string{"DATAHUB_NATS_REPLICAS=three"}, nil, "environment variable DATAHUB_NATS_REPLICAS"},
		{"outbound allow", "outbound: {allow: [10.0.0.0/8, erp.internal]}\n", nil, nil, `outbound.allow: "erp.internal" is not a CIDR`},
		{"outbound allow env", "", []string{"DATAHUB_OUTBOUND_ALLOW=127.0.0.0/8,10.0.0.0/40"}, nil, `outbound.allow: "10.0.0.0/40"`},
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

func TestSMTPFromEnvironment(t *testing.T) {
	c, err := Load("", []string{"DATAHUB_SMTP_HOST=mail.example.org", "DATAHUB_SMTP_FROM=hub@example.org",
		"DATAHUB_SMTP_USERNAME=hub", "DATAHUB_SMTP_PASSWORD=env:SMTP_PASS", "DATAHUB_SMTP_TLS=true",
		"DATAHUB_BASE_URL=https://hub.example.org"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTP.Addr() != "mail.example.org:465" || !c.SMTP.TLS || c.SMTP.Password != "env:SMTP_PASS" || c.BaseURL != "https://hub.example.org" {
		t.Fatalf("%+v", c.SMTP)
	}
	if (SMTP{}).Addr() != "" || (SMTP{Host: "h"}).Addr() != "h:587" {
		t.Error("default ports")
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
	if c.Addr != "127.0.0.1:8080" || !c.Has(RoleWorker) || c.WorkerAckWait != 30*time.Second || c.LeaseTTL != 30*time.Second {
		t.Fatalf("%+v", c)
	}
}

// Replicas come from the file, the environment or the flag, on an external cluster.
func TestNATSReplicas(t *testing.T) {
	for _, tc := range []struct {
		name  string
		env   []string
		flags fakeFlags
		want  int
	}{
		{"default", nil, nil, 1},
		{"env", []string{"DATAHUB_NATS=nats://a:4222,nats://b:4222,nats://c:4222", "DATAHUB_NATS_REPLICAS=3"}, nil, 3},
		{"flag over env", []string{"DATAHUB_NATS=nats://a:4222", "DATAHUB_NATS_REPLICAS=3"}, fakeFlags{"nats-replicas": "5"}, 5},
		{"one with embedded", []string{"DATAHUB_NATS_REPLICAS=1"}, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load("", tc.env, tc.flags)
			if err != nil {
				t.Fatal(err)
			}
			if c.NATSReplicas != tc.want {
				t.Fatalf("replicas %d, want %d", c.NATSReplicas, tc.want)
			}
		})
	}
}

func TestDispatchTimingFromEnvironment(t *testing.T) {
	c, err := Load("", []string{"DATAHUB_WORKER_ACK_WAIT=3s", "DATAHUB_LEASE_TTL=4s", "DATAHUB_CHECKPOINT_ROWS=20000"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.WorkerAckWait != 3*time.Second || c.LeaseTTL != 4*time.Second || c.CheckpointRows != 20000 {
		t.Fatalf("%+v", c)
	}
}

func TestOutboundAllow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "datahub.yaml")
	if err := os.WriteFile(path, []byte("outbound:\n  allow: [10.0.0.0/8, \"erp.internal:8443\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Outbound.Allow, ",") != "10.0.0.0/8,erp.internal:8443" {
		t.Fatalf("file: %v", c.Outbound.Allow)
	}
	// The environment replaces the file's list, as every setting does.
	c, err = Load(path, []string{"DATAHUB_OUTBOUND_ALLOW=127.0.0.0/8,::1/128"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Outbound.Allow, ",") != "127.0.0.0/8,::1/128" {
		t.Fatalf("environment: %v", c.Outbound.Allow)
	}
	if c, err := Load("", nil, nil); err != nil || len(c.Outbound.Allow) != 0 {
		t.Fatalf("default: %v %v", c.Outbound.Allow, err)
	}
}

// repeatedFlags are fakeFlags whose file-root flag was given several times.
type repeatedFlags struct {
	fakeFlags
	roots []string
}

func (f repeatedFlags) Values(n string) ([]string, bool) {
	if n == "file-root" {
		return f.roots, true
	}
	return nil, false
}

func TestFileRootsAndSecretsSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "datahub.yaml")
	yml := "file_roots: [/srv/in, 'a,b']\nsecrets: {env_allow: [PG_*], file_allow: [/run/secrets/*]}\n"
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.FileRoots, "|") != "/srv/in|a,b" || c.Secrets.EnvAllow[0] != "PG_*" || c.Secrets.FileAllow[0] != "/run/secrets/*" {
		t.Fatalf("from the file: %+v %+v", c.FileRoots, c.Secrets)
	}
	list := strings.Join([]string{"/srv/in", "rel/dir,with comma"}, string(os.PathListSeparator))
	c, err = Load("", []string{"DATAHUB_FILE_ROOTS=" + list, "DATAHUB_SECRETS_ENV_ALLOW=PG_*, MY_*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.FileRoots, "|") != "/srv/in|rel/dir,with comma" || strings.Join(c.Secrets.EnvAllow, "|") != "PG_*|MY_*" {
		t.Fatalf("from the environment: %q %q", c.FileRoots, c.Secrets.EnvAllow)
	}
	c, err = Load("", []string{"DATAHUB_FILE_ROOTS=/env"}, repeatedFlags{fakeFlags{"file-root": "[x,y]", "roles": "api,worker"}, []string{"/x", "/y"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.FileRoots, "|") != "/x|/y" || strings.Join(c.Roles, "|") != "api|worker" {
		t.Fatalf("from repeated flags: %q, roles %q", c.FileRoots, c.Roles)
	}
}
