// Package errorfs wraps an object.FS so that tests can make chosen file
// operations fail: the N-th one, or every one a predicate picks, with the
// error a full disk (syscall.ENOSPC), a failing device (syscall.EIO) or a
// read-only mount (syscall.EROFS) returns. It is modelled on pebble's
// vfs/errorfs.
//
// An injected error looks like the operating system's: an *fs.PathError
// (an *os.LinkError for a rename) naming the file, wrapping the chosen
// error, so callers' messages and errors.Is checks see what they would on
// a real disk. A failed operation has no effect; a failed Write writes
// nothing.
//
//	inj := errorfs.FailNth(7, syscall.ENOSPC, errorfs.Writes, true)
//	be := object.NewLocalFS(dir, errorfs.Wrap(object.OSFS, inj))
package errorfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"

	"github.com/silo-dev/silo/object"
)

// OpKind is a kind of file operation.
type OpKind uint8

// The operations an object.FS and its files perform.
const (
	OpCreate  OpKind = iota // FS.CreateTemp
	OpOpen                  // FS.Open
	OpRead                  // File.Read, File.ReadAt
	OpWrite                 // File.Write
	OpSync                  // File.Sync
	OpClose                 // File.Close
	OpStat                  // FS.Stat, FS.Lstat, File.Stat
	OpRename                // FS.Rename
	OpRemove                // FS.Remove
	OpMkdir                 // FS.MkdirAll
	OpReadDir               // FS.ReadDir
	OpSyncDir               // FS.SyncDir
)

var opNames = [...]string{"create", "open", "read", "write", "sync", "close", "stat", "rename", "remove", "mkdir", "readdir", "syncdir"}

