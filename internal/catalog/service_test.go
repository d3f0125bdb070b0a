package catalog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

// more is a catalog beyond the quickstart that exercises what export must carry through:
// labels, secret references, several environments, a multi-line query, free-form trigger
// settings and strings YAML would otherwise read as other types.
const more = `
apiVersion: datahub/v1
kind: System
metadata:
  name: shop
  labels: {domain: sales, tier: "1"}
  owner: sales-it
spec:
  owner: sales@example.org
  classification: restricted
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: shop-db, labels: {domain: sales}}
spec:
  system: shop
  type: postgres
  environments:
    dev: {url: "postgres://shop@localhost:5432/shop", options: {sslmode: disable}}
    PROD: {url: "postgres://shop@db.internal:5432/shop"}
  options: {sslmode: verify-full}
  secrets: {password: "secret:shop-db-password", sslpassword: "env:SHOP_SSL"}
  classificationClearance: restricted
---
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: exports, labels: {domain: finance}}
spec:
  system: shop
  type: file
  environments:
    DEV: {url: "/tmp/exports/", options: {delimiter: ";", "null": "NULL"}}
    PROD: {url: "/srv/exports/"}
  classificationClearance: restricted
---
apiVersion: datahub/v1
kind: Integration
metadata: {name: orders-export, labels: {domain: sales}}
spec:
  source:
    endpoint: shop-db
    query: |
      SELECT id, total, 'yes' AS flag
      FROM orders
      WHERE total > 0
  destination: {endpoint: exports, path: orders/orders.csv, mode: replace}
  mapping:
    only: true
    columns: [{from: id, required: true}, {from: total, to: amount, type: decimal}]
  trigger: {type: schedule, cron: "0 2 * * *", jitter: 1.5, days: [1, 2, "3"], note: "null", on: ~}
  classification: restricted
  privacy: {personalData: false}
  retries: 3
  concurrency: 2
  environments: [prod, dev]
`

func newService(t *testing.T, db *store.DB, changes *[]catalog.Change) *catalog.Service {
	t.Helper()
	var n atomic.Int64
	return catalog.New(db, catalog.Options{
		Now: func() time.Time { return time.Date(2026, 1, 1, 0, 0, int(n.Add(1)), 0, time.UTC) },
		OnChange: func(_ context.Context, _ *store.Tx, c catalog.Change) error {
			if changes != nil {
				*changes = append(*changes, c)
			}
			return nil
		},
	})
}

func TestApplyVersionsHistoryDiff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var hooked []catalog.Change
		svc := newService(t, db, &hooked)
		rs := parseFile(t, quickstart)
		cs := apply(t, svc, rs)
		want := "created System/people-directory v1\ncreated Endpoint/people-csv v1\ncreated Endpoint/people-db v1\ncreated Integration/quickstart v1"
		if got := actions(cs); got != want {
			t.Fatalf("first apply:\n%s\nwant\n%s", got, want)
		}
		if len(hooked) != 4 || hooked[0].Actor != "tester" || hooked[0].Before != "" || hooked[0].After == "" {
			t.Errorf("OnChange saw %+v", hooked)
		}
		// The same documents again: nothing changes, no new versions, no hook calls.
		hooked = nil
		cs = apply(t, svc, parseFile(t, quickstart))
		for _, c := range cs {
			if c.Action != catalog.Unchanged || c.Version != 1 || c.Before != c.After {
				t.Errorf("re-apply: %+v", c)
			}
		}
		if len(hooked) != 0 {
			t.Errorf("OnChange called for unchanged documents: %+v", hooked)
		}
		// Change the integration: a new version with both digests.
		changed := parseFile(t, quickstart)[3]
		changed.Integration().Destination.Mode = "upsert"
		changed.Metadata.Labels["stage"] = "two"
		cs = apply(t, svc, []catalog.Resource{changed})
		if len(cs) != 1 || cs[0].Action != catalog.Updated || cs[0].Version != 2 || cs[0].Before == cs[0].After || cs[0].Before != hooked[0].Before {
			t.Fatalf("update: %+v", cs)
		}
		got, err := svc.Get(ctx, catalog.KindIntegration, "quickstart")
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != 2 || got.Digest != cs[0].After || got.Resource.Integration().Destination.Mode != "upsert" || got.UpdatedBy != "tester" || !got.UpdatedAt.After(got.CreatedAt) {
			t.Errorf("get: %+v", got)
		}
		hist, err := svc.History(ctx, catalog.KindIntegration, "quickstart")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].Change != catalog.Created || hist[1].Change != catalog.Updated || hist[1].Digest != cs[0].After || hist[0].CreatedBy != "tester" {
			t.Fatalf("history: %+v", hist)
		}
		v1, err := svc.Version(ctx, catalog.KindIntegration, "quickstart", 1)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := v1.Resource.Digest(); d != cs[0].Before {
			t.Errorf("version 1 digest %s, want %s", d, cs[0].Before)
		}
		if _, err := svc.Version(ctx, catalog.KindIntegration, "quickstart", 3); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("version 3: %v", err)
		}
		diff := catalog.Diff(v1.Resource, hist[1].Resource)
		wantDiff := `--- a/Integration/quickstart
+++ b/Integration/quickstart
@@ -4,6 +4,7 @@
   name: quickstart
   labels:
     domain: hr
+    stage: two
   description: Load the sample people.csv into the people table.
 spec:
   description: Replace the people table with the rows of people.csv, typed.
@@ -12,7 +13,7 @@
   destination:
     endpoint: people-db
     table: people
-    mode: replace
+    mode: upsert
     keys:
       - id
   mapping:
`
		if diff != wantDiff {
			t.Errorf("diff:\n%s\nwant\n%s", diff, wantDiff)
		}
		if d := catalog.Diff(v1.Resource, v1.Resource); d != "" {
			t.Errorf("diff of equal resources: %q", d)
		}
	})
}

func TestDryRunWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var hooked []catalog.Change
		svc := newService(t, db, &hooked)
		cs, err := svc.Apply(ctx, parseFile(t, quickstart), catalog.ApplyOptions{DryRun: true, Actor: "tester"})
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 4 || cs[3].Action != catalog.Created || cs[3].Version != 1 {
			t.Errorf("dry run: %+v", cs)
		}
		if r, v := countRows(t, db); r != 0 || v != 0 || len(hooked) != 0 {
			t.Fatalf("dry run wrote %d resources, %d versions, %d hook calls", r, v, len(hooked))
		}
		apply(t, svc, parseFile(t, quickstart))
		hooked = nil
		changed := parseFile(t, quickstart)[0]
		changed.System().Classification = "restricted"
		cs, err = svc.Apply(ctx, []catalog.Resource{changed}, catalog.ApplyOptions{DryRun: true, Actor: "tester"})
		if err != nil || len(cs) != 1 || cs[0].Action != catalog.Updated || cs[0].Version != 2 {
			t.Fatalf("dry-run update: %+v, %v", cs, err)
		}
		if r, v := countRows(t, db); r != 4 || v != 4 || len(hooked) != 0 {
			t.Fatalf("dry run wrote: %d resources, %d versions, %d hook calls", r, v, len(hooked))
		}
		got, _ := svc.Get(ctx, catalog.KindSystem, "people-directory")
		if got.Resource.System().Classification != "confidential" {
			t.Errorf("dry run changed the stored system")
		}
	})
}

func TestInvalidBatchWritesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var hooked []catalog.Change
		svc := newService(t, db, &hooked)
		rs := parseFile(t, quickstart)
		// A valid document on its own that names an endpoint nobody defined.
		bad := parse(t, `
apiVersion: datahub/v1
kind: Integration
metadata: {name: broken}
spec:
  source: {endpoint: people-csv}
  destination: {endpoint: warehouse, table: people}
`)
		_, err := svc.Apply(ctx, append(rs, bad...), catalog.ApplyOptions{Actor: "tester"})
		wantErrors(t, err, `test.yaml: document 1 (Integration "broken") line 7: spec.destination.endpoint: no Endpoint "warehouse" (apply it first or in the same batch)`)
		if r, v := countRows(t, db); r != 0 || v != 0 || len(hooked) != 0 {
			t.Fatalf("a failed batch wrote %d resources, %d versions, %d hook calls", r, v, len(hooked))
		}
		// A hook that fails rolls everything back too.
		svc = catalog.New(db, catalog.Options{OnChange: func(_ context.Context, _ *store.Tx, c catalog.Change) error {
			if c.Kind == catalog.KindIntegration {
				return errors.New("audit log unavailable")
			}
			return nil
		}})
		if _, err := svc.Apply(ctx, rs, catalog.ApplyOptions{Actor: "tester"}); err == nil || !strings.Contains(err.Error(), "audit log unavailable") {
			t.Fatalf("failing hook: %v", err)
		}
		if r, v := countRows(t, db); r != 0 || v != 0 {
			t.Fatalf("a failed hook left %d resources, %d versions", r, v)
		}
		if _, err := svc.Apply(ctx, rs, catalog.ApplyOptions{}); err == nil {
			t.Error("apply without an actor succeeded")
		}
	})
}

