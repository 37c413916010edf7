//go:build unix

package object

import "golang.org/x/sys/unix"

// FreeSpace is the space left to an unprivileged user on the file system
// that holds path, in bytes.
func FreeSpace(path string) (int64, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return -1, err
	}
	// the fields' types differ between Linux, macOS and the BSDs
	return int64(fs.Bavail) * int64(fs.Bsize), nil
}
