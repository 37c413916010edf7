package object

import (
	"io"
	"io/fs"
	"os"
)

// FS is the file system under a Local backend. Every file operation of
// Local, and of a Repository writing packs for it (see Local.FS), goes
// through one, so that tests can make a chosen operation fail the way a
// full disk, a failing device or a read-only mount does (package
// object/errorfs). OSFS is the operating system's.
//
// Paths are native paths. Errors are those of package os: an
// *fs.PathError or *os.LinkError that names the file, wrapping the
// system's error (syscall.ENOSPC, fs.ErrNotExist, ...).
type FS interface {
	// CreateTemp creates a new file for writing in dir, its name made
	// from pattern as os.CreateTemp does.
	CreateTemp(dir, pattern string) (File, error)
	// Open opens a file for reading.
	Open(name string) (File, error)
	// Rename moves oldpath to newpath, replacing what is there.
	Rename(oldpath, newpath string) error
	// Remove deletes a file or an empty directory.
	Remove(name string) error
	// MkdirAll creates dir and any missing parents.
	MkdirAll(dir string, perm fs.FileMode) error
	// Stat follows symlinks; Lstat does not.
	Stat(name string) (fs.FileInfo, error)
	Lstat(name string) (fs.FileInfo, error)
	// ReadDir lists a directory, sorted by name.
	ReadDir(dir string) ([]fs.DirEntry, error)
	// SyncDir makes the entries of dir (a rename, a new file) durable.
	SyncDir(dir string) error
}

// File is an open file of an FS.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer
	// Name is the path the file was opened or created with.
	Name() string
	Stat() (fs.FileInfo, error)
	// Sync makes what was written durable.
	Sync() error
}

// OSFS is the operating system's file system. Its files are *os.File, so
// io.Copy into one still takes the kernel's fast paths.
var OSFS FS = osFS{}

type osFS struct{}

func (osFS) CreateTemp(dir, pattern string) (File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Rename(oldpath, newpath string) error        { return os.Rename(oldpath, newpath) }
func (osFS) Remove(name string) error                    { return os.Remove(name) }
func (osFS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) Stat(name string) (fs.FileInfo, error)       { return os.Stat(name) }
func (osFS) Lstat(name string) (fs.FileInfo, error)      { return os.Lstat(name) }
func (osFS) ReadDir(dir string) ([]fs.DirEntry, error)   { return os.ReadDir(dir) }
func (osFS) SyncDir(dir string) error                    { return SyncDir(dir) }
func (osFS) Link(oldpath, newpath string) error          { return os.Link(oldpath, newpath) }
func (osFS) RenameNoReplace(oldpath, newpath string) error {
	return renameNoReplace(oldpath, newpath)
}

// ExclusiveRenamer is an optional FS ability: rename oldpath to newpath in
// one step unless newpath exists (fs.ErrExist; errors.ErrUnsupported where
// the filesystem cannot). Local.Create uses it where hard links are
// missing.
type ExclusiveRenamer interface {
	RenameNoReplace(oldpath, newpath string) error
}

// Linker is an optional FS ability: make newpath a hard link to oldpath,
// failing with fs.ErrExist when newpath exists (Local.Create's atomic
// create-only write).
type Linker interface {
	Link(oldpath, newpath string) error
}

// fsUser is a backend whose files live on an FS (Local): a Repository
// writes the temporary files of its packs through it, so a full disk
// under the backend fails those writes too.
type fsUser interface{ FS() FS }

// backendFS is the FS a repository over be writes its packs' temporary
// files with.
func backendFS(be Backend) FS {
	if u, ok := be.(fsUser); ok {
		if f := u.FS(); f != nil {
			return f
		}
	}
	return OSFS
}
