package snapshot

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"
)

// statRoot reads the mode and mtime of the directory a store starts at
// (following a symlink).
func statRoot(dir string) (mode uint32, mtime int64, err error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("store %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return 0, 0, fmt.Errorf("store %s: not a directory", dir)
	}
	return unixMode(Dir, fi.Mode()), fi.ModTime().UnixNano(), nil
}

// unixMode is the mode a Windows entry is stored with. Windows has one
// permission bit, the read-only attribute, and Go reports every writable
// file as 0666: stored like that, a restore on Unix would hand out group
// and world write. So a file is 0644 (0444 when read-only), a directory
// 0755 (the attribute means nothing there) and a symlink 0777, as lstat
// gives on Unix.
func unixMode(t NodeType, m fs.FileMode) uint32 {
	switch {
	case t == Symlink:
		return 0o777
	case t == Dir:
		return 0o755
	case m.Perm()&0o200 == 0:
		return 0o444
	}
	return 0o644
}

// entryStater reads the entries of one directory that a store lists, by
// path and without following symlinks or junctions.
type entryStater struct{ dir string }

func newEntryStater(_ *os.File, path string) entryStater { return entryStater{dir: path} }

// lstat describes the entry name: its type (0 for a junction or another
// reparse point that is not a symlink, a pipe or a device), mode, mtime,
// and the size of a regular file. Its change time and file index stand
// for the ctime and inode that tell an unchanged file on Unix; Windows has
// no owner ids to store.
func (d entryStater) lstat(name string) (Node, error) {
	p := filepath.Join(d.dir, name)
	fi, err := os.Lstat(p)
	if err != nil {
		return Node{}, err
	}
	n := Node{Name: name, MTime: fi.ModTime().UnixNano()}
	switch fi.Mode().Type() {
	case 0:
		n.Type = File
		n.Size = uint64(fi.Size())
	case fs.ModeDir:
		n.Type = Dir
	case fs.ModeSymlink:
		n.Type = Symlink
	default:
		return n, nil
	}
	n.Mode = unixMode(n.Type, fi.Mode())
	if err := fileIdentity(p, &n); err != nil {
		return Node{}, err
	}
	return n, nil
}

// fileBasicInfo is FILE_BASIC_INFO, which golang.org/x/sys/windows lacks.
type fileBasicInfo struct {
	CreationTime, LastAccessTime, LastWriteTime, ChangeTime int64 // 100 ns since 1601
	FileAttributes                                          uint32
	_                                                       uint32
}

// fileIdentity sets n.CTime and n.Inode from the change time and file
// index of the entry at p itself. Opening it for its attributes alone
// does not conflict with whoever holds it open.
func fileIdentity(p string, n *Node) error {
	name, err := windows.UTF16PtrFromString(longPath(p))
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(name, windows.FILE_READ_ATTRIBUTES,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	var bi fileBasicInfo
	if err := windows.GetFileInformationByHandleEx(h, windows.FileBasicInfo, (*byte)(unsafe.Pointer(&bi)), uint32(unsafe.Sizeof(bi))); err != nil {
		return err
	}
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(h, &info); err != nil {
		return err
	}
	ct := windows.Filetime{LowDateTime: uint32(bi.ChangeTime), HighDateTime: uint32(bi.ChangeTime >> 32)}
	n.CTime = ct.Nanoseconds()
	n.Inode = uint64(info.FileIndexHigh)<<32 | uint64(info.FileIndexLow)
	return nil
}

// readlink reads the target of the symlink name, with '/' for '\' (a
// restore on Windows turns them back).
func (d entryStater) readlink(name string) (string, error) {
	target, err := os.Readlink(filepath.Join(d.dir, name))
	if err != nil {
		return "", err
	}
	return filepath.ToSlash(target), nil
}
