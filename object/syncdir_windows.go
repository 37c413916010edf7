package object

import (
	"fmt"
	"os"
)

// SyncDir makes a rename in dir durable. Windows cannot flush a directory
// (FlushFileBuffers needs a handle open for writing, which a directory
// does not give: it fails with access denied); NTFS journals creates and
// renames itself. So SyncDir only checks that dir is a directory.
func SyncDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("sync %s: not a directory", dir)
	}
	return nil
}
