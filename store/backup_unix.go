//go:build unix

package store

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strconv"
	"syscall"
)

// deviceUnknown is what deviceOf returns where it cannot tell.
const deviceUnknown = "unknown"

// deviceOf names the filesystem (st_dev) that holds path, or, when path does
// not exist, the one that holds its nearest existing ancestor (where a
// backup to path would go).
func deviceOf(path string) string {
	for {
		var st syscall.Stat_t
		err := syscall.Stat(path, &st)
		if err == nil {
			return strconv.FormatUint(uint64(st.Dev), 10)
		}
		parent := filepath.Dir(path)
		if !errors.Is(err, fs.ErrNotExist) || parent == path {
			return deviceUnknown
		}
		path = parent
	}
}
