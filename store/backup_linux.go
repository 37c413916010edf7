package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncStaged makes the staged packs durable with one syncfs of the file
// system that holds d, the temp directory they are in.
func syncStaged(d *os.File, _ []stagedPack) error { return unix.Syncfs(int(d.Fd())) }
