package storetest

import (
	"fmt"
	"io/fs"
	"os"
)

// Unix file type bits, so that a line reads as on Unix.
const (
	typeReg  = 0o100000
	typeDir  = 0o40000
	typeLink = 0o120000
)

// entryLine is the manifest line of the entry at p (ok false: left out).
// Windows has one permission bit, the read-only attribute: a file's line
// holds the mode Go reports for it (0444 or 0666); a directory's and a
// symlink's hold 0, as a restore does not set their attributes. Junctions and other reparse points that are
// not symlinks are left out, as silo does not store them.
func entryLine(p string, buf []byte) (line string, ok bool, err error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return "", false, err
	}
	mtime := fi.ModTime().UnixNano()
	switch fi.Mode().Type() {
	case 0:
		c, err := contentLine(p, buf)
		if err != nil {
			return "", false, err
		}
		line = fmt.Sprintf("%o %04o mtime=%d", typeReg, fi.Mode().Perm(), mtime) + c
	case fs.ModeSymlink:
		target, err := os.Readlink(p)
		if err != nil {
			return "", false, err
		}
		line = fmt.Sprintf("%o %04o mtime=%d", typeLink, 0, mtime) + " -> " + target
	case fs.ModeDir:
		line = fmt.Sprintf("%o %04o mtime=%d", typeDir, 0, mtime)
	default:
		return "", false, nil
	}
	return line, true, nil
}
