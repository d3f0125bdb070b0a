package all_test

import (
	"context"
	"testing"

	"github.com/datahub-oss/datahub/connector"
	"github.com/datahub-oss/datahub/internal/engine"
	"github.com/datahub-oss/datahub/internal/runstatus"
)

// TestUpsertNewTableNeedsKey: an upsert without key columns into a table that does not
// exist is a usage error found before anything is created, so no empty table is left for
// the corrected command to trip over.
func TestUpsertNewTableNeedsKey(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL and MariaDB; skipped with -short")
	}
	src := connector.Endpoint{URL: writeFile(t, "p.csv", "id,name\n1,a\n2,b\n")}
	for _, db := range databases(t, "upsert_key") {
		t.Run(db.name, func(t *testing.T) {
			ctx := context.Background()
			dst := connector.Endpoint{URL: db.url("people_nokey")}
			res := engine.New(engine.Options{RunID: "uk1", Source: src, Dest: dst, Mode: connector.ModeUpsert}).Run(ctx)
			if res.Status != runstatus.Failed || connector.CodeOf(res.Err) != connector.CodeUsage {
				t.Fatalf("status %s (%s): %v; want a usage error", res.Status, connector.CodeOf(res.Err), res.Err)
			}
			s, err := connector.NewSource(ctx, dst)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = s.Close(ctx) }()
			if err := s.Open(ctx, nil); connector.CodeOf(err) != connector.CodeNotFound {
				t.Fatalf("the refused upsert left a table behind (open: %v)", err)
			}
			res = engine.New(engine.Options{RunID: "uk2", Source: src, Dest: dst, Mode: connector.ModeUpsert, Key: []string{"id"}}).Run(ctx)
			if res.Status != runstatus.Succeeded || res.RowsWritten != 2 {
				t.Fatalf("with the key: %s, %d rows: %v", res.Status, res.RowsWritten, res.Err)
			}
		})
	}
}
