package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// sZomb is SZOMB of <sys/proc.h>: a process that has ended and not been
// waited for.
const sZomb = 5

// exited reports whether the process has ended (without reaping it).
func exited(p *os.Process) bool {
	k, err := unix.SysctlKinfoProc("kern.proc.pid", p.Pid)
	if err != nil {
		return true // no such process
	}
	return k.Proc.P_stat == sZomb
}

// waitStopped: SIGSTOP's delivery is not awaited on macOS (see the Linux
// version).
func waitStopped(*os.Process) {}
