package trigger

import (
	"context"
	"fmt"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
)

// HookRetention is how long the janitor keeps a webhook delivery or event batch key: the
// dedupe window plus a day, so that a batch redelivered late still maps to its run. Claim
// already forgets an integration's keys older than the window; this also clears the keys
// of integrations that no longer receive anything.
const HookRetention = HookDedupeWindow + 24*time.Hour

// PruneHooks deletes the delivery keys recorded before before.
func PruneHooks(ctx context.Context, db *store.DB, before time.Time) (int64, error) {
	res, err := db.Exec(ctx, `DELETE FROM trigger_hooks WHERE at < ?`, store.Time(before))
	if err != nil {
		return 0, fmt.Errorf("prune webhook deliveries: %w", err)
	}
	return affected(res.RowsAffected())
}

// PruneTicks deletes the schedule ticks recorded before before, except each live
// integration's latest, from which a restarted scheduler catches up (deleting it would fire a
// missed tick again). live reports whether an integration is in the catalog; the ticks of
// the others go entirely once old.
func PruneTicks(ctx context.Context, db *store.DB, before time.Time, live func(string) bool) (int64, error) {
	at := store.Time(before)
	res, err := db.Exec(ctx, `DELETE FROM trigger_ticks WHERE fired_at < ?
	AND tick_time < (SELECT max(t.tick_time) FROM trigger_ticks t WHERE t.integration = trigger_ticks.integration)`, at)
	if err != nil {
		return 0, fmt.Errorf("prune schedule ticks: %w", err)
	}
	n, err := affected(res.RowsAffected())
	if err != nil {
		return 0, fmt.Errorf("prune schedule ticks: %w", err)
	}
	m, err := pruneDead(ctx, db, `SELECT DISTINCT integration FROM trigger_ticks`,
		`DELETE FROM trigger_ticks WHERE integration = ? AND fired_at < ?`, at, live)
	if err != nil {
		return n + m, fmt.Errorf("prune schedule ticks: %w", err)
	}
	return n + m, nil
}

// PruneFiles deletes the file versions recorded before before that are no longer needed to
// fire each version once:
//   - those that a later version of the same path replaced: claimFile fires such a content
//     again whether or not its row is kept, so only the latest row of a path decides anything;
//   - every version of an integration that is no longer in the catalog (live false).
//
// The latest version of a path of a live integration is kept however old: deleting it would
// transfer that file again. A deleted integration keeps its versions for the retention too,
// so that applying it again (a restore, a revert) does not transfer its whole folder again.
func PruneFiles(ctx context.Context, db *store.DB, before time.Time, live func(string) bool) (int64, error) {
	at := store.Time(before)
	res, err := db.Exec(ctx, `DELETE FROM trigger_files WHERE seen_at < ?
	AND seen_at < (SELECT max(f.seen_at) FROM trigger_files f WHERE f.integration = trigger_files.integration AND f.path = trigger_files.path)`,
		at)
	if err != nil {
		return 0, fmt.Errorf("prune file versions: %w", err)
	}
	n, err := affected(res.RowsAffected())
	if err != nil {
		return 0, fmt.Errorf("prune file versions: %w", err)
	}
	m, err := pruneDead(ctx, db, `SELECT DISTINCT integration FROM trigger_files`,
		`DELETE FROM trigger_files WHERE integration = ? AND seen_at < ?`, at, live)
	if err != nil {
		return n + m, fmt.Errorf("prune file versions: %w", err)
	}
	return n + m, nil
}

// pruneDead runs list (one column of integration names) and, for each integration not live,
// del with the name and at.
func pruneDead(ctx context.Context, db *store.DB, list, del, at string, live func(string) bool) (int64, error) {
	gone, err := deadIntegrations(ctx, db, list, live)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, name := range gone {
		res, err := db.Exec(ctx, del, name, at)
		if err != nil {
			return n, fmt.Errorf("integration %s: %w", name, err)
		}
		m, err := affected(res.RowsAffected())
		if err != nil {
			return n, fmt.Errorf("integration %s: %w", name, err)
		}
		n += m
	}
	return n, nil
}

// deadIntegrations runs q (one column of integration names) and returns those not live.
func deadIntegrations(ctx context.Context, db *store.DB, q string, live func(string) bool) ([]string, error) {
	rows, err := db.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		if !live(name) {
			out = append(out, name)
		}
	}
	return out, rows.Err()
}

func affected(n int64, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return n, nil
}
