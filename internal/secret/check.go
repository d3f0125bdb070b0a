package secret

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// CheckKeys fails when a secret in the store is sealed with a master key this process does not
// have. Every process sharing a store (servers, workers) must share the master key; one started
// with a key of its own (a fresh data folder creates one) would fail every run that needs a
// secret, so it is refused at start-up instead, with what to do.
func (s *Service) CheckKeys(ctx context.Context) error {
	rows, err := s.db.Query(ctx, `SELECT key_id, count(*) FROM secret_values GROUP BY key_id ORDER BY key_id`)
	if err != nil {
		return fmt.Errorf("check the master key: %w", err)
	}
	defer func() { _ = rows.Close() }()
	s.mu.RLock()
	ring := s.ring
	s.mu.RUnlock()
	var missing []string
	n := 0
	for rows.Next() {
		var id string
		var count int
		if err := rows.Scan(&id, &count); err != nil {
			return fmt.Errorf("check the master key: %w", err)
		}
		if !slices.Contains(ring.ids, id) {
			missing = append(missing, id)
			n += count
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check the master key: %w", err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%d secret(s) in the store are sealed with master key %s, which this process does not have (it has %s): "+
			"every process sharing a store needs the same master key: set %s, or copy master.key from the first server's data folder (mode 0600)",
			n, strings.Join(missing, ", "), strings.Join(ring.ids, ", "), EnvMasterKey)
	}
	return nil
}
