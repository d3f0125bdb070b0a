package endpointfile_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/endpointfile"

	_ "github.com/datahub-oss/datahub/internal/connectors/all" // the schemes the file's URLs use
)

const file = "testdata/endpoints.yaml"

func load(t *testing.T) *endpointfile.File {
	t.Helper()
	f, err := endpointfile.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		arg              string
		name, sub, query string
	}{
		{"@crm-db", "crm-db", "", ""},
		{"@crm-db/public.people", "crm-db", "public.people", ""},
		{"@drop/in/2026/people.csv", "drop", "in/2026/people.csv", ""},
		{"@drop/in/people.csv?delimiter=;", "drop", "in/people.csv", "delimiter=;"},
		{"@crm-db?query=SELECT+1", "crm-db", "", "query=SELECT+1"},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			r, err := endpointfile.ParseRef(tc.arg)
			if err != nil {
				t.Fatal(err)
			}
			if r.Name != tc.name || r.Sub != tc.sub || r.Query != tc.query {
				t.Errorf("got %+v, want name %q sub %q query %q", r, tc.name, tc.sub, tc.query)
			}
		})
	}
	for _, bad := range []string{"crm-db", "@", "@/people", "@?x=1"} {
		if _, err := endpointfile.ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q): want an error", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	t.Setenv("CRM_PASSWORD", "dev-s3cret")
	t.Setenv("CRM_PROD_PASSWORD", "prod-s3cret")
	f := load(t)
	for _, tc := range []struct {
		arg, env        string
		url, root, want string // want is the environment chosen
		secret          string
	}{
		{"@crm-db", "", "postgres://app:dev-s3cret@localhost:5432/crm", "", "DEV", "dev-s3cret"},
		{"@crm-db/public.people", "", "postgres://app:dev-s3cret@localhost:5432/crm?table=public.people", "", "DEV", "dev-s3cret"},
		{"@crm-db/public.people?application_name=copy", "dev", "postgres://app:dev-s3cret@localhost:5432/crm?table=public.people&application_name=copy", "", "DEV", "dev-s3cret"},
		{"@crm-db?query=SELECT+1", "", "postgres://app:dev-s3cret@localhost:5432/crm?query=SELECT+1", "", "DEV", "dev-s3cret"},
		// The environment's own secret wins over the endpoint's.
		{"@crm-db/people", "prod", "postgres://app:prod-s3cret@crm.example.com:5432/crm?table=people", "", "PROD", "prod-s3cret"},
		// A folder endpoint confines the path under it; its only environment is the default.
		{"@drop/in/people.csv", "", "/srv/drop/in/people.csv", "/srv/drop", "UAT", ""},
		{"@drop", "", "/srv/drop", "", "UAT", ""},
	} {
		t.Run(tc.arg+" "+tc.env, func(t *testing.T) {
			r, err := f.Resolve(context.Background(), tc.arg, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if r.Endpoint.URL != tc.url || r.Endpoint.Root != tc.root || r.Env != tc.want {
				t.Errorf("got URL %q root %q env %s, want %q %q %s", r.Endpoint.URL, r.Endpoint.Root, r.Env, tc.url, tc.root, tc.want)
			}
			if tc.secret != "" {
				if len(r.Secrets) != 1 || r.Secrets[0] != tc.secret {
					t.Errorf("secrets %q, want the one resolved", r.Secrets)
				}
				if strings.Contains(r.Endpoint.Redacted(), tc.secret) {
					t.Errorf("the redacted URL %s shows the password", r.Endpoint.Redacted())
				}
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	t.Setenv("CRM_PROD_PASSWORD", "prod-s3cret")
	f := load(t)
	for _, tc := range []struct {
		arg, env string
		unset    string // an environment variable to unset first
		want     []string
	}{
		{arg: "@crm-dv", want: []string{file, `no endpoint "crm-dv" (did you mean "crm-db"?)`, "crm-db, drop, vault"}},
		{arg: "@crm-db", unset: "CRM_PASSWORD",
			want: []string{file, `document 1 (Endpoint "crm-db") line 14: spec.secrets:`, "environment variable CRM_PASSWORD is not set"}},
		{arg: "@vault", want: []string{file, `Endpoint "vault"`, "line 34", "no DEV URL and more than one environment (SIT, UAT): choose one with --env"}},
		{arg: "@vault/invoices", env: "sit", want: []string{file, `(Endpoint "vault") line 39: spec.secrets:`, "secret:billing-db names a secret store, and none is open here", "env:NAME or file:PATH"}},
		{arg: "@drop", env: "PROD", want: []string{file, `Endpoint "drop"`, "no URL for environment PROD (it has UAT)"}},
	} {
		t.Run(tc.arg+" "+tc.env, func(t *testing.T) {
			if tc.unset != "" {
				t.Setenv(tc.unset, "")
				if err := os.Unsetenv(tc.unset); err != nil {
					t.Fatal(err)
				}
			}
			_, err := f.Resolve(context.Background(), tc.arg, tc.env)
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "endpoints.yaml")
	_, err := endpointfile.Load(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "--endpoints FILE") {
		t.Errorf("missing file: %v", err)
	}
	system := filepath.Join(dir, "system.yaml")
	doc := "apiVersion: datahub/v1\nkind: System\nmetadata:\n  name: crm\nspec:\n  owner: crm-team\n"
	if err := os.WriteFile(system, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = endpointfile.Load(system)
	if err == nil || !strings.Contains(err.Error(), system+`: document 1 (System "crm") line 2: kind: an endpoints file holds Endpoint resources only`) {
		t.Errorf("a System in an endpoints file: %v", err)
	}
	inline := filepath.Join(dir, "inline.yaml")
	doc = "apiVersion: datahub/v1\nkind: Endpoint\nmetadata:\n  name: pg\nspec:\n  type: postgres\n  environments:\n    DEV:\n      url: postgres://app:hunter2@localhost/crm\n"
	if err := os.WriteFile(inline, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = endpointfile.Load(inline)
	if err == nil || !strings.Contains(err.Error(), "line 9: spec.environments.DEV.url: the URL carries a password") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("an inline password: %v", err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv(endpointfile.EnvVar, "/etc/datahub/endpoints.yaml")
	if got := endpointfile.DefaultPath(); got != "/etc/datahub/endpoints.yaml" {
		t.Errorf("with $%s: %s", endpointfile.EnvVar, got)
	}
	t.Setenv(endpointfile.EnvVar, "")
	t.Setenv("XDG_CONFIG_HOME", "/home/u/.config")
	if got := endpointfile.DefaultPath(); got != "/home/u/.config/datahub/endpoints.yaml" {
		t.Errorf("default: %s", got)
	}
}

// FuzzParseRef: any argument parses or fails without a panic, and a parsed name is never
// empty and holds neither '/' nor '?', which end it.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"@crm-db", "@crm-db/public.people", "@drop/a/b.csv?delimiter=;", "@", "@?", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		r, err := endpointfile.ParseRef(arg)
		if err != nil {
			return
		}
		if r.Name == "" || strings.ContainsAny(r.Name, "/?") {
			t.Errorf("ParseRef(%q) = %+v", arg, r)
		}
		if rebuilt := "@" + r.Name; !strings.HasPrefix(arg, rebuilt) {
			t.Errorf("ParseRef(%q): name %q is not the argument's start", arg, r.Name)
		}
	})
}
