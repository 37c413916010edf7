package main

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// exited reports whether the process has ended (without reaping it).
func exited(p *os.Process) bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, p.Pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && info.Signo == int32(syscall.SIGCHLD)
}
