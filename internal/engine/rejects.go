package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// FileRejects writes rejected records as NDJSON to Dir/rejects.ndjson, creating the folder
// and file on the first reject so that clean runs leave nothing behind.
type FileRejects struct {
	Dir   string
	RunID string

	mu   sync.Mutex
	f    *os.File
	n    int64
	enc  *json.Encoder
	path string
}

// rejectLine is one line of the rejects file.
type rejectLine struct {
	RunID string    `json:"run_id"`
	Stage string    `json:"stage"`
	Time  time.Time `json:"time"`
	connector.Reject
}

// Reject appends one record.
func (f *FileRejects) Reject(_ context.Context, stage string, r connector.Reject) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		if err := os.MkdirAll(f.Dir, 0o750); err != nil {
			return fmt.Errorf("create rejects folder: %w", err)
		}
		file, err := os.OpenFile(filepath.Join(f.Dir, "rejects.ndjson"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("create rejects file: %w", err)
		}
		// Unbuffered: rejects are few, and each must be on disk before the run moves on.
		f.f, f.path = file, f.Dir
		f.enc = json.NewEncoder(file)
		f.enc.SetEscapeHTML(false)
	}
	f.n++
	return f.enc.Encode(rejectLine{RunID: f.RunID, Stage: stage, Time: time.Now().UTC(), Reject: r})
}

// Count is the number of rejects written.
func (f *FileRejects) Count() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// Path is the rejects folder when anything was rejected, else "".
func (f *FileRejects) Path() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.path
}

// Close flushes and closes the file.
func (f *FileRejects) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return nil
	}
	err := f.f.Sync()
	if cerr := f.f.Close(); err == nil {
		err = cerr
	}
	f.f = nil
	return err
}
