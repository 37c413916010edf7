//go:build unix

package gc

import (
	"errors"
	"syscall"
)

// ProcessAlive reports whether a process of this machine with that pid
// exists (EPERM: it does, owned by someone else).
func ProcessAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
