package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/windows"
)

// s3WholeSeconds drops the sub-second part of every mtime under root, so a
// tar of it keeps them exactly. Times are set on each entry itself, not on
// what a symlink points to.
func s3WholeSeconds(t *testing.T, root string) {
	t.Helper()
	var paths []string
	filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	for i := len(paths) - 1; i >= 0; i-- { // children before parents
		fi, err := os.Lstat(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := lutimes(paths[i], fi.ModTime().Unix()*1e9); err != nil {
			t.Fatal(err)
		}
	}
}

// lutimes sets the access and modification times of the entry at p
// itself to ns since the epoch.
func lutimes(p string, ns int64) error {
	name, err := windows.UTF16PtrFromString(p)
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(name, windows.FILE_WRITE_ATTRIBUTES,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	ft := windows.NsecToFiletime(ns)
	return windows.SetFileTime(h, nil, &ft, &ft)
}
