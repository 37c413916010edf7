//go:build unix

package object

import (
	"errors"
	"syscall"
)

// linkUnsupported reports whether a hard link failed because the
// filesystem has none (vfat and exFAT on Linux give EPERM), rather than
// for a reason Create must report (a full disk, no permission to write).
func linkUnsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported) || errors.Is(err, syscall.EPERM) ||
		errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS)
}
