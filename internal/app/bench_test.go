package app_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/datahub-oss/datahub/internal/app"
	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/store/storetest"
)

// BenchmarkAPIRunsList100k measures GET /api/v1/runs?limit=50 through the whole server
// (authentication, permission check, query, JSON) with 100,000 runs in the store, and
// reports the median as p50-ms:
//
//	go test ./internal/app -run '^$' -bench APIRunsList100k -benchtime 300x
func BenchmarkAPIRunsList100k(b *testing.B) {
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			cfg := config.Default()
			cfg.Data, cfg.Addr = b.TempDir(), "127.0.0.1:0"
			if name == "postgres" {
				cfg.Store = storetest.PostgresURL(b)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			h, err := app.Start(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			go func() { _ = h.Serve(ctx) }()
			base := time.Now().Add(-200 * time.Hour)
			err = h.DB.InTx(ctx, func(tx *store.Tx) error {
				for i := range 100_000 {
					_, err := tx.Exec(ctx, `INSERT INTO runs (id, kind, integration, env, source, destination, mode, status, started_at, rows_read, rows_written)
VALUES (?, 'integration', ?, 'DEV', 'postgres://db/x?table=a', 'sqlite:/data/y.db?table=b', 'append', 'succeeded', ?, 1000, 1000)`,
						fmt.Sprintf("r%06d", i), fmt.Sprintf("integration-%d", i%50), store.Time(base.Add(time.Duration(i)*time.Second)))
					if err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			token, err := os.ReadFile(filepath.Join(cfg.Data, "admin.token"))
			if err != nil {
				b.Fatal(err)
			}
			req, _ := http.NewRequest("GET", "http://"+h.Addr+"/api/v1/runs?limit=50", nil)
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
			get := func() {
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
				if res.StatusCode != 200 {
					b.Fatalf("status %d", res.StatusCode)
				}
			}
			get() // warm up
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				s := time.Now()
				get()
				times = append(times, time.Since(s))
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			cancel()
		})
	}
}
