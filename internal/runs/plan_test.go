package runs

import (
	"context"
	"net/url"
	"testing"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

// refs resolves a reference to its own name, so a test sees which reference was used.
type refs struct{}

func (refs) Resolve(_ context.Context, ref string) (string, error) { return "pw-" + ref, nil }

// TestEnvironmentSecretsWin: an environment's own secret references override the
// endpoint's; the other environments keep the endpoint's.
func TestEnvironmentSecretsWin(t *testing.T) {
	ctx := t.Context()
	cat := catalogOf(t, `apiVersion: datahub/v1
kind: System
metadata: {name: crm}
spec: {owner: team}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: crm-db}
spec:
  system: crm
  type: postgres
  environments:
    DEV: {url: "postgres://app@db-dev:5432/crm"}
    PROD:
      url: "postgres://app@db-prod:5432/crm"
      secrets: {password: "secret:crm-prod"}
  secrets: {password: "secret:crm-dev"}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: out}
spec: {system: crm, type: file, environments: {DEV: {url: /tmp/x.ndjson}, PROD: {url: /tmp/y.ndjson}}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: people}
spec:
  source: {endpoint: crm-db, table: people}
  destination: {endpoint: out}
`)
	for env, want := range map[string]string{"DEV": "pw-secret:crm-dev", "PROD": "pw-secret:crm-prod"} {
		p, err := ResolveWith(ctx, cat, refs{}, "people", env, nil, ResolveOptions{})
		if err != nil {
			t.Fatalf("%s: %v", env, err)
		}
		u, err := url.Parse(p.Source.URL)
		if err != nil {
			t.Fatal(err)
		}
		if pw, _ := u.User.Password(); pw != want || p.SourceRef.Secrets["password"] != want[3:] {
			t.Errorf("%s: password %q (reference %q), want %q", env, pw, p.SourceRef.Secrets["password"], want)
		}
	}
}

// TestPlanCarriesInference: an integration's destination says whether the table a run
// creates gets inferred types (by default it does), and from how many records.
func TestPlanCarriesInference(t *testing.T) {
	ctx := t.Context()
	cat := catalogOf(t, `apiVersion: datahub/v1
kind: System
metadata: {name: crm}
spec: {owner: team}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: in}
spec: {system: crm, type: file, environments: {DEV: {url: /tmp/in.csv}}}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: db}
spec: {system: crm, type: sqlite, environments: {DEV: {url: "sqlite:/tmp/x.db"}}}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: typed}
spec:
  source: {endpoint: in}
  destination: {endpoint: db, table: people, inferRows: 50}
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: text}
spec:
  source: {endpoint: in}
  destination: {endpoint: db, table: people, infer: false}
`)
	for name, want := range map[string][2]any{"typed": {false, 50}, "text": {true, 0}} {
		p, err := ResolveWith(ctx, cat, refs{}, name, "DEV", nil, ResolveOptions{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		o := p.EngineOptions()
		if o.NoInfer != want[0] || o.InferRows != want[1] {
			t.Errorf("%s: NoInfer %v, InferRows %d; want %v", name, o.NoInfer, o.InferRows, want)
		}
	}
}

// catalogOf is a catalog on a fresh store with the resources yaml applied.
func catalogOf(t *testing.T, yaml string) *catalog.Service {
	t.Helper()
	cat := catalog.New(storetest.SQLite(t), catalog.Options{})
	docs, err := catalog.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Apply(t.Context(), docs, catalog.ApplyOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	return cat
}