func TestReferencesAcrossBatches(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := newService(t, db, nil)
		rs := parseFile(t, quickstart)
		apply(t, svc, rs[:3])
		cs := apply(t, svc, rs[3:])
		if cs[0].Action != catalog.Created {
			t.Fatalf("%+v", cs)
		}
		// An Endpoint change that would break a stored Integration is refused.
		ep := parseFile(t, quickstart)[2]
		ep.Endpoint().Type = "file"
		ep.Endpoint().Environments["DEV"] = catalog.EnvironmentEndpoint{URL: "out/"}
		_, err := svc.Apply(ctx, []catalog.Resource{ep}, catalog.ApplyOptions{Actor: "tester"})
		wantErrors(t, err, `(Endpoint "people-db") line 44: spec: this change would break Integration "quickstart": spec.destination.table: endpoint "people-db" (file) has no tables; use path`)
		// Dropping the environment the integration runs in is refused as well.
		ep = parseFile(t, quickstart)[1]
		ep.Endpoint().Environments = map[string]catalog.EnvironmentEndpoint{"PROD": {URL: "people.csv"}}
		_, err = svc.Apply(ctx, []catalog.Resource{ep}, catalog.ApplyOptions{Actor: "tester"})
		wantErrors(t, err, `this change would break Integration "quickstart": spec.environments[0]: endpoint "people-csv" has no DEV URL`)
		// Changing both in one batch is fine.
		in := parseFile(t, quickstart)[3]
		in.Integration().Environments = []string{"PROD"}
		ep2 := parseFile(t, quickstart)[2]
		ep2.Endpoint().Environments["PROD"] = catalog.EnvironmentEndpoint{URL: "sqlite:/srv/people.db"}
		apply(t, svc, []catalog.Resource{ep, ep2, in})
	})
}

func TestInlinePasswordRefused(t *testing.T) {
	const doc = `
apiVersion: datahub/v1
kind: Endpoint
metadata: {name: warehouse}
spec:
  system: people-directory
  type: postgres
  environments:
    PROD: {url: "postgres://loader:s3cr3t-pw@db.example.org/dw"}
`
	_, err := catalog.Parse([]byte(doc), "warehouse.yaml")
	wantErrors(t, err, `warehouse.yaml: document 1 (Endpoint "warehouse") line 9: spec.environments.PROD.url: the URL carries a password; remove it and reference a secret instead: secrets: {password: secret:NAME}`)
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("the error repeats the password: %v", err)
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := newService(t, db, nil)
		ep := catalog.Resource{
			APIVersion: catalog.APIVersion, Kind: catalog.KindEndpoint, Metadata: catalog.Metadata{Name: "warehouse"},
			Spec: &catalog.EndpointSpec{System: "people-directory", Type: "postgres",
				Environments: map[string]catalog.EnvironmentEndpoint{"prod": {URL: "postgres://loader:s3cr3t-pw@db.example.org/dw"}}},
		}
		rs := append(parseFile(t, quickstart), ep)
		_, err := svc.Apply(context.Background(), rs, catalog.ApplyOptions{Actor: "tester"})
		wantErrors(t, err, `document 5 (Endpoint "warehouse"): spec.environments.PROD.url: the URL carries a password`)
		if _, ok := ep.Endpoint().Environments["prod"]; !ok {
			t.Error("Apply normalized the caller's resource")
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("the error repeats the password: %v", err)
		}
		if r, v := countRows(t, db); r != 0 || v != 0 {
			t.Fatalf("wrote %d resources, %d versions", r, v)
		}
	})
}

