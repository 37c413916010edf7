//go:build unix

package storetest

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// entryLine is the manifest line of the entry at p (ok false: left out).
func entryLine(p string, buf []byte) (line string, ok bool, err error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return "", false, err
	}
	line = fmt.Sprintf("%o %04o mtime=%d", st.Mode&unix.S_IFMT, st.Mode&0o7777, st.Mtim.Nano())
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		c, err := contentLine(p, buf)
		if err != nil {
			return "", false, err
		}
		line += c
	case unix.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			return "", false, err
		}
		line += " -> " + target
	case unix.S_IFDIR:
	default:
		return "", false, nil
	}
	return line, true, nil
}
