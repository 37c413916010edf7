//go:build unix

package replica

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strconv"
	"syscall"
)

// DeviceUnknown is what DeviceOf returns where it cannot tell.
const DeviceUnknown = "unknown"

// DeviceOf names the filesystem (st_dev) that holds path, or, when path does
// not exist, the one that holds its nearest existing ancestor (where a
// backup to path would go).
func DeviceOf(path string) string {
	for {
		var st syscall.Stat_t
		err := syscall.Stat(path, &st)
		if err == nil {
			return strconv.FormatUint(uint64(st.Dev), 10)
		}
		parent := filepath.Dir(path)
		if !errors.Is(err, fs.ErrNotExist) || parent == path {
			return DeviceUnknown
		}
		path = parent
	}
}
