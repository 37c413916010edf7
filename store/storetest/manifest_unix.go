//go:build unix

package storetest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Take records the tree at root.
func Take(t testing.TB, root string) Manifest {
	t.Helper()
	m := Manifest{}
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		line := fmt.Sprintf("%o %04o mtime=%d", st.Mode&unix.S_IFMT, st.Mode&0o7777, st.Mtim.Nano())
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			c, err := contentLine(p, buf)
			if err != nil {
				return err
			}
			line += c
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line += " -> " + target
		case unix.S_IFDIR:
		default:
			return nil
		}
		m[rel] = line
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
