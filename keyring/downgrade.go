package keyring

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/silo-dev/silo/object"
)

// refuseDowngrade refuses to open a repository as plain when it shows
// signs of being encrypted: key files under keys/, or this machine
// having opened it encrypted before (config.json is not authenticated,
// so someone could remove its encryption section to make silo write
// plain packs).
func refuseDowngrade(ctx context.Context, be object.Backend, rc object.RepoConfig, cacheDir string) error {
	if _, err := os.Stat(encryptedMarker(cacheDir, rc.ID)); err == nil {
		return fmt.Errorf("%s/%s: %w: this machine opened repository %s encrypted before, and its config now says plain: refusing to write plain data into it",
			be.Location(), object.ConfigName, object.ErrCorrupt, rc.ID)
	}
	var found string
	err := be.List(ctx, Prefix, func(fi object.FileInfo) error {
		found = fi.Name
		return errStopList
	})
	if err != nil && !errors.Is(err, errStopList) && !errors.Is(err, object.ErrNotFound) {
		return fmt.Errorf("list %s/%s: %w", be.Location(), Prefix, err)
	}
	if found != "" {
		return fmt.Errorf("%s/%s: %w: the config says plain, but %s is a key file of an encrypted repository: refusing to open it as plain",
			be.Location(), object.ConfigName, object.ErrCorrupt, found)
	}
	return nil
}

var errStopList = errors.New("stop listing")

func encryptedMarker(cacheDir, id string) string {
	return filepath.Join(cacheDir, id, "encrypted")
}

// rememberEncrypted notes on this machine that repository id is encrypted
// (see refuseDowngrade). Best effort: a read-only cache directory only
// loses the second line of defence.
func rememberEncrypted(cacheDir, id string) {
	p := encryptedMarker(cacheDir, id)
	if _, err := os.Stat(p); err == nil {
		return
	}
	if os.MkdirAll(filepath.Dir(p), 0o700) == nil {
		os.WriteFile(p, []byte("this repository is encrypted: silo refuses to open it as plain\n"), 0o600)
	}
}
