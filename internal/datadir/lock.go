// Package datadir guards a data folder: one server or worker process at a time.
//
// Two processes on one data folder each run an embedded NATS server on the same JetStream
// store and each sweep and write the same files: acknowledged messages are lost. The lock is
// an flock(2) on <data>/datahub.lock, which the kernel drops when the process ends however it
// ends (kill -9 included), so there is never a stale lock to clear by hand. The file also
// names its holder (pid, host, command, start time) so that a refused start can say which
// process to stop; the name is only read while the lock is held, so it is never stale either.
//
// Only the long-running processes take it. `datahub copy` does not: it opens nothing but the
// SQLite store (which serialises writers itself: WAL, a busy timeout, immediate transactions)
// and a rejects folder named by its own new run id, and starts no NATS, scheduler, janitor or
// worker, so it loses nothing next to a server; locking it out would refuse every copy while a
// local server runs. Readers (`datahub runs list`) do not take it either.
package datadir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// LockName is the lock file's name inside the data folder.
const LockName = "datahub.lock"

// Holder describes the process holding a data folder.
type Holder struct {
	PID     int       `json:"pid"`
	Host    string    `json:"host"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

// String is the holder as a refusal names it: "datahub serve (pid 1234 on host x, since ...)".
func (h Holder) String() string {
	if h.PID == 0 {
		// Locked but not yet described: the holder is between its flock and its write.
		return "another process (it is starting)"
	}
	cmd := h.Command
	if cmd == "" {
		cmd = "another process"
	}
	return fmt.Sprintf("%s (pid %d on host %s, since %s)", cmd, h.PID, h.Host, h.Since.UTC().Format(time.RFC3339))
}

// ErrInUse is matched (errors.Is) by the error of Acquire on a folder another process holds.
var ErrInUse = errors.New("data folder in use")

// InUseError is Acquire's refusal: the folder and the process that holds it.
type InUseError struct {
	Dir    string
	Holder Holder
}

func (e *InUseError) Error() string {
	return fmt.Sprintf("data folder %s is in use by %s; stop it or use another --data", e.Dir, e.Holder)
}

// Is makes errors.Is(err, ErrInUse) true.
func (e *InUseError) Is(target error) bool { return target == ErrInUse }

// Lock is a held data folder. Release it (or let the process end) to let another process in.
type Lock struct {
	f *os.File
}

// Acquire takes the data folder dir (created if missing) for this process, described as
// command (e.g. "datahub serve"). It does not wait: a folder another process holds is refused
// at once with an *InUseError naming that process. The lock is per open file, so a second
// Acquire in the same process is refused too.
func Acquire(dir, command string) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil { //nolint:gosec // the operator's own data folder, from its settings
		return nil, fmt.Errorf("create data folder %s: %w", dir, err)
	}
	path := filepath.Join(dir, LockName)
	// No O_TRUNC: the file is only rewritten once the lock is ours, so a refused start
	// never erases the holder's description.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // the operator's own data folder
	if err != nil {
		return nil, fmt.Errorf("open the data folder's lock %s: %w", path, err)
	}
	if err := flock(f); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &InUseError{Dir: dir, Holder: readHolder(path)}
		}
		return nil, fmt.Errorf("lock the data folder %s: %w", dir, err)
	}
	host, _ := os.Hostname()
	h := Holder{PID: os.Getpid(), Host: host, Command: command, Since: time.Now().UTC().Truncate(time.Second)}
	if err := writeHolder(f, h); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("describe the holder in %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Release lets the folder go. It is safe to call more than once and on nil.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	// Closing the only descriptor of the open file drops the flock.
	return f.Close()
}

// flock takes an exclusive lock on f without waiting, retrying an interrupted call.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) // #nosec G115 -- a file descriptor fits an int
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func writeHolder(f *os.File, h Holder) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(append(b, '\n'), 0); err != nil {
		return err
	}
	return f.Sync()
}

// readHolder reads the holder's description; an unreadable or half-written one describes an
// unknown process rather than failing the refusal.
func readHolder(path string) Holder {
	var h Holder
	b, err := os.ReadFile(path) //nolint:gosec // the lock file Acquire just opened
	if err != nil {
		return h
	}
	_ = json.Unmarshal([]byte(strings.TrimSpace(string(b))), &h)
	return h
}
