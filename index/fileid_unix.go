//go:build unix

package index

import (
	"os"
	"syscall"
)

// fileID identifies the file st describes (its inode): a file renamed over
// index.db is another file.
func fileID(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Ino)
	}
	return 0
}
