//go:build unix

package main

import (
	"io/fs"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// s3WholeSeconds drops the sub-second part of every mtime under root, so a
// tar of it keeps them exactly.
func s3WholeSeconds(t *testing.T, root string) {
	t.Helper()
	var paths []string
	filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	for i := len(paths) - 1; i >= 0; i-- { // children before parents
		var st unix.Stat_t
		if err := unix.Lstat(paths[i], &st); err != nil {
			t.Fatal(err)
		}
		ts := unix.NsecToTimespec(st.Mtim.Sec * 1e9)
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
}
