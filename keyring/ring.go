package keyring

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/silo-dev/silo/crypt"
	"github.com/silo-dev/silo/object"
)

// Options say how Init makes a repository's keys and how Open opens them.
type Options struct {
	// Password supplies the password; it is asked only when one is needed
	// (not when Key is given).
	Password PasswordFunc
	// Key is the master key: Open opens with it instead of a password (a
	// backup destination of an encrypted repository), and Init gives it
	// to the repository it makes, with KeyFiles as its key files (so the
	// source's passwords open it). Nil: Open asks for a password, Init
	// makes a new master key and one key file for a new password.
	Key      *crypt.MasterKey
	KeyFiles []*crypt.KeyFile
	// Used names the key file Key was opened with ("" when none).
	Used string
	// CacheDir is this machine's cache directory: Open remembers there
	// which key opened a repository (it is tried first next time) and
	// that the repository is encrypted. Give one: "" is the working
	// directory.
	CacheDir string
}

// Ring is an open encrypted repository's master key: its sealer, and the
// key files of the repository on its backend.
type Ring struct {
	be     object.Backend
	master crypt.MasterKey
	seal   *object.Sealer
	mu     sync.Mutex // guards used, which ChangePassword changes
	used   string     // id of the key file that opened it ("" when opened by master key)
}

// Master returns the master key (to open a backup of the repository with).
func (r *Ring) Master() *crypt.MasterKey { return &r.master }

// Sealer returns the sealer of the repository's blobs, tables and files.
func (r *Ring) Sealer() *object.Sealer { return r.seal }

// Used returns the id of the key file the repository was opened with
// ("" when it was opened with its master key).
func (r *Ring) Used() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.used
}

// Init makes the keys of a new repository whose config is rc, before
// config.json is written: the master key (o.Key or a new one), its key
// files (o.KeyFiles, or one for a new password asked twice) written to
// be, and rc's sealed section (rc's polynomial moves into it).
func Init(ctx context.Context, be object.Backend, rc *object.RepoConfig, o Options) (*Ring, error) {
	r := &Ring{be: be, used: o.Used}
	files := o.KeyFiles
	if o.Key != nil {
		r.master = *o.Key
	} else {
		m, err := crypt.NewMasterKey()
		if err != nil {
			return nil, err
		}
		r.master = m
		pw, err := askPassword(ctx, o.Password, be.Location(), true)
		if err != nil {
			return nil, err
		}
		f, err := newKeyFile(&r.master, pw)
		if err != nil {
			return nil, err
		}
		files = []*crypt.KeyFile{f}
		r.used = f.ID
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: an encrypted repository needs a key file", ErrInvalid)
	}
	for _, f := range files {
		if err := putKeyFile(ctx, be, f); err != nil {
			return nil, err
		}
	}
	r.seal = object.NewSealer(&r.master)
	enc, err := sealedConfig(r.seal, rc.ID, rc.ChunkerPolynomial)
	if err != nil {
		return nil, err
	}
	rc.Version, rc.ChunkerPolynomial, rc.Encryption = object.EncryptedFormatVersion, "", enc
	return r, nil
}

// Open opens the keys of the repository whose config.json is rc. For an
// encrypted one it opens the master key, with o.Key when given,
// otherwise with a password from o.Password tried against the key files
// (a wrong password fails with ErrPassword before anything is written),
// checks it against rc's sealed section and fills in rc's polynomial.
// A plain repository has no Ring (nil, nil), unless it shows signs of
// having been encrypted: then Open fails with object.ErrCorrupt.
func Open(ctx context.Context, be object.Backend, rc *object.RepoConfig, o Options) (*Ring, error) {
	if rc.Encryption == nil {
		return nil, refuseDowngrade(ctx, be, *rc, o.CacheDir)
	}
	r := &Ring{be: be}
	if o.Key != nil {
		r.master, r.used = *o.Key, o.Used
	} else {
		files, err := LoadFiles(ctx, be)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%w: %s is encrypted and has no key file under keys/ (restore keys/ from a backup of the repository)", ErrPassword, be.Location())
		}
		// the key this machine opened the repository with last goes first:
		// an open tries at most crypt.MaxKeyFiles of them
		used := filepath.Join(o.CacheDir, rc.ID, "key")
		if b, err := os.ReadFile(used); err == nil {
			if i := slices.IndexFunc(files, func(f *crypt.KeyFile) bool { return f.ID == strings.TrimSpace(string(b)) }); i > 0 {
				files[0], files[i] = files[i], files[0]
			}
		}
		pw, err := askPassword(ctx, o.Password, be.Location(), false)
		if err != nil {
			return nil, err
		}
		// a key file the password opens may hold another master key (two
		// inits at once on one place: the loser's key file stays): the
		// one that opens the sealed config is the repository's (rc takes
		// the sealed section of that one only)
		m, f, err := crypt.UnwrapFirst(files, pw, func(m crypt.MasterKey) error {
			return openSealedConfig(be, rc, object.NewSealer(&m))
		})
		if err != nil {
			if !errors.Is(err, crypt.ErrWrongPassword) {
				return nil, err // a key opens, the sealed config does not
			}
			return nil, fmt.Errorf("%w: wrong password for the encrypted repository %s (%v)", ErrPassword, be.Location(), err)
		}
		r.master, r.used = m, f.ID
		if os.MkdirAll(filepath.Dir(used), 0o700) == nil {
			os.WriteFile(used, []byte(f.ID+"\n"), 0o600)
		}
	}
	r.seal = object.NewSealer(&r.master)
	if o.Key != nil { // a password's key was checked as it was taken
		if err := openSealedConfig(be, rc, r.seal); err != nil {
			return nil, err
		}
	}
	rememberEncrypted(o.CacheDir, rc.ID)
	return r, nil
}