func TestDelete(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var hooked []catalog.Change
		svc := newService(t, db, &hooked)
		apply(t, svc, parseFile(t, quickstart))
		hooked = nil
		_, err := svc.Delete(ctx, catalog.KindEndpoint, "people-db", "tester")
		if !errors.Is(err, catalog.ErrInUse) || !strings.Contains(err.Error(), `Integration "quickstart"`) {
			t.Fatalf("deleting a used endpoint: %v", err)
		}
		_, err = svc.Delete(ctx, catalog.KindSystem, "people-directory", "tester")
		if !errors.Is(err, catalog.ErrInUse) || !strings.Contains(err.Error(), `Endpoint "people-csv", Endpoint "people-db"`) {
			t.Fatalf("deleting a used system: %v", err)
		}
		c, err := svc.Delete(ctx, catalog.KindIntegration, "quickstart", "tester")
		if err != nil {
			t.Fatal(err)
		}
		if c.Action != catalog.Deleted || c.Version != 2 || c.Before == "" || c.After != "" || len(hooked) != 1 {
			t.Errorf("delete: %+v (hooked %d)", c, len(hooked))
		}
		if _, err := svc.Get(ctx, catalog.KindIntegration, "quickstart"); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("get after delete: %v", err)
		}
		if _, err := svc.Delete(ctx, catalog.KindIntegration, "quickstart", "tester"); !errors.Is(err, catalog.ErrNotFound) {
			t.Errorf("second delete: %v", err)
		}
		hist, err := svc.History(ctx, catalog.KindIntegration, "quickstart")
		if err != nil || len(hist) != 2 || hist[1].Change != catalog.Deleted || hist[1].Resource.Metadata.Name != "quickstart" {
			t.Fatalf("history after delete: %+v, %v", hist, err)
		}
		if _, err := svc.Delete(ctx, catalog.KindEndpoint, "people-db", "tester"); err != nil {
			t.Fatalf("deleting an unused endpoint: %v", err)
		}
		// Applying again brings both back as new versions of the same history.
		cs := apply(t, svc, parseFile(t, quickstart))
		if got := actions(cs); got != "unchanged System/people-directory v1\nunchanged Endpoint/people-csv v1\ncreated Endpoint/people-db v3\ncreated Integration/quickstart v3" {
			t.Errorf("re-apply after delete:\n%s", got)
		}
		if cs[3].Before != "" {
			t.Errorf("re-created resource has a before digest: %+v", cs[3])
		}
		e, err := svc.Get(ctx, catalog.KindIntegration, "quickstart")
		if err != nil || e.Version != 3 || !e.CreatedAt.Equal(e.UpdatedAt) {
			t.Errorf("re-created: %+v, %v", e, err)
		}
	})
}

func TestExportReappliesUnchanged(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := newService(t, db, nil)
		rs := append(parseFile(t, quickstart), parse(t, more)...)
		apply(t, svc, rs)
		var buf bytes.Buffer
		if err := svc.Export(ctx, &buf); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, w := range []string{"secret:shop-db-password", "env:SHOP_SSL", "cron: 0 2 * * *", `note: "null"`, "query: |"} {
			if !strings.Contains(out, w) {
				t.Errorf("export lacks %q:\n%s", w, out)
			}
		}
		again, err := catalog.Parse(buf.Bytes(), "export.yaml")
		if err != nil {
			t.Fatalf("export does not parse: %v\n%s", err, out)
		}
		var order []string
		for _, r := range again {
			order = append(order, string(r.Kind)+"/"+r.Metadata.Name)
		}
		wantOrder := "System/people-directory System/shop Endpoint/exports Endpoint/people-csv Endpoint/people-db Endpoint/shop-db Integration/orders-export Integration/quickstart"
		if got := strings.Join(order, " "); got != wantOrder {
			t.Errorf("export order:\n%s\nwant\n%s", got, wantOrder)
		}
		cs := apply(t, svc, again)
		for _, c := range cs {
			if c.Action != catalog.Unchanged {
				v, _ := svc.Version(ctx, c.Kind, c.Name, 1)
				t.Errorf("%s/%s %s after re-applying the export:\n%s", c.Kind, c.Name, c.Action, catalog.Diff(v.Resource, *c.Resource))
			}
		}
		// An export of the re-applied catalog is byte for byte the same.
		var buf2 bytes.Buffer
		if err := svc.Export(ctx, &buf2); err != nil {
			t.Fatal(err)
		}
		if buf2.String() != out {
			t.Errorf("second export differs")
		}
		// And it applies to an empty catalog in one batch, dependencies first.
		fresh := newService(t, storetest.SQLite(t), nil)
		if cs := apply(t, fresh, again); len(cs) != 8 {
			t.Errorf("applied %d resources to a fresh catalog", len(cs))
		}
	})
}

