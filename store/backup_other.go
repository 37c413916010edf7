//go:build !linux

package store

import "os"

// syncStaged makes the staged packs durable. Only Linux has syncfs, so
// elsewhere each staged file is synced on its own (on macOS, os.File.Sync
// is F_FULLFSYNC; on Windows, FlushFileBuffers, which needs the file open
// for writing).
func syncStaged(_ *os.File, staged []stagedPack) error {
	for _, sp := range staged {
		if sp.path == "" {
			continue
		}
		f, err := os.OpenFile(sp.path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
