// Package janitor deletes the hub's old bookkeeping: webhook and event bodies, schedule and
// file-trigger history, webhook delivery keys, the notification log and rejects folders,
// each after its configured retention. Runs (the transaction log) and the audit log are
// governance records and are never touched. Every deletion is idempotent, so several
// scheduler processes may sweep at once.
package janitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/datahub-oss/datahub/internal/catalog"
	"github.com/datahub-oss/datahub/internal/config"
	"github.com/datahub-oss/datahub/internal/notify"
	"github.com/datahub-oss/datahub/internal/store"
	"github.com/datahub-oss/datahub/internal/trigger"
)

// Default timing of Run.
const (
	DefaultInterval = time.Hour
	DefaultDelay    = time.Minute
)

// Janitor sweeps old bookkeeping.
type Janitor struct {
	DB      *store.DB
	Catalog *catalog.Service
	// DataDir holds hooks/ and rejects/.
	DataDir   string
	Retention config.Retention
	Log       *slog.Logger
	// Interval between sweeps and Delay before the first (defaults DefaultInterval and
	// DefaultDelay).
	Interval, Delay time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Counts is what one sweep removed.
type Counts struct {
	HookBodies, HookFolders int
	HookKeys                int64
	Ticks, FileVersions     int64
	Notifications, Windows  int64
	Rejects                 int
}

// Run sweeps after Delay, then every Interval, until ctx ends.
func (j *Janitor) Run(ctx context.Context) error {
	delay, every := j.Delay, j.Interval
	if delay <= 0 {
		delay = DefaultDelay
	}
	if every <= 0 {
		every = DefaultInterval
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		c, err := j.Sweep(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		j.logger().Log(ctx, level(c, err), "janitor swept old bookkeeping",
			"hook_bodies", c.HookBodies, "hook_folders", c.HookFolders, "hook_keys", c.HookKeys,
			"schedule_ticks", c.Ticks, "file_versions", c.FileVersions,
			"notifications", c.Notifications, "throttle_windows", c.Windows, "rejects_folders", c.Rejects)
		if err != nil {
			j.logger().Warn("janitor could not sweep everything; it tries again next time", "err", err)
		}
		timer.Reset(every)
	}
}

// level is Info when anything was removed, else Debug: an hourly line saying nothing is noise.
func level(c Counts, err error) slog.Level {
	if c != (Counts{}) || err != nil {
		return slog.LevelInfo
	}
	return slog.LevelDebug
}

func (j *Janitor) logger() *slog.Logger {
	if j.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return j.Log
}

// Sweep applies every rule once. A rule that fails does not stop the others; the errors are
// joined.
func (j *Janitor) Sweep(ctx context.Context) (Counts, error) {
	now := time.Now
	if j.Now != nil {
		now = j.Now
	}
	t := now()
	r := j.Retention
	var c Counts
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if d := r.HookBodies.Duration(); d > 0 {
		var err error
		c.HookBodies, c.HookFolders, err = pruneFiles(filepath.Join(j.DataDir, "hooks"), t.Add(-d))
		note(err)
	}
	var err error
	c.HookKeys, err = trigger.PruneHooks(ctx, j.DB, t.Add(-trigger.HookRetention))
	note(err)
	if d := r.TriggerHistory.Duration(); d > 0 {
		// The cutoff precedes the listing by the retention (config: at least an hour), so
		// the rows of an integration created since the listing are too recent to go.
		live, err := j.integrations(ctx)
		if err != nil {
			note(err)
		} else {
			c.Ticks, err = trigger.PruneTicks(ctx, j.DB, t.Add(-d), live)
			note(err)
			c.FileVersions, err = trigger.PruneFiles(ctx, j.DB, t.Add(-d), live)
			note(err)
		}
	}
	if d := r.Notifications.Duration(); d > 0 {
		c.Notifications, c.Windows, err = notify.Prune(ctx, j.DB, t.Add(-d))
		note(err)
	}
	if d := r.Rejects.Duration(); d > 0 {
		c.Rejects, err = pruneFolders(filepath.Join(j.DataDir, "rejects"), t.Add(-d))
		note(err)
	}
	return c, errors.Join(errs...)
}

// integrations reads the names of the integrations in the catalog.
func (j *Janitor) integrations(ctx context.Context) (func(string) bool, error) {
	names := map[string]bool{}
	cursor := ""
	for {
		es, next, err := j.Catalog.List(ctx, catalog.KindIntegration, catalog.ListOptions{Limit: 1000, Cursor: cursor})
		if err != nil {
			return nil, fmt.Errorf("janitor: list integrations: %w", err)
		}
		for _, e := range es {
			names[e.Resource.Metadata.Name] = true
		}
		if next == "" {
			return func(n string) bool { return names[n] }, nil
		}
		cursor = next
	}
}
