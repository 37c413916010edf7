//go:build windows

package object

import (
	"errors"

	"golang.org/x/sys/windows"
)

// linkUnsupported reports whether a hard link failed because the
// filesystem has none (FAT, exFAT, some network shares), rather than for
// a reason Create must report (a full disk, no permission to write).
func linkUnsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, windows.ERROR_INVALID_FUNCTION) ||
		errors.Is(err, windows.ERROR_NOT_SUPPORTED)
}
