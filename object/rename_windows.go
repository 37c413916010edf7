//go:build windows

package object

import (
	"os"

	"golang.org/x/sys/windows"
)

// renameNoReplace renames oldpath to newpath unless newpath exists
// (fs.ErrExist), in one step: MoveFileEx without
// MOVEFILE_REPLACE_EXISTING, which FAT and exFAT volumes have too.
func renameNoReplace(oldpath, newpath string) error {
	from, err := windows.UTF16PtrFromString(oldpath)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	to, err := windows.UTF16PtrFromString(newpath)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	if err := windows.MoveFileEx(from, to, windows.MOVEFILE_WRITE_THROUGH); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}
