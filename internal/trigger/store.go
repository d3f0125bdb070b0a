package trigger

import (
	"context"
	"fmt"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
)

func init() {
	store.Register(store.Migration{Component: "trigger", Version: 1, SQL: `CREATE TABLE trigger_ticks (
	integration TEXT NOT NULL,
	tick_time TEXT NOT NULL,
	run_id TEXT NOT NULL DEFAULT '',
	fired_by TEXT NOT NULL DEFAULT '',
	fired_at TEXT NOT NULL,
	PRIMARY KEY (integration, tick_time));
CREATE TABLE trigger_files (
	integration TEXT NOT NULL,
	path TEXT NOT NULL,
	size BIGINT NOT NULL,
	mtime TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	run_id TEXT NOT NULL DEFAULT '',
	seen_at TEXT NOT NULL,
	PRIMARY KEY (integration, path, sha256))`})
}

// tick is one scheduled firing of an integration.
type tick struct {
	integration, env string
	at               time.Time
	catchUp          bool
}

// claimTicks records ticks in one transaction and returns those that were not recorded
// before: only they may fire. Whoever records a tick first fires it; the other scheduler of
// a leader change finds it recorded.
func claimTicks(ctx context.Context, db *store.DB, owner string, ticks []tick, now time.Time) ([]tick, error) {
	var won []tick
	err := db.InTx(ctx, func(tx *store.Tx) error {
		won = won[:0]
		for _, t := range ticks {
			res, err := tx.Exec(ctx, `INSERT INTO trigger_ticks (integration, tick_time, fired_by, fired_at) VALUES (?, ?, ?, ?)
	ON CONFLICT (integration, tick_time) DO NOTHING`, t.integration, store.Time(t.at), owner, store.Time(now))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				won = append(won, t)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("record schedule ticks: %w", err)
	}
	return won, nil
}

// tickRun is the run a recorded tick started.
type tickRun struct {
	integration string
	at          time.Time
	runID       string
}

// setTickRuns notes the runs the ticks started, for people reading the table.
func setTickRuns(ctx context.Context, db *store.DB, trs []tickRun) error {
	if len(trs) == 0 {
		return nil
	}
	err := db.InTx(ctx, func(tx *store.Tx) error {
		for _, t := range trs {
			if _, err := tx.Exec(ctx, `UPDATE trigger_ticks SET run_id = ? WHERE integration = ? AND tick_time = ?`,
				t.runID, t.integration, store.Time(t.at)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record schedule runs: %w", err)
	}
	return nil
}

// lastTicks returns the latest recorded tick of every integration.
func lastTicks(ctx context.Context, db *store.DB) (map[string]time.Time, error) {
	rows, err := db.Query(ctx, `SELECT integration, max(tick_time) FROM trigger_ticks GROUP BY integration`)
	if err != nil {
		return nil, fmt.Errorf("read last schedule ticks: %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := map[string]time.Time{}
	for rows.Next() {
		var name, at string
		if err := rows.Scan(&name, &at); err != nil {
			return nil, fmt.Errorf("read last schedule ticks: %w", err)
		}
		t, err := store.ParseTime(at)
		if err != nil {
			return nil, fmt.Errorf("read last schedule ticks: %s: %w", name, err)
		}
		out[name] = t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read last schedule ticks: %w", err)
	}
	return out, nil
}

// fileVersion is one content of one file.
type fileVersion struct {
	path   string
	size   int64
	mtime  time.Time
	sha256 string
}

// claimFile records a file version and reports whether it may fire: true when this content
// was never seen at this path, or when another content was seen there since (A, then B,
// then A again fires three times); false for a content seen last, whoever saw it.
func claimFile(ctx context.Context, db *store.DB, integration string, v fileVersion, now time.Time) (bool, error) {
	res, err := db.Exec(ctx, `INSERT INTO trigger_files (integration, path, size, mtime, sha256, seen_at) VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (integration, path, sha256) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, run_id = '', seen_at = excluded.seen_at
	WHERE trigger_files.seen_at < (SELECT max(f.seen_at) FROM trigger_files f WHERE f.integration = excluded.integration AND f.path = excluded.path)`,
		integration, v.path, v.size, store.Time(v.mtime), v.sha256, store.Time(now))
	if err != nil {
		return false, fmt.Errorf("record file %s of %s: %w", v.path, integration, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record file %s of %s: %w", v.path, integration, err)
	}
	return n == 1, nil
}

// setFileRun notes the run a file version started.
func setFileRun(ctx context.Context, db *store.DB, integration string, v fileVersion, runID string) error {
	if _, err := db.Exec(ctx, `UPDATE trigger_files SET run_id = ? WHERE integration = ? AND path = ? AND sha256 = ?`,
		runID, integration, v.path, v.sha256); err != nil {
		return fmt.Errorf("record run of file %s: %w", v.path, err)
	}
	return nil
}

// unclaimFile forgets a file version whose run could not be requested, so that the next poll
// tries again.
func unclaimFile(ctx context.Context, db *store.DB, integration string, v fileVersion) error {
	if _, err := db.Exec(ctx, `DELETE FROM trigger_files WHERE integration = ? AND path = ? AND sha256 = ? AND run_id = ''`,
		integration, v.path, v.sha256); err != nil {
		return fmt.Errorf("forget file %s: %w", v.path, err)
	}
	return nil
}
