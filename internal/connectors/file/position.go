package file

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/datahub-oss/datahub/connector"
)

// posMarker is part of the name of the sidecar file in which an append run keeps its flushed
// size and source position (".name.datahub-pos-<run>"); List hides them.
const posMarker = ".datahub-pos-"

// maxSidecar bounds what is read of a sidecar: it holds a size and one source position.
const maxSidecar = 1 << 20

// sidecar is what an append run records at each Flush with a position: the size of the
// target once the flushed rows were synced, and the source position after the last of them.
// A resumed run cuts the target back to Size (dropping what the killed run wrote after its
// last Flush) and reads the source from Position.
type sidecar struct {
	Size     int64  `json:"size"`
	Position []byte `json:"position"` // base64 in JSON; null before the first position
	RunID    string `json:"run_id"`
}

// sidecarName is the store path of the sidecar of run for the file name.
func sidecarName(name, run string) string {
	dir, base := filepath.Split(name)
	return filepath.Join(dir, "."+base+posMarker+unsafeRun.ReplaceAllString(run, "_"))
}

// readSidecar returns the sidecar at name, or nil when there is none.
func (s *Store) readSidecar(endpoint, name, run string) (*sidecar, error) {
	f, err := s.openFile(name, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, osError(endpoint, name, err)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSidecar))
	_ = f.Close()
	if err != nil {
		return nil, osError(endpoint, name, err)
	}
	var sc sidecar
	if err := json.Unmarshal(b, &sc); err != nil || sc.Size < 0 {
		if err == nil {
			err = fmt.Errorf("negative size %d", sc.Size)
		}
		return nil, connector.Errorf(connector.CodeData, endpoint, "the file was not written by Data Hub; remove it and start a new run",
			fmt.Errorf("resume record %s of run %s is damaged: %v", name, run, err))
	}
	if sc.RunID != run {
		return nil, connector.Errorf(connector.CodeConflict, endpoint, "remove it if that run will not be resumed",
			fmt.Errorf("resume record %s belongs to run %s, not %s", name, sc.RunID, run))
	}
	return &sc, nil
}

// writeSidecar replaces the sidecar at name atomically: it writes a temporary file, syncs
// it, renames it over name and syncs the folder.
func (s *Store) writeSidecar(name string, sc sidecar) error {
	b, err := json.Marshal(sc)
	if err != nil {
		return err
	}
	tmp := name + ".tmp"
	_ = s.remove(tmp) // left by a run killed while writing it
	f, err := s.openFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.rename(tmp, name)
	}
	if err != nil {
		_ = s.remove(tmp)
		return err
	}
	return s.syncDir(filepath.Dir(name))
}

// removeSidecar deletes the sidecar at name once its run has finished.
func (s *Store) removeSidecar(name string) error {
	if err := s.remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_ = s.remove(name + ".tmp")
	return s.syncDir(filepath.Dir(name))
}
