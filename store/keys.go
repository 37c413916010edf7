package store

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

// Encryption at rest (docs/encryption-design.md, README "Encryption"): a
// repository made with `silo init --encrypt` has a random master key,
// wrapped once per password in keys/<id>; config.json says it is
// encrypted and carries a sealed section with the chunker polynomial.

// ErrPassword means an encrypted repository needs a password and none
// was given, or the one given opens no key file.
var ErrPassword = errors.New("store: password")

const keysPrefix = "keys/"

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

// keyState is what an open encrypted repository knows of its keys.
type keyState struct {
	master crypt.MasterKey
	seal   *object.Sealer
	used   string // id of the key file that opened it ("" when opened by master key)
}

func keyName(id string) string { return keysPrefix + id }

// loadKeyFiles reads keys/ (at most crypt.MaxKeyFiles key files are
// tried by an open; listing reads them all).
func loadKeyFiles(ctx context.Context, be object.Backend) ([]*crypt.KeyFile, error) {
	var names []string
	err := be.List(ctx, keysPrefix, func(fi object.FileInfo) error {
		if !strings.Contains(strings.TrimPrefix(fi.Name, keysPrefix), "/") && !strings.HasPrefix(filepath.Base(fi.Name), ".") {
			names = append(names, fi.Name)
		}
		return nil
	})
	if err != nil && !errors.Is(err, object.ErrNotFound) {
		return nil, fmt.Errorf("list %s/%s: %w", be.Location(), keysPrefix, err)
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
		b, err := io.ReadAll(io.LimitReader(rc, 1<<16))
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

// sealedConfig makes the sealed section of a new encrypted repository.
func sealedConfig(seal *object.Sealer, id, pol string) (*object.Encryption, error) {
	plain, err := json.Marshal(object.SealedConfig{Repository: id, ChunkerPolynomial: pol, AEAD: object.AEADName, IDs: object.IDsName})
	if err != nil {
		return nil, err
	}
	sealed, err := seal.SealFile(object.ConfigName, plain)
	if err != nil {
		return nil, err
	}
	return &object.Encryption{AEAD: object.AEADName, KDF: object.KDFName, IDs: object.IDsName, Sealed: sealed}, nil
}

// openSealedConfig opens rc's sealed section with seal and fills in the
// polynomial; a key from another repository fails here.
func openSealedConfig(be object.Backend, rc *object.RepoConfig, seal *object.Sealer) error {
	plain, err := seal.OpenFile(object.ConfigName, rc.Encryption.Sealed)
	if err != nil {
		return fmt.Errorf("%w for %s: the key opens, but the repository's sealed config does not (a key file of another repository?): %v",
			ErrPassword, be.Location(), err)
	}
	var sc object.SealedConfig
	if err := json.Unmarshal(plain, &sc); err != nil {
		return fmt.Errorf("%s/%s: %w: sealed section: %v", be.Location(), object.ConfigName, object.ErrCorrupt, err)
	}
	switch {
	case sc.Repository != rc.ID:
		return fmt.Errorf("%s/%s: %w: the sealed section is repository %s's, the file says %s", be.Location(), object.ConfigName, object.ErrCorrupt, sc.Repository, rc.ID)
	case sc.AEAD != object.AEADName || sc.IDs != object.IDsName:
		return fmt.Errorf("%s/%s: %w: sealed algorithms %s and %s ids differ from what this silo writes", be.Location(), object.ConfigName, object.ErrCorrupt, sc.AEAD, sc.IDs)
	}
	rc.ChunkerPolynomial = sc.ChunkerPolynomial
	return nil
}

// openKeys opens an encrypted repository's master key: with opts.Key
// when given (a backup of an encrypted repository), otherwise with a
// password from opts.Password, tried against the key files. A wrong
// password fails before anything is written.
func openKeys(ctx context.Context, be object.Backend, rc *object.RepoConfig, opts Options) (*keyState, error) {
	ks := &keyState{}
	if opts.Key != nil {
		ks.master, ks.used = *opts.Key, opts.keyUsed
	} else {
		files, err := loadKeyFiles(ctx, be)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%w: %s is encrypted and has no key file under keys/ (restore keys/ from a backup of the repository)", ErrPassword, be.Location())
		}
		// the key this machine opened the repository with last goes first:
		// an open tries at most crypt.MaxKeyFiles of them
		used := filepath.Join(opts.Config.CacheDir, rc.ID, "key")
		if b, err := os.ReadFile(used); err == nil {
			if i := slices.IndexFunc(files, func(f *crypt.KeyFile) bool { return f.ID == strings.TrimSpace(string(b)) }); i > 0 {
				files[0], files[i] = files[i], files[0]
			}
		}
		pw, err := askPassword(ctx, opts.Password, be.Location(), false)
		if err != nil {
			return nil, err
		}
		m, f, err := crypt.UnwrapAny(files, pw)
		if err != nil {
			if errors.Is(err, crypt.ErrWrongPassword) {
				return nil, fmt.Errorf("%w: wrong password for the encrypted repository %s (%v)", ErrPassword, be.Location(), err)
			}
			return nil, fmt.Errorf("%w: %s: %v", ErrPassword, be.Location(), err)
		}
		ks.master, ks.used = m, f.ID
		if os.MkdirAll(filepath.Dir(used), 0o700) == nil {
			os.WriteFile(used, []byte(f.ID+"\n"), 0o600)
		}
	}
	ks.seal = object.NewSealer(&ks.master)
	if err := openSealedConfig(be, rc, ks.seal); err != nil {
		return nil, err
	}
	return ks, nil
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
	err := be.List(ctx, keysPrefix, func(fi object.FileInfo) error {
		found = fi.Name
		return errStopList
	})
	if err != nil && !errors.Is(err, errStopList) && !errors.Is(err, object.ErrNotFound) {
		return fmt.Errorf("list %s/%s: %w", be.Location(), keysPrefix, err)
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

// Encrypted reports whether the repository is encrypted.
func (s *Store) Encrypted() bool { return s.keys != nil }

// Keys lists the repository's key files.
func (s *Store) Keys(ctx context.Context) ([]KeyInfo, error) {
	if s.keys == nil {
		return nil, fmt.Errorf("%w: %s is not encrypted: it has no keys", ErrInvalid, s.Location())
	}
	files, err := loadKeyFiles(ctx, s.be)
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, 0, len(files))
	for _, f := range files {
		out = append(out, KeyInfo{ID: f.ID, Created: f.Created, Host: f.Host, User: f.User, Current: f.ID == s.keys.used})
	}
	return out, nil
}

// AddKey adds a key file: password opens the repository as well as the
// others do.
func (s *Store) AddKey(ctx context.Context, password []byte) (KeyInfo, error) {
	if err := s.writable(); err != nil {
		return KeyInfo{}, err
	}
	if s.keys == nil {
		return KeyInfo{}, fmt.Errorf("%w: %s is not encrypted (create an encrypted repository with `silo init --encrypt`)", ErrInvalid, s.Location())
	}
	if len(password) == 0 {
		return KeyInfo{}, fmt.Errorf("%w: an empty password", ErrInvalid)
	}
	if files, err := loadKeyFiles(ctx, s.be); err != nil {
		return KeyInfo{}, err
	} else if len(files) >= crypt.MaxKeyFiles {
		return KeyInfo{}, fmt.Errorf("%w: %s has %d keys, as many as an open tries: remove one first (silo key remove)", ErrInvalid, s.Location(), len(files))
	}
	f, err := newKeyFile(&s.keys.master, password)
	if err != nil {
		return KeyInfo{}, err
	}
	if err := putKeyFile(ctx, s.be, f); err != nil {
		return KeyInfo{}, err
	}
	return KeyInfo{ID: f.ID, Created: f.Created, Host: f.Host, User: f.User}, nil
}

// RemoveKey removes a key file (by id or a unique prefix of one). It
// refuses the key in use and the last key: a repository without keys is
// lost. Removing a key does not revoke the master key: whoever read it
// with that password before can still read the repository and its backups.
func (s *Store) RemoveKey(ctx context.Context, id string) (KeyInfo, error) {
	if err := s.writable(); err != nil {
		return KeyInfo{}, err
	}
	keys, err := s.Keys(ctx)
	if err != nil {
		return KeyInfo{}, err
	}
	var match []KeyInfo
	for _, k := range keys {
		if id != "" && strings.HasPrefix(k.ID, id) {
			match = append(match, k)
		}
	}
	switch {
	case len(match) == 0:
		return KeyInfo{}, fmt.Errorf("%w: no key %q in %s", ErrKeyNotFound, id, s.Location())
	case len(match) > 1:
		return KeyInfo{}, fmt.Errorf("%w: key %q matches %d keys", ErrAmbiguous, id, len(match))
	case match[0].Current:
		return KeyInfo{}, fmt.Errorf("%w: key %s is the one this command opened the repository with (open it with another password to remove it)", ErrInvalid, match[0].ID)
	case len(keys) == 1:
		return KeyInfo{}, fmt.Errorf("%w: key %s is the last one: without it the repository cannot be opened", ErrInvalid, match[0].ID)
	}
	if err := s.deleteKey(ctx, match[0].ID); err != nil {
		return KeyInfo{}, err
	}
	return match[0], nil
}

// deleteKey removes key file id, keeping at least one: two processes
// could each find the other's key not the last and remove it, leaving
// none. After its delete it lists the keys again, and when none is left
// it puts its key back (when both put theirs back, both stay) and fails
// with ErrConflict.
func (s *Store) deleteKey(ctx context.Context, id string) error {
	rc, err := s.be.Get(ctx, keyName(id), 0, -1)
	if err != nil {
		return fmt.Errorf("remove key %s: %w", id, err)
	}
	saved, err := io.ReadAll(io.LimitReader(rc, 1<<16))
	rc.Close()
	if err != nil {
		return fmt.Errorf("remove key %s: %w", id, err)
	}
	if err := s.be.Delete(ctx, keyName(id)); err != nil {
		return fmt.Errorf("remove key %s: %w", id, err)
	}
	left, err := loadKeyFiles(ctx, s.be)
	if err == nil && len(left) > 0 {
		return nil
	}
	if perr := s.be.Put(ctx, keyName(id), bytes.NewReader(saved), int64(len(saved))); perr != nil {
		return fmt.Errorf("remove key %s: no key was left (another process removed the others meanwhile), and putting it back failed: %w: RESTORE keys/%s FROM A BACKUP", id, perr, id)
	}
	if err != nil {
		return fmt.Errorf("remove key %s: %w (the key was put back)", id, err)
	}
	return fmt.Errorf("%w: key %s was put back: another process removed the other keys at the same time, and a repository without keys is lost", ErrConflict, id)
}

// ChangePassword replaces the key this process opened the repository
// with by one for password: the new key file is written first, then the
// old one removed, so a crash between leaves both, never neither.
func (s *Store) ChangePassword(ctx context.Context, password []byte) (added, removed KeyInfo, err error) {
	if s.keys != nil && s.keys.used == "" {
		return added, removed, fmt.Errorf("%w: the repository was opened without a password", ErrInvalid)
	}
	if added, err = s.AddKey(ctx, password); err != nil {
		return added, removed, err
	}
	old := s.keys.used
	s.keys.used = added.ID
	if err := s.deleteKey(ctx, old); err != nil {
		return added, removed, fmt.Errorf("new key %s written; remove the old key %s: %w (remove it with `silo key remove %s`)", added.ID, old, err, old)
	}
	return added, KeyInfo{ID: old}, nil
}

// initKeys makes a new repository's config encrypted: the master key
// (opts.Key or a new one), its key files (opts.KeyFiles, or one for a new
// password) written before config.json, and the sealed section.
func initKeys(ctx context.Context, be object.Backend, rc *object.RepoConfig, opts *Options) error {
	files := opts.KeyFiles
	if opts.Key == nil {
		m, err := crypt.NewMasterKey()
		if err != nil {
			return err
		}
		opts.Key = &m
		pw, err := askPassword(ctx, opts.Password, be.Location(), true)
		if err != nil {
			return err
		}
		f, err := newKeyFile(opts.Key, pw)
		if err != nil {
			return err
		}
		files = []*crypt.KeyFile{f}
		opts.keyUsed = f.ID
	}
	if len(files) == 0 {
		return fmt.Errorf("%w: an encrypted repository needs a key file", ErrInvalid)
	}
	for _, f := range files {
		if err := putKeyFile(ctx, be, f); err != nil {
			return err
		}
	}
	enc, err := sealedConfig(object.NewSealer(opts.Key), rc.ID, rc.ChunkerPolynomial)
	if err != nil {
		return err
	}
	rc.Version, rc.ChunkerPolynomial, rc.Encryption = object.EncryptedFormatVersion, "", enc
	return nil
}
