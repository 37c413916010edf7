package storetest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Unix file type bits, so that a line reads as on Unix.
const (
	typeReg  = 0o100000
	typeDir  = 0o40000
	typeLink = 0o120000
)

// Take records the tree at root. Windows has one permission bit, the
// read-only attribute: a file's line holds the mode Go reports for it
// (0444 or 0666); a directory's and a symlink's hold 0, as a restore does
// not set their attributes. Junctions and other reparse points that are
// not symlinks are left out, as silo does not store them.
func Take(t testing.TB, root string) Manifest {
	t.Helper()
	m := Manifest{}
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel) // keys as on Unix
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		mtime := fi.ModTime().UnixNano()
		var line string
		switch fi.Mode().Type() {
		case 0:
			c, err := contentLine(p, buf)
			if err != nil {
				return err
			}
			line = fmt.Sprintf("%o %04o mtime=%d", typeReg, fi.Mode().Perm(), mtime) + c
		case fs.ModeSymlink:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			line = fmt.Sprintf("%o %04o mtime=%d", typeLink, 0, mtime) + " -> " + target
		case fs.ModeDir:
			line = fmt.Sprintf("%o %04o mtime=%d", typeDir, 0, mtime)
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
