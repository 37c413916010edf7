//go:build !linux && !darwin && !windows

package object

import (
	"errors"
	"os"
)

// renameNoReplace has no one-step form here: errors.ErrUnsupported.
func renameNoReplace(oldpath, newpath string) error {
	return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: errors.ErrUnsupported}
}