// List lists the repository's key files.
func (r *Ring) List(ctx context.Context) ([]KeyInfo, error) {
	files, err := LoadFiles(ctx, r.be)
	if err != nil {
		return nil, err
	}
	used := r.Used()
	out := make([]KeyInfo, 0, len(files))
	for _, f := range files {
		out = append(out, KeyInfo{ID: f.ID, Created: f.Created, Host: f.Host, User: f.User, Current: f.ID == used})
	}
	return out, nil
}

// Add adds a key file: password opens the repository as well as the
// others do. It refuses a key past crypt.MaxKeyFiles (an open would not
// try it).
func (r *Ring) Add(ctx context.Context, password []byte) (KeyInfo, error) {
	if len(password) == 0 {
		return KeyInfo{}, fmt.Errorf("%w: an empty password", ErrInvalid)
	}
	if files, err := LoadFiles(ctx, r.be); err != nil {
		return KeyInfo{}, err
	} else if len(files) >= crypt.MaxKeyFiles {
		return KeyInfo{}, fmt.Errorf("%w: %s has %d keys, as many as an open tries: remove one first (silo key remove)", ErrInvalid, r.be.Location(), len(files))
	}
	f, err := newKeyFile(&r.master, password)
	if err != nil {
		return KeyInfo{}, err
	}
	if err := putKeyFile(ctx, r.be, f); err != nil {
		return KeyInfo{}, err
	}
	return KeyInfo{ID: f.ID, Created: f.Created, Host: f.Host, User: f.User}, nil
}

// Remove removes a key file (by id or a unique prefix of one). It
// refuses the key in use and the last key: a repository without keys is
// lost. Removing a key does not revoke the master key: whoever read it
// with that password before can still read the repository and its backups.
func (r *Ring) Remove(ctx context.Context, id string) (KeyInfo, error) {
	keys, err := r.List(ctx)
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
		return KeyInfo{}, fmt.Errorf("%w: no key %q in %s", ErrKeyNotFound, id, r.be.Location())
	case len(match) > 1:
		return KeyInfo{}, fmt.Errorf("%w: key %q matches %d keys", ErrAmbiguous, id, len(match))
	case match[0].Current:
		return KeyInfo{}, fmt.Errorf("%w: key %s is the one this command opened the repository with (open it with another password to remove it)", ErrInvalid, match[0].ID)
	case len(keys) == 1:
		return KeyInfo{}, fmt.Errorf("%w: key %s is the last one: without it the repository cannot be opened", ErrInvalid, match[0].ID)
	}
	if err := r.delete(ctx, match[0].ID); err != nil {
		return KeyInfo{}, err
	}
	return match[0], nil
}

// delete removes key file id, keeping at least one: two processes
// could each find the other's key not the last and remove it, leaving
// none. After its delete it lists the keys again, and when none is left
// it puts its key back (when both put theirs back, both stay) and fails
// with ErrConflict.
func (r *Ring) delete(ctx context.Context, id string) error {
	rc, err := r.be.Get(ctx, keyName(id), 0, -1)
	if err != nil {
		return fmt.Errorf("remove key %s: %w", id, err)
	}
	saved, err := io.ReadAll(io.LimitReader(rc, maxKeyFileSize))
	rc.Close()
	if err != nil {
		return fmt.Errorf("remove key %s: %w", id, err)
	}
	if err := r.be.Delete(ctx, keyName(id)); err != nil {
		return fmt.Errorf("remove key %s: %w", id, err)
	}
	left, err := LoadFiles(ctx, r.be)
	if err == nil && len(left) > 0 {
		return nil
	}
	if perr := r.be.Put(ctx, keyName(id), bytes.NewReader(saved), int64(len(saved))); perr != nil {
		return fmt.Errorf("remove key %s: no key was left (another process removed the others meanwhile), and putting it back failed: %w: RESTORE keys/%s FROM A BACKUP", id, perr, id)
	}
	if err != nil {
		return fmt.Errorf("remove key %s: %w (the key was put back)", id, err)
	}
	return fmt.Errorf("%w: key %s was put back: another process removed the other keys at the same time, and a repository without keys is lost", ErrConflict, id)
}

// ChangePassword replaces the key the repository was opened with by one
// for password: the new key file is written first, then the old one
// removed, so a crash between leaves both, never neither.
func (r *Ring) ChangePassword(ctx context.Context, password []byte) (added, removed KeyInfo, err error) {
	old := r.Used()
	if old == "" {
		return added, removed, fmt.Errorf("%w: the repository was opened without a password", ErrInvalid)
	}
	if added, err = r.Add(ctx, password); err != nil {
		return added, removed, err
	}
	r.mu.Lock()
	r.used = added.ID
	r.mu.Unlock()
	if err := r.delete(ctx, old); err != nil {
		return added, removed, fmt.Errorf("new key %s written; remove the old key %s: %w (remove it with `silo key remove %s`)", added.ID, old, err, old)
	}
	return added, KeyInfo{ID: old}, nil
}
