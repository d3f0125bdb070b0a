package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/datahub-oss/datahub/internal/audit"
	"github.com/datahub-oss/datahub/internal/secret"
	"github.com/datahub-oss/datahub/internal/store"
)

func newMasterKeyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "master-key", Short: "Manage the key that encrypts secrets at rest"}
	var data, storeURL, anchorFile string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Re-encrypt every secret with a new master key",
		Long: `Re-encrypt every stored secret with a new master key, in one transaction.

With the key in <data>/master.key, the new key is first written to <data>/master.key.next
(so it is on disk before any secret depends on it), then the secrets are re-encrypted, then
master.key is replaced and the old key kept as master.key.old-<time> (all mode 0600).
With DATAHUB_MASTER_KEY set, the new key is printed once: set it on every server before
restarting them. Servers still running with the old key cannot read secrets until restarted.

The audit chain is re-keyed in the same transaction (its entries are chained under a key
derived from the master key), and the rotation itself is an audit entry chained under the new
key; then the new head is written to the audit anchor file (--anchor-file).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			data := dataDir(data)
			if anchorFile == "" {
				anchorFile = filepath.Join(data, audit.AnchorFileName)
			}
			db, err := store.Open(ctx, storeURL, data)
			if err != nil {
				return &exitError{code: ExitFailed, err: err}
			}
			defer func() { _ = db.Close() }()
			if err := db.Migrate(ctx); err != nil {
				return &exitError{code: ExitFailed, err: err}
			}
			oldKey, _, err := secret.LoadMasterKey(data)
			if err != nil {
				return &exitError{code: ExitFailed, err: err}
			}
			ring, err := secret.NewKeyring(oldKey)
			if err != nil {
				return &exitError{code: ExitFailed, err: err}
			}
			newKey, err := secret.NewKey()
			if err != nil {
				return &exitError{code: ExitFailed, err: err}
			}
			_, fromEnv := os.LookupEnv(secret.EnvMasterKey)
			next := filepath.Join(data, "master.key.next")
			if fromEnv {
				_, _ = fmt.Fprintf(g.stdout, "%s\n", newKey.Encode())
				_, _ = fmt.Fprintf(g.stderr, "The new master key is above: set %s to it on every server, then restart them.\n", secret.EnvMasterKey)
			} else {
				f, err := os.OpenFile(next, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) //nolint:gosec // the operator's own data folder
				if err != nil {
					return &exitError{code: ExitFailed, err: fmt.Errorf("stage the new key (remove a stale %s after checking it is not needed): %w", next, err)}
				}
				_, werr := f.WriteString(newKey.Encode() + "\n")
				if serr := f.Sync(); werr == nil {
					werr = serr
				}
				if cerr := f.Close(); werr == nil {
					werr = cerr
				}
				if werr != nil {
					return &exitError{code: ExitFailed, err: fmt.Errorf("stage the new key: %w", werr)}
				}
			}
			log, nSecrets, err := openRotateAudit(ctx, db, oldKey, anchorFile)
			if err != nil {
				if !fromEnv {
					_ = os.Remove(next)
				}
				return &exitError{code: ExitFailed, err: err}
			}
			newChain, err := audit.KeyFor(newKey)
			if err != nil {
				return &exitError{code: ExitFailed, err: err}
			}
			var rot audit.Entry
			n, err := secret.New(db, ring).Rotate(ctx, newKey, func(ctx context.Context, tx *store.Tx) error {
				var err error
				rot, err = log.RotateTx(ctx, tx, newChain, rotateActor(), map[string]any{"secrets": nSecrets})
				return err
			})
			if err != nil {
				if !fromEnv {
					_ = os.Remove(next)
				}
				return &exitError{code: ExitFailed, err: err}
			}
			if !fromEnv {
				if err := secret.WriteKeyFile(data, newKey); err != nil {
					return &exitError{code: ExitFailed, err: fmt.Errorf("secrets are re-encrypted with the key in %s, but master.key could not be replaced: %w", next, err)}
				}
				_ = os.Remove(next)
			}
			_, _ = fmt.Fprintf(g.stderr, "re-encrypted %d secret(s): master key %s replaced by %s\n", n, oldKey.ID(), newKey.ID())
			log.UseKey(newChain)
			an := audit.Anchor{Seq: rot.Seq, Hash: rot.Hash, At: rot.At.UTC(), Scheme: newChain.Scheme(), KeyID: newChain.ID()}
			if err := audit.AddAnchor(anchorFile, an, 0); err != nil {
				return &exitError{code: ExitFailed, err: fmt.Errorf("the key is rotated and the audit chain re-keyed, but the new anchor was not written: %w", err)}
			}
			_, _ = fmt.Fprintf(g.stderr, "re-keyed the audit chain: the rotation is entry %d; anchor %s written to %s\n", rot.Seq, an, anchorFile)
			return nil
		},
	}
	rotate.Flags().StringVar(&data, "data", "", "data folder (default ./datahub-data, env DATAHUB_DATA)")
	rotate.Flags().StringVar(&storeURL, "store", os.Getenv("DATAHUB_STORE"), "PostgreSQL store URL (default: SQLite in the data folder)")
	rotate.Flags().StringVar(&anchorFile, "anchor-file", os.Getenv("DATAHUB_AUDIT_ANCHOR_FILE"), "the audit anchor file (default <data>/audit-anchor.json, env DATAHUB_AUDIT_ANCHOR_FILE)")
	cmd.AddCommand(rotate)
	return cmd
}

// openRotateAudit opens the audit log under the current master key, re-keying a plain chain
// left by an earlier version first (as a server's start would), and counts the secrets.
func openRotateAudit(ctx context.Context, db *store.DB, key secret.Key, anchorFile string) (*audit.Log, int, error) {
	ck, err := audit.KeyFor(key)
	if err != nil {
		return nil, 0, err
	}
	l := audit.NewKeyed(db, ck)
	af, err := audit.ReadAnchorFile(anchorFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, 0, err
	}
	if _, err := l.EnsureKeyed(ctx, rotateActor(), af.Anchors); err != nil {
		return nil, 0, err
	}
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM secret_values`).Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("count the secrets: %w", err)
	}
	return l, n, nil
}

// rotateActor names who rotated in the audit log: the local operating system user.
func rotateActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "local:" + u.Username
	}
	return "local"
}
