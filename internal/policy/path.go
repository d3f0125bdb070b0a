package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CheckPath reports whether a local file or folder may be opened by an endpoint: its real
// location (every symbolic link resolved, ".." taken as the kernel takes it) must lie inside
// a file root and outside the rest of the data folder, it must not be the metadata store, and
// an existing regular file must have a single link.
//
// Why refuse hard-linked files rather than compare them with the sensitive ones: a hard link
// is the same file under another name, so no path check can see where it leads, and the set
// of files to protect is open-ended (everything in the data folder, and anything outside the
// roots such as /etc/shadow). A file with more than one link may be reachable outside the
// roots; one with a single link is only where its path says. Files the hub writes (temporary
// name, then rename) always have one link.
func (p *Policy) CheckPath(path string) error {
	shown := path
	real, err := realPath(path)
	if err != nil {
		return &Error{What: shown, Why: err.Error(), Hint: "point the endpoint at a plain path inside a file root"}
	}
	if real != shown {
		shown = fmt.Sprintf("%s (%s)", path, real)
	}
	data := realOrAbs(p.data)
	files := realOrAbs(p.files)
	if within(real, data) && !within(real, files) {
		return &Error{What: shown, Why: fmt.Sprintf("it is in the hub's data folder %s, which holds the store, the master key and the hub's own files", p.data),
			Hint: fmt.Sprintf("only its %s/ folder (%s) is open to endpoints", FilesDir, p.files)}
	}
	if p.storeFile != "" && p.isStore(real) {
		return &Error{What: shown, Why: "it is the hub's metadata store", Hint: "endpoints may not open the hub's own store"}
	}
	inRoot := false
	for _, r := range p.roots {
		if within(real, realOrAbs(r)) {
			inRoot = true
			break
		}
	}
	if !inRoot {
		return &Error{What: shown, Why: fmt.Sprintf("it is outside the hub's file roots (%s)", strings.Join(p.roots, ", ")),
			Hint: "move it under one of them, or add its folder to file_roots (--file-root, DATAHUB_FILE_ROOTS)"}
	}
	if fi, err := os.Stat(real); err == nil && fi.Mode().IsRegular() {
		if n := links(fi); n > 1 {
			return &Error{What: shown, Why: fmt.Sprintf("the file has %d hard links, so it may be a file outside the roots under another name", n),
				Hint: "copy the file instead of linking it"}
		}
	}
	return nil
}

// isStore reports whether real is the SQLite store or one of its companion files.
func (p *Policy) isStore(real string) bool {
	st := realOrAbs(p.storeFile)
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		if real == st+suffix {
			return true
		}
	}
	a, err := os.Stat(real)
	if err != nil {
		return false
	}
	b, err := os.Stat(p.storeFile)
	return err == nil && os.SameFile(a, b)
}

// realPath is where path leads: the longest existing prefix with every symbolic link
// resolved (filepath.EvalSymlinks takes ".." after resolving what precedes it, as the kernel
// does), then the components that do not exist yet. A ".." among those, or a dangling
// symbolic link, is an error: what it leads to is decided only when it is created.
func realPath(path string) (string, error) {
	if strings.ContainsRune(path, 0) {
		return "", errors.New("the path holds a NUL byte")
	}
	abs := path
	if !filepath.IsAbs(abs) {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		// Not filepath.Join: it would take ".." lexically, before symbolic links.
		abs = wd + string(filepath.Separator) + path
	}
	vol := filepath.VolumeName(abs)
	sep := string(filepath.Separator)
	// parts[0] is "" (the path is absolute): prefixes are joined raw, ".." in place.
	parts := strings.Split(abs[len(vol):], sep)
	for i := len(parts); i >= 1; i-- {
		prefix := vol + strings.Join(parts[:i], sep)
		if i == 1 {
			prefix = vol + sep
		}
		real, err := filepath.EvalSymlinks(prefix)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return "", fmt.Errorf("cannot resolve it: %v", unwrapPath(err))
		}
		rest := parts[i:]
		for _, c := range rest {
			if c == ".." {
				return "", errors.New("it has a .. after a folder that does not exist yet")
			}
		}
		if len(rest) > 0 {
			next := filepath.Join(real, rest[0])
			if _, err := os.Lstat(next); err == nil {
				return "", fmt.Errorf("%s is a symbolic link to a missing file", next)
			}
		}
		return filepath.Join(append([]string{real}, rest...)...), nil
	}
	return "", errors.New("no part of it exists")
}

// realOrAbs is dir with its symbolic links resolved, or as it is when it does not exist.
func realOrAbs(dir string) string {
	if r, err := filepath.EvalSymlinks(dir); err == nil {
		return r
	}
	return filepath.Clean(dir)
}

// within reports whether path is dir or inside it (both clean and absolute).
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// unwrapPath drops the *PathError's copy of the path, which the message already names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
