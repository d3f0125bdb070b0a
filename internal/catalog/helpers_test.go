package catalog_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/datahub-oss/datahub/internal/catalog"
	_ "github.com/datahub-oss/datahub/internal/connectors/all" // the connectors Endpoint types name
	"github.com/datahub-oss/datahub/internal/store"
)

const quickstart = "../../examples/quickstart/resources.yaml"

func parse(t *testing.T, text string) []catalog.Resource {
	t.Helper()
	rs, err := catalog.Parse([]byte(text), "test.yaml")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return rs
}

func parseFile(t *testing.T, path string) []catalog.Resource {
	t.Helper()
	rs, err := catalog.ParseFile(path)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	return rs
}

func apply(t *testing.T, svc *catalog.Service, rs []catalog.Resource) []catalog.Change {
	t.Helper()
	cs, err := svc.Apply(context.Background(), rs, catalog.ApplyOptions{Actor: "tester"})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return cs
}

// actions renders changes compactly: "created System/people-directory v1".
func actions(cs []catalog.Change) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, string(c.Action)+" "+string(c.Kind)+"/"+c.Name+" v"+strconv.Itoa(c.Version))
	}
	return strings.Join(parts, "\n")
}

// countRows returns the rows of both catalog tables.
func countRows(t *testing.T, db *store.DB) (resources, versions int) {
	t.Helper()
	ctx := context.Background()
	if err := db.QueryRow(ctx, `SELECT count(*) FROM catalog_resources`).Scan(&resources); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `SELECT count(*) FROM catalog_versions`).Scan(&versions); err != nil {
		t.Fatal(err)
	}
	return resources, versions
}

func wantErrors(t *testing.T, err error, parts ...string) {
	t.Helper()
	var es catalog.Errors
	if !errors.As(err, &es) {
		t.Fatalf("want catalog.Errors, got %v", err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error does not mention %q:\n%v", p, err)
		}
	}
}
