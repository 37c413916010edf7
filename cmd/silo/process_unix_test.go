//go:build unix

package main

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// pauseProcess stops p (SIGSTOP) where it is, holding what it holds.
func pauseProcess(p *os.Process) error {
	err := p.Signal(syscall.SIGSTOP)
	if err == nil {
		waitStopped(p)
	}
	return err
}

// resumeProcess lets a paused p go on (SIGCONT).
func resumeProcess(p *os.Process) error { return p.Signal(syscall.SIGCONT) }

// lockable reports whether an exclusive lock on f could be taken (and
// releases it): no other process holds the file locked.
func lockable(f *os.File) bool {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
	}
	return err == nil
}