func (k OpKind) String() string {
	if int(k) < len(opNames) {
		return opNames[k]
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is one operation about to happen.
type Op struct {
	Kind OpKind
	Path string // the file or directory (for a rename, the old path)
}

// Injector decides whether an operation fails: a non-nil error fails it.
// It must be safe for concurrent use.
type Injector interface {
	MaybeError(op Op) error
}

// Predicate picks operations.
type Predicate func(Op) bool

// Any picks every operation.
func Any(Op) bool { return true }

// Writes picks the operations that need space or a writable mount:
// creating, writing, syncing, renaming, making directories and syncing
// them. Removing is left out: a full disk still deletes, and cleanup
// after a failure should be able to.
func Writes(op Op) bool {
	switch op.Kind {
	case OpCreate, OpWrite, OpSync, OpRename, OpMkdir, OpSyncDir:
		return true
	}
	return false
}

// Mutations picks what changes the file system: Writes and removals (a
// read-only mount refuses them all).
func Mutations(op Op) bool { return Writes(op) || op.Kind == OpRemove }

// Nth fails the N-th operation (counting from 1) its predicate picks and,
// when sticky, every picked one after it: a disk that fills stays full.
// N = 0 never fails, which counts the operations a workload does (Seen).
type Nth struct {
	n      int64
	err    error
	match  Predicate
	sticky bool
	seen   atomic.Int64
	hits   atomic.Int64
}

// FailNth returns an Nth injector; match nil picks every operation.
func FailNth(n int64, err error, match Predicate, sticky bool) *Nth {
	if match == nil {
		match = Any
	}
	return &Nth{n: n, err: err, match: match, sticky: sticky}
}

// MaybeError implements Injector.
func (c *Nth) MaybeError(op Op) error {
	if !c.match(op) {
		return nil
	}
	k := c.seen.Add(1)
	if c.n > 0 && (k == c.n || (c.sticky && k > c.n)) {
		c.hits.Add(1)
		return c.err
	}
	return nil
}

// Seen is how many picked operations happened.
func (c *Nth) Seen() int64 { return c.seen.Load() }

// Hits is how many operations it failed.
func (c *Nth) Hits() int64 { return c.hits.Load() }

// Every fails every operation match picks with err, counting them.
type Every struct {
	err   error
	match Predicate
	hits  atomic.Int64
}

// FailEvery returns an Every injector; match nil picks every operation.
func FailEvery(err error, match Predicate) *Every {
	if match == nil {
		match = Any
	}
	return &Every{err: err, match: match}
}

// MaybeError implements Injector.
func (e *Every) MaybeError(op Op) error {
	if e.match(op) {
		e.hits.Add(1)
		return e.err
	}
	return nil
}

// Hits is how many operations it failed.
func (e *Every) Hits() int64 { return e.hits.Load() }

// Wrap returns fsys with inj asked before every operation.
func Wrap(fsys object.FS, inj Injector) object.FS {
	return &errFS{fs: fsys, inj: inj}
}

type errFS struct {
	fs  object.FS
	inj Injector
}

func (e *errFS) check(kind OpKind, path string) error {
	if err := e.inj.MaybeError(Op{Kind: kind, Path: path}); err != nil {
		return &fs.PathError{Op: kind.String(), Path: path, Err: err}
	}
	return nil
}

func (e *errFS) CreateTemp(dir, pattern string) (object.File, error) {
	if err := e.check(OpCreate, dir); err != nil {
		return nil, err
	}
	f, err := e.fs.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &errFile{File: f, fs: e}, nil
}

func (e *errFS) Open(name string) (object.File, error) {
	if err := e.check(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.fs.Open(name)
	if err != nil {
		return nil, err
	}
	return &errFile{File: f, fs: e}, nil
}

func (e *errFS) Rename(oldpath, newpath string) error {
	if err := e.inj.MaybeError(Op{Kind: OpRename, Path: oldpath}); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return e.fs.Rename(oldpath, newpath)
}

// Link fails as a rename does (the same kind of operation), and is there
// only when the wrapped FS has it.
func (e *errFS) Link(oldpath, newpath string) error {
	l, ok := e.fs.(object.Linker)
	if !ok {
		return &os.LinkError{Op: "link", Old: oldpath, New: newpath, Err: errors.ErrUnsupported}
	}
	if err := e.inj.MaybeError(Op{Kind: OpRename, Path: oldpath}); err != nil {
		return &os.LinkError{Op: "link", Old: oldpath, New: newpath, Err: err}
	}
	return l.Link(oldpath, newpath)
}

// RenameNoReplace fails as a rename does, and is there only when the
// wrapped FS has it.
func (e *errFS) RenameNoReplace(oldpath, newpath string) error {
	r, ok := e.fs.(object.ExclusiveRenamer)
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: errors.ErrUnsupported}
	}
	if err := e.inj.MaybeError(Op{Kind: OpRename, Path: oldpath}); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return r.RenameNoReplace(oldpath, newpath)
}

func (e *errFS) Remove(name string) error {
	if err := e.check(OpRemove, name); err != nil {
		return err
	}
	return e.fs.Remove(name)
}

func (e *errFS) MkdirAll(dir string, perm fs.FileMode) error {
	if err := e.check(OpMkdir, dir); err != nil {
		return err
	}
	return e.fs.MkdirAll(dir, perm)
}

func (e *errFS) Stat(name string) (fs.FileInfo, error) {
	if err := e.check(OpStat, name); err != nil {
		return nil, err
	}
	return e.fs.Stat(name)
}

func (e *errFS) Lstat(name string) (fs.FileInfo, error) {
	if err := e.check(OpStat, name); err != nil {
		return nil, err
	}
	return e.fs.Lstat(name)
}

func (e *errFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	if err := e.check(OpReadDir, dir); err != nil {
		return nil, err
	}
	return e.fs.ReadDir(dir)
}

func (e *errFS) SyncDir(dir string) error {
	if err := e.check(OpSyncDir, dir); err != nil {
		return err
	}
	return e.fs.SyncDir(dir)
}

type errFile struct {
	object.File
	fs *errFS
}

func (f *errFile) Read(p []byte) (int, error) {
	if err := f.fs.check(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f *errFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.check(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *errFile) Write(p []byte) (int, error) {
	if err := f.fs.check(OpWrite, f.Name()); err != nil {
		return 0, err
	}
	return f.File.Write(p)
}

func (f *errFile) Sync() error {
	if err := f.fs.check(OpSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

// Close releases the file even when it fails (as os.File.Close does), so
// an injected close error leaks no descriptor.
func (f *errFile) Close() error {
	err := f.fs.check(OpClose, f.Name())
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	return err
}

func (f *errFile) Stat() (fs.FileInfo, error) {
	if err := f.fs.check(OpStat, f.Name()); err != nil {
		return nil, err
	}
	return f.File.Stat()
}
