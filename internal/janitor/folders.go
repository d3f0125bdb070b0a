package janitor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"
)

// pruneFiles deletes the regular files under dir last modified before before, then the
// folders left empty whose last change (before this sweep) is older too: a folder written
// to recently may be about to receive a file. Everything goes through an os.Root on dir, so
// neither a symlink nor a ".." leads outside it; symlinks are neither followed nor deleted.
// A missing dir has nothing to delete.
func pruneFiles(dir string, before time.Time) (files, folders int, err error) {
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("janitor: open %s: %w", dir, err)
	}
	defer func() { _ = root.Close() }()
	var idle []string // folders with no change since before, each after its parent
	var errs []error
	walkErr := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// A file or folder removed meanwhile (by another server) is not a failure.
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return nil
		}
		switch {
		case d.IsDir():
			if p != "." && info.ModTime().Before(before) {
				idle = append(idle, p)
			}
		case d.Type().IsRegular() && info.ModTime().Before(before):
			if err := root.Remove(p); err == nil {
				files++
			} else if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, walkErr)
	}
	// WalkDir lists a folder before what it holds, so in reverse every folder comes after
	// its subfolders and a parent emptied by their removal goes too; Remove refuses a folder
	// that is not empty, which is the check.
	for _, p := range slices.Backward(idle) {
		if err := root.Remove(p); err == nil {
			folders++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return files, folders, fmt.Errorf("janitor: prune %s: %w", dir, err)
	}
	return files, folders, nil
}

// pruneFolders deletes the folders directly under dir (one per run) whose newest content,
// the folder included, was modified before before. Symlinks are neither followed nor
// deleted; the removal is confined to dir by an os.Root.
func pruneFolders(dir string, before time.Time) (int, error) {
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("janitor: open %s: %w", dir, err)
	}
	defer func() { _ = root.Close() }()
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return 0, fmt.Errorf("janitor: read %s: %w", dir, err)
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		newest, err := newestChange(root.FS(), e.Name())
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !newest.Before(before) {
			continue
		}
		if err := root.RemoveAll(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("janitor: prune %s: %w", dir, err)
	}
	return n, nil
}

// newestChange is the latest modification time under p, p included, without following
// symlinks.
func newestChange(fsys fs.FS, p string) (time.Time, error) {
	var newest time.Time
	err := fs.WalkDir(fsys, p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if t := info.ModTime(); t.After(newest) {
			newest = t
		}
		return nil
	})
	return newest, err
}
