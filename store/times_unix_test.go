//go:build unix

package store

import "golang.org/x/sys/unix"

// lutimes sets the access and modification times of the entry at p
// itself (a symlink is not followed) to ns since the epoch.
func lutimes(p string, ns int64) error {
	tv := []unix.Timespec{unix.NsecToTimespec(ns), unix.NsecToTimespec(ns)}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, tv, unix.AT_SYMLINK_NOFOLLOW)
}
