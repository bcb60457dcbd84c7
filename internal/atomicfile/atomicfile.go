// Package atomicfile replaces files so that readers, and the file system
// after a crash or power loss, see either the old content or the new one,
// never a mix, a truncated file or an empty one.
//
// Every writer goes the same way: the new content goes to a temporary file
// in the destination's directory (a rename is atomic only within one file
// system), which is fsynced, closed and renamed over the destination;
// then the directory is fsynced so the rename itself survives a crash.
// Without the first fsync a crash shortly after the rename can leave a
// zero-length file under the final name on common file systems.
//
// Temporary files are named ".<base>.<random>.tmp" next to the destination;
// IsTemp recognises them, so a folder scan can skip or prune the ones a
// killed process left behind.
package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tmpSuffix ends every temporary name; a leading dot hides it from ls.
const tmpSuffix = ".tmp"

// IsTemp reports whether a file name (not a path) is one of this package's
// temporary files.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, tmpSuffix)
}

// File is a temporary file that replaces its destination on Commit.
// Write to it like any *os.File. Exactly one of Commit or Abort ends it;
// Abort after Commit does nothing, so `defer f.Abort()` is safe.
type File struct {
	*os.File
	path string
	perm os.FileMode
	done bool
}

// Create opens a temporary file for path in path's directory, which must
// exist. Nothing at path changes until Commit.
func Create(path string, perm os.FileMode) (*File, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*"+tmpSuffix)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return &File{File: f, path: path, perm: perm}, nil
}

// Commit makes the written content the file at path: it sets the
// permissions, fsyncs and closes the temporary file, renames it over path
// and fsyncs the directory. On an error before the rename the temporary
// file is removed and path is as it was. An error from the last step means
// path has the new content, but a crash could still undo the rename.
func (f *File) Commit() error { return f.commit(true) }

// CommitNoSync renames the written content over path without either
// fsync: a killed process still leaves the old file or the whole new one,
// but after a power loss the file may be empty or hold garbage. It is for
// content whose reader checks it (a checksum) and can fetch it again, where
// two fsyncs would cost more than the write itself.
func (f *File) CommitNoSync() error { return f.commit(false) }

func (f *File) commit(sync bool) error {
	if f.done {
		return fmt.Errorf("write %s: already committed or aborted", f.path)
	}
	f.done = true
	tmp := f.Name()
	err := f.Chmod(f.perm)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	if !sync {
		return nil
	}
	if err := SyncDir(filepath.Dir(f.path)); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Detach closes the temporary file without renaming it and returns its
// name, for a writer that decides later whether the content replaces path:
// it renames the file over path itself (in the same directory, so the
// rename is atomic) or removes it. Nothing is fsynced. Abort after Detach
// does nothing; a process killed before the rename leaves the file for
// IsTemp to recognise.
func (f *File) Detach() (string, error) {
	if f.done {
		return "", fmt.Errorf("write %s: already committed or aborted", f.path)
	}
	f.done = true
	tmp := f.Name()
	err := f.Chmod(f.perm)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", f.path, err)
	}
	return tmp, nil
}

// Abort discards the temporary file and leaves path as it was. It does
// nothing after Commit or a previous Abort.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// Write replaces the file at path with data. path's directory must exist.
func Write(path string, data []byte, perm os.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.File.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// WriteNamed replaces the file at path with what fill writes to the file
// named tmp, for writers that want a file name rather than an io.Writer
// (a database's COPY ... TO). fill may truncate or recreate tmp; when it
// fails, tmp is removed and path is as it was.
func WriteNamed(path string, perm os.FileMode, fill func(tmp string) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	// Keep only the name: fill may replace the file, and an fsync through
	// a descriptor of a replaced file would sync the wrong one.
	tmp := f.Name()
	f.done = true
	defer os.Remove(tmp) // fails harmlessly once renamed
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fill(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	g, err := os.OpenFile(tmp, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f = &File{File: g, path: path, perm: perm}
	return f.Commit()
}

// SyncDir fsyncs a directory, which makes the renames, creations and
// removals in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	// Some file systems cannot fsync a directory; the rename still
	// happened and there is nothing more to do there.
	if err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
