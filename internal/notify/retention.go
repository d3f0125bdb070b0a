package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/datahub-oss/datahub/internal/store"
)

// Prune deletes the notification log recorded before before, and the throttle windows that
// ended before it with nothing held (the next notification of their rule starts a fresh
// one). Suppressed notifications still awaiting their digest are kept whatever their age.
func Prune(ctx context.Context, db *store.DB, before time.Time) (records, windows int64, err error) {
	at := store.Time(before)
	res, err := db.Exec(ctx, `DELETE FROM notify_log WHERE time < ? AND NOT (status = ? AND digest_id = '')`,
		at, string(StatusSuppressed))
	if err != nil {
		return 0, 0, fmt.Errorf("prune notification log: %w", err)
	}
	if records, err = res.RowsAffected(); err != nil {
		return 0, 0, fmt.Errorf("prune notification log: %w", err)
	}
	res, err = db.Exec(ctx, `DELETE FROM notify_throttle WHERE window_end < ? AND held = 0`, at)
	if err != nil {
		return records, 0, fmt.Errorf("prune notification throttles: %w", err)
	}
	if windows, err = res.RowsAffected(); err != nil {
		return records, 0, fmt.Errorf("prune notification throttles: %w", err)
	}
	return records, windows, nil
}
