//go:build unix

package snapshot

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// statRoot reads the mode and mtime of the directory a store starts at
// (following a symlink).
func statRoot(dir string) (mode uint32, mtime int64, err error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("store %s: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return 0, 0, fmt.Errorf("store %s: not a directory", dir)
	}
	// st.Mode is a uint16 on macOS and the BSDs
	return uint32(st.Mode) & ModeMask, st.Mtim.Nano(), nil
}

// entryStater reads the entries of one directory that a store lists,
// relative to its descriptor and without following symlinks.
type entryStater struct{ fd int }

func newEntryStater(f *os.File, _ string) entryStater { return entryStater{fd: int(f.Fd())} }

// lstat describes the entry name: its type (0 for a socket, device or
// fifo), mode, times, inode and owner, and the size of a regular file.
func (d entryStater) lstat(name string) (Node, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Node{}, err
	}
	n := Node{Name: name, Mode: uint32(st.Mode) & ModeMask, MTime: st.Mtim.Nano(), CTime: st.Ctim.Nano(),
		Inode: st.Ino, UID: st.Uid, GID: st.Gid}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		n.Type = File
		n.Size = uint64(st.Size)
	case unix.S_IFDIR:
		n.Type = Dir
	case unix.S_IFLNK:
		n.Type = Symlink
	}
	return n, nil
}

// readlink reads the target of the symlink name.
func (d entryStater) readlink(name string) (string, error) {
	target := make([]byte, 256)
	for {
		k, err := unix.Readlinkat(d.fd, name, target)
		if err != nil {
			return "", err
		}
		if k < len(target) {
			return string(target[:k]), nil
		}
		target = make([]byte, 2*len(target))
	}
}
