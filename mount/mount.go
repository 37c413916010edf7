// Package mount serves a repository as a read-only file system (FUSE), like
// restic mount and borg mount:
//
//	DIR/projects/<name>/<version>/…   every version's files (<version>: the
//	                                   first 12 hex digits of its id)
//	DIR/projects/<name>/latest        symlink to the newest version
//	DIR/projects/<name>/<tag>         symlink to the newest version with
//	                                   that version tag
//
// The projects and their versions are read when the file system is mounted
// (mount again to see later ones). A version's directories are read when
// they are first looked at, and a file's chunks only when its bytes are
// read: each open file keeps the chunk it read last, so reading a file
// through reads each chunk once, and `cat` of one file in a large version
// reads that file's chunks and the trees on its path, nothing else.
//
// FUSE needs Linux (/dev/fuse and fusermount, package fuse3) or macOS with
// macFUSE; elsewhere Mount returns ErrUnsupported.
package mount

import (
	"errors"
	"time"
)

// ErrUnsupported is returned where this platform has no FUSE.
var ErrUnsupported = errors.New("mount: this platform has no FUSE support (silo mount runs on Linux and macOS)")

// Options configure Mount.
type Options struct {
	// Projects limits the view to these projects (names or ids); empty:
	// every project that is not deleted.
	Projects []string
	// Debug logs every FUSE request (go-fuse's debug output).
	Debug bool
}

// cacheTTL is how long the kernel may keep names and attributes: the view
// never changes while it is mounted.
const cacheTTL = time.Hour

// shortID is the directory name of a version.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
