package keyring

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/silo-dev/silo/crypt"
	"github.com/silo-dev/silo/object"
)

// Prefix is where a repository keeps its key files: keys/<id>.
const Prefix = "keys/"

// PasswordFunc supplies the password of an encrypted repository.
// confirm asks for it twice (a new password). It is called only when a
// password is needed.
type PasswordFunc func(ctx context.Context, location string, confirm bool) ([]byte, error)

// KeyInfo describes one key file (`silo key list`).
type KeyInfo struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Host    string    `json:"host,omitempty"`
	User    string    `json:"user,omitempty"`
	Current bool      `json:"current"` // the key this process opened the repository with
}

func keyName(id string) string { return Prefix + id }

// maxKeyFileSize bounds what is read of a key file.
const maxKeyFileSize = 1 << 16

// LoadFiles reads the key files under keys/, sorted by name (at most
// crypt.MaxKeyFiles of them are tried by an open; this reads them all).
// A damaged or misnamed key file is left out: it opens nothing, the
// others may.
func LoadFiles(ctx context.Context, be object.Backend) ([]*crypt.KeyFile, error) {
	var names []string
	err := be.List(ctx, Prefix, func(fi object.FileInfo) error {
		if !strings.Contains(strings.TrimPrefix(fi.Name, Prefix), "/") && !strings.HasPrefix(filepath.Base(fi.Name), ".") {
			names = append(names, fi.Name)
		}
		return nil
	})
	if err != nil && !errors.Is(err, object.ErrNotFound) {
		return nil, fmt.Errorf("list %s/%s: %w", be.Location(), Prefix, err)
	}
	slices.Sort(names)
	var files []*crypt.KeyFile
	for _, n := range names {
		rc, err := be.Get(ctx, n, 0, -1)
		if errors.Is(err, object.ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read %s/%s: %w", be.Location(), n, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, maxKeyFileSize))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s/%s: %w", be.Location(), n, err)
		}
		var f crypt.KeyFile
		if err := json.Unmarshal(b, &f); err != nil || keyName(f.ID) != n {
			// a damaged or misnamed key file opens nothing; the others may
			continue
		}
		files = append(files, &f)
	}
	return files, nil
}

// newKeyFile wraps master under password in a new key file.
func newKeyFile(master *crypt.MasterKey, password []byte) (*crypt.KeyFile, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	kdf, err := crypt.DefaultKDF()
	if err != nil {
		return nil, err
	}
	f, err := crypt.Wrap(master, password, hex.EncodeToString(b[:]), kdf)
	if err != nil {
		return nil, err
	}
	f.Host, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		f.User = u.Username
	}
	return f, nil
}

func putKeyFile(ctx context.Context, be object.Backend, f *crypt.KeyFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := be.Put(ctx, keyName(f.ID), bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("write key %s to %s: %w", f.ID, be.Location(), err)
	}
	return nil
}

func askPassword(ctx context.Context, ask PasswordFunc, location string, confirm bool) ([]byte, error) {
	if ask == nil {
		return nil, fmt.Errorf("%w: %s is encrypted and no password was given (set STORAGE_PASSWORD, or give --password-file or --password-command, or run on a terminal)",
			ErrPassword, location)
	}
	pw, err := ask(ctx, location, confirm)
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 {
		return nil, fmt.Errorf("%w: an empty password for %s", ErrPassword, location)
	}
	return pw, nil
}