func TestList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		svc := newService(t, db, nil)
		apply(t, svc, append(parseFile(t, quickstart), parse(t, more)...))
		names := func(es []catalog.Entry) string {
			var out []string
			for _, e := range es {
				out = append(out, e.Resource.Metadata.Name)
			}
			return strings.Join(out, ",")
		}
		es, next, err := svc.List(ctx, catalog.KindEndpoint, catalog.ListOptions{})
		if err != nil || names(es) != "exports,people-csv,people-db,shop-db" || next != "" {
			t.Errorf("endpoints: %s %q %v", names(es), next, err)
		}
		es, _, err = svc.List(ctx, "", catalog.ListOptions{Selector: "domain=sales"})
		if err != nil || names(es) != "shop-db,orders-export,shop" {
			t.Errorf("domain=sales: %s %v", names(es), err)
		}
		es, _, err = svc.List(ctx, catalog.KindEndpoint, catalog.ListOptions{Selector: "domain!=hr,domain"})
		if err != nil || names(es) != "exports,shop-db" {
			t.Errorf("domain!=hr: %s %v", names(es), err)
		}
		es, _, err = svc.List(ctx, "", catalog.ListOptions{Selector: "tier"})
		if err != nil || names(es) != "shop" {
			t.Errorf("tier: %s %v", names(es), err)
		}
		// Paging through everything three at a time visits every resource once.
		var all []string
		cursor := ""
		for pages := 0; ; pages++ {
			es, next, err := svc.List(ctx, "", catalog.ListOptions{Limit: 3, Cursor: cursor})
			if err != nil || pages > 5 {
				t.Fatalf("page %d: %v", pages, err)
			}
			all = append(all, names(es))
			if next == "" {
				break
			}
			cursor = next
		}
		if got := strings.Join(all, "|"); got != "exports,people-csv,people-db|shop-db,orders-export,quickstart|people-directory,shop" {
			t.Errorf("pages: %s", got)
		}
		if _, _, err := svc.List(ctx, "", catalog.ListOptions{Selector: "a=b=c"}); err == nil {
			t.Error("bad selector accepted")
		}
		if _, _, err := svc.List(ctx, "", catalog.ListOptions{Cursor: "!!"}); err == nil {
			t.Error("bad cursor accepted")
		}
	})
}

func TestQuickstartApplies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := newService(t, db, nil)
		cs := apply(t, svc, parseFile(t, quickstart))
		if len(cs) != 4 {
			t.Fatalf("%d changes", len(cs))
		}
		for _, c := range cs {
			if c.Action != catalog.Created {
				t.Errorf("%s %s: %s", c.Kind, c.Name, c.Action)
			}
		}
	})
}

func ExampleDiff() {
	rs, _ := catalog.Parse([]byte(`
apiVersion: datahub/v1
kind: System
metadata: {name: crm}
spec: {owner: crm-team, classification: internal}
`), "")
	a := rs[0]
	b := rs[0]
	b.Spec = &catalog.SystemSpec{Owner: "crm-team", Classification: "confidential"}
	fmt.Print(catalog.Diff(a, b))
	// Output:
	// --- a/System/crm
	// +++ b/System/crm
	// @@ -4,4 +4,4 @@
	//    name: crm
	//  spec:
	//    owner: crm-team
	// -  classification: internal
	// +  classification: confidential
}

// TestConcurrentApply applies the same new documents from several goroutines: exactly one
// creates each version, and the others see it unchanged.
func TestConcurrentApply(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		svc := newService(t, db, nil)
		rs := parseFile(t, quickstart)
		errs := make(chan error, 4)
		created := make(chan int, 4)
		for range 4 {
			go func() {
				cs, err := svc.Apply(context.Background(), rs, catalog.ApplyOptions{Actor: "tester"})
				n := 0
				for _, c := range cs {
					if c.Action == catalog.Created {
						n++
					}
				}
				created <- n
				errs <- err
			}()
		}
		total := 0
		for range 4 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
			total += <-created
		}
		if r, v := countRows(t, db); total != 4 || r != 4 || v != 4 {
			t.Errorf("created %d, rows %d resources %d versions; want 4 each", total, r, v)
		}
	})
}
