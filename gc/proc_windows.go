//go:build windows

package gc

import "golang.org/x/sys/windows"

// ProcessAlive reports whether a process of this machine with that pid
// exists.
func ProcessAlive(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return err == windows.ERROR_ACCESS_DENIED
	}
	windows.CloseHandle(h)
	return true
}
