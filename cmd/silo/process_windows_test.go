package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// exited reports whether the process has ended (without waiting for it:
// os.Process keeps its handle, so its id is not reused meanwhile).
func exited(p *os.Process) bool {
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(p.Pid))
	if err != nil {
		return true
	}
	defer windows.CloseHandle(h)
	ev, err := windows.WaitForSingleObject(h, 0)
	return err == nil && ev == windows.WAIT_OBJECT_0
}

var (
	ntdll            = windows.NewLazySystemDLL("ntdll.dll")
	ntSuspendProcess = ntdll.NewProc("NtSuspendProcess")
	ntResumeProcess  = ntdll.NewProc("NtResumeProcess")
)

// pauseProcess suspends every thread of p where it is, holding what it
// holds (Windows has no SIGSTOP).
func pauseProcess(p *os.Process) error { return ntProcessCall(ntSuspendProcess, p) }

// resumeProcess lets a paused p go on.
func resumeProcess(p *os.Process) error { return ntProcessCall(ntResumeProcess, p) }

func ntProcessCall(proc *windows.LazyProc, p *os.Process) error {
	h, err := windows.OpenProcess(windows.PROCESS_SUSPEND_RESUME, false, uint32(p.Pid))
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	if st, _, _ := proc.Call(uintptr(h)); st != 0 {
		return fmt.Errorf("%s of process %d: NTSTATUS %#x", proc.Name, p.Pid, st)
	}
	return nil
}

// lockable reports whether an exclusive lock on f's first byte, the one
// silo's index locks on Windows, could be taken (and releases it): no
// other process holds the file locked.
func lockable(f *os.File) bool {
	h := windows.Handle(f.Fd())
	err := windows.LockFileEx(h, windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
	if err == nil {
		windows.UnlockFileEx(h, 0, 1, 0, new(windows.Overlapped))
	}
	return err == nil
}
