package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/datahub-oss/datahub/connector"
)

// FileRejects writes rejected records as NDJSON to Dir/rejects.ndjson, creating the folder
// and file on the first reject so that clean runs leave nothing behind. Each reject is one
// whole line written with one write; a write that fails part-way (a full disk) is cut back to
// the last whole line, so the file never ends in half a record and holds exactly Count lines.
type FileRejects struct {
	Dir   string
	RunID string

	// openFile opens the file (os.OpenFile when nil; tests give a disk that fills up).
	openFile func(name string, flag int, perm fs.FileMode) (rejectFile, error)

	mu   sync.Mutex
	f    rejectFile
	n    int64
	size int64 // the file's length after its last whole line
	path string
}

// rejectFile is what FileRejects needs of its file.
type rejectFile interface {
	io.ReaderAt
	io.WriterAt
	Truncate(size int64) error
	Sync() error
	Close() error
}

// rejectLine is one line of the rejects file.
type rejectLine struct {
	RunID string    `json:"run_id"`
	Stage string    `json:"stage"`
	Time  time.Time `json:"time"`
	connector.Reject
}

// RejectsFile is the name of the rejects file in a run's rejects folder.
const RejectsFile = "rejects.ndjson"

func (f *FileRejects) file() string { return filepath.Join(f.Dir, RejectsFile) }

// open opens the file (creating it when create is set) and counts the whole lines an earlier
// attempt left; false when there is none and create is not set.
func (f *FileRejects) open(create bool) (bool, error) {
	if f.f != nil {
		return true, nil
	}
	flag := os.O_RDWR
	if create {
		if err := os.MkdirAll(f.Dir, 0o750); err != nil {
			return false, f.fail("create the rejects folder "+f.Dir, err)
		}
		flag |= os.O_CREATE
	}
	open := f.openFile
	if open == nil {
		open = func(name string, flag int, perm fs.FileMode) (rejectFile, error) {
			return os.OpenFile(name, flag, perm) //nolint:gosec // the run's own rejects folder, named by the hub
		}
	}
	file, err := open(f.file(), flag, 0o600)
	if errors.Is(err, fs.ErrNotExist) && !create {
		return false, nil
	}
	if err != nil {
		return false, f.fail("create the rejects file "+f.file(), err)
	}
	n, size, err := countLines(file, -1)
	if err == nil {
		err = file.Truncate(size) // a line a killed process left half-written
	}
	if err != nil {
		_ = file.Close()
		return false, f.fail("read the rejects file "+f.file(), err)
	}
	f.f, f.n, f.size, f.path = file, n, size, f.Dir
	return true, nil
}

// Reject appends one record.
func (f *FileRejects) Reject(_ context.Context, stage string, r connector.Reject) error {
	line, err := json.Marshal(rejectLine{RunID: f.RunID, Stage: stage, Time: time.Now().UTC(), Reject: r})
	if err != nil {
		return fmt.Errorf("encode reject: %w", err)
	}
	line = append(line, '\n')
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.open(true); err != nil {
		return err
	}
	// Unbuffered: rejects are few, and each must be on disk before the run moves on.
	n, err := f.f.WriteAt(line, f.size)
	if err == nil && n < len(line) {
		err = io.ErrShortWrite
	}
	if err != nil {
		// No half line: cut back even when the write reported nothing written, for a full
		// disk can keep part of a write that failed (tmpfs does).
		_ = f.f.Truncate(f.size)
		return f.fail("write the rejects file "+f.file(), err)
	}
	f.n++
	f.size += int64(n)
	return nil
}

// Rewind keeps the first n rejects, dropping those a retry or a resumed run will reject
// again, and returns how many the file holds then.
func (f *FileRejects) Rewind(_ context.Context, n int64) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ok, err := f.open(false)
	if err != nil || !ok {
		return 0, err
	}
	if n >= f.n {
		return f.n, nil
	}
	kept, size, err := countLines(f.f, n)
	if err != nil {
		return 0, f.fail("read the rejects file "+f.file(), err)
	}
	if err := f.f.Truncate(size); err != nil {
		return 0, f.fail("cut back the rejects file "+f.file(), err)
	}
	f.n, f.size = kept, size
	return kept, nil
}

// fail names what could not be done with the rejects file; a full disk says so.
func (f *FileRejects) fail(doing string, err error) error {
	if connector.IsDiskFull(err) {
		return connector.DiskFull("", "the rejects of run "+f.RunID+" ("+f.file()+")", err)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// countLines reads r from the start and returns how many whole lines it holds (at most max,
// unless max is negative) and the offset after the last of them: a line cut off by a crash
// does not count.
func countLines(r io.ReaderAt, max int64) (int64, int64, error) {
	buf := make([]byte, 64<<10)
	var n, off, end int64
	for max < 0 || n < max {
		k, err := r.ReadAt(buf, off)
		for i := range k {
			if buf[i] == '\n' {
				n++
				end = off + int64(i) + 1
				if n == max {
					break
				}
			}
		}
		off += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, 0, err
		}
	}
	return n, end, nil
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
