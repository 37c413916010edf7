//go:build unix

package main

import "golang.org/x/sys/unix"

// lutimes sets the access and modification times of the entry at p
// itself (not what a symlink points to) to ns since the epoch.
func lutimes(p string, ns int64) error {
	ts := unix.NsecToTimespec(ns)
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}
