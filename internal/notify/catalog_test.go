package notify

import (
	"context"
	"slices"
	"testing"

	"github.com/datahub-oss/datahub/internal/catalog"
	_ "github.com/datahub-oss/datahub/internal/connectors/all" // the connectors Endpoint types name
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

const resources = `
apiVersion: datahub/v1
kind: System
metadata: {name: erp}
spec:
  owner: erp-owner@example.org
  classification: internal
  contacts:
    - {name: Bob, email: bob@example.org, role: oncall}
---
apiVersion: datahub/v1
kind: System
metadata: {name: crm}
spec:
  owner: crm-team
  classification: internal
  contacts:
    - {name: Carol, email: carol@example.org, role: steward}
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: erp-csv}
spec:
  system: erp
  type: file
  environments: {DEV: {url: orders.csv}}
  classificationClearance: internal
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: crm-db}
spec:
  system: crm
  type: sqlite
  environments: {DEV: {url: "sqlite:crm.db"}}
  classificationClearance: internal
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: orders-sync, owner: alice@example.org}
spec:
  source: {endpoint: erp-csv}
  destination: {endpoint: crm-db, table: orders, mode: append}
  trigger: {type: manual}
`

func TestCatalogDirectory(t *testing.T) {
	ctx := context.Background()
	db := storetest.SQLite(t)
	cat := catalog.New(db, catalog.Options{})
	docs, err := catalog.Parse([]byte(resources), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Apply(ctx, docs, catalog.ApplyOptions{Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	p, err := CatalogDirectory{Catalog: cat}.Parties(ctx, "orders-sync", "")
	if err != nil {
		t.Fatal(err)
	}
	if p.Owner != "alice@example.org" || len(p.Systems) != 2 {
		t.Fatalf("parties %+v", p)
	}
	got := resolveRecipients([]string{RoleOwner, RoleSystemOwners, RoleSystemContacts}, p)
	want := []string{"alice@example.org", "bob@example.org", "carol@example.org", "erp-owner@example.org"}
	if !slices.Equal(got, want) {
		t.Errorf("recipients %v, want %v", got, want)
	}
	// A deleted or unknown integration resolves to nobody rather than failing.
	if p, err := (CatalogDirectory{Catalog: cat}).Parties(ctx, "gone", "crm"); err != nil || p.Owner != "" || len(p.Systems) != 1 {
		t.Errorf("unknown integration: %+v, %v", p, err)
	}
}
