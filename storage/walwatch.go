package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// walWatchFS passes every call to the file system below it and reports
// each failed write or sync of a write-ahead log file to onError before
// the error reaches Pebble.
//
// Pebble v2.1.7 keeps such an error inside its log writer and panics on a
// later commit (see DB.applyNoSyncWait); when the panic comes from a log
// rotation, the Go runtime ends the process. Marking the DB failed first
// means later commits are refused before they reach Pebble.
type walWatchFS struct {
	vfs.FS
	onError func(error)
	onSync  func() // called as each sync of a log file begins
}

func isWAL(name string) bool { return strings.HasSuffix(name, ".log") }

func (fs walWatchFS) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !isWAL(name) {
		return f, err
	}
	return walWatchFile{File: f, name: name, onError: fs.onError, onSync: fs.onSync}, nil
}

// Create creates name through the file system below.
func (fs walWatchFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return fs.wrap(name, f, err)
}

// OpenReadWrite opens name through the file system below.
func (fs walWatchFS) OpenReadWrite(name string, category vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, category, opts...)
	return fs.wrap(name, f, err)
}

// ReuseForWrite renames oldname to newname through the file system below.
func (fs walWatchFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return fs.wrap(newname, f, err)
}

// Unwrap returns the file system below.
func (fs walWatchFS) Unwrap() vfs.FS { return fs.FS }

// Lock takes the lock file name as the wrapped file system does. When the
// lock is held elsewhere it returns an error that matches ErrLocked and
// names the directory and the fix.
func (w walWatchFS) Lock(name string) (io.Closer, error) {
	c, err := w.FS.Lock(name)
	if err == nil {
		return c, nil
	}
	// fcntl(F_SETLK) fails with a bare EAGAIN or EACCES for a lock that
	// another process holds. Creating the lock file fails with a
	// *fs.PathError instead, for example EACCES on a read-only directory,
	// which is not a lock conflict. Pebble v2.1.7 reports its own lock, held by a DB
	// in this process, with an error of this text.
	var pathErr *fs.PathError
	var errno syscall.Errno
	otherProcess := !errors.As(err, &pathErr) && errors.As(err, &errno) &&
		(errno == syscall.EAGAIN || errno == syscall.EACCES)
	thisProcess := strings.Contains(err.Error(), "lock held by current process")
	if otherProcess || thisProcess {
		return nil, fmt.Errorf("%w: %s is open in another process, or in another DB of this one (%v); close that one or use another directory",
			ErrLocked, filepath.Dir(name), err)
	}
	return nil, err
}

// walWatchFile reports the failed writes and syncs of one log file.
type walWatchFile struct {
	vfs.File
	name    string
	onError func(error)
	onSync  func()
}

func (f walWatchFile) report(op string, err error) error {
	if err != nil {
		f.onError(fmt.Errorf("storage: %s write-ahead log %s: %w", op, f.name, err))
	}
	return err
}

func (f walWatchFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	return n, f.report("write", err)
}

func (f walWatchFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	return n, f.report("write", err)
}

func (f walWatchFile) Sync() error {
	f.onSync()
	return f.report("sync", f.File.Sync())
}

func (f walWatchFile) SyncData() error {
	f.onSync()
	return f.report("sync", f.File.SyncData())
}

func (f walWatchFile) SyncTo(length int64) (bool, error) {
	f.onSync()
	full, err := f.File.SyncTo(length)
	return full, f.report("sync", err)
}
