package txlog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/datahub-oss/datahub/internal/store"
)

// ErrNoLog is returned by OpenExisting when the data folder holds no transaction log yet.
var ErrNoLog = errors.New("no transaction log")

// OpenExisting opens the transaction log in dir only if there is one: the commands that only
// read runs create nothing (neither the folder nor the database) where nothing was written.
func OpenExisting(ctx context.Context, dir string) (*Log, error) {
	_, err := os.Stat(filepath.Join(dir, store.FileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoLog, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open transaction log: %w", err)
	}
	return Open(ctx, dir)
}
