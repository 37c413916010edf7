package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/silo-dev/silo/hooks"
	"github.com/silo-dev/silo/keyring"
	"github.com/silo-dev/silo/object"
)

// Encryption at rest (docs/encryption-design.md, README "Encryption"): a
// repository made with `silo init --encrypt` has a random master key,
// wrapped once per password in keys/<id>; config.json says it is
// encrypted and carries a sealed section with the chunker polynomial.
// Package keyring holds the mechanics; these are the entry points.

// ErrPassword means an encrypted repository needs a password and none
// was given, or the one given opens no key file.
var ErrPassword = keyring.ErrPassword

// PasswordFunc supplies the password of an encrypted repository.
// confirm asks for it twice (a new password). It is called only when a
// password is needed.
type PasswordFunc = keyring.PasswordFunc

// KeyInfo describes one key file (`silo key list`).
type KeyInfo = keyring.KeyInfo

// keyOptions are what keyring needs of opts.
func keyOptions(opts *Options) keyring.Options {
	return keyring.Options{Password: opts.Password, Key: opts.Key, KeyFiles: opts.KeyFiles, Used: opts.keyUsed, CacheDir: opts.Config.CacheDir}
}

// initKeys makes a new repository's config encrypted (keyring.Init) and
// sets opts.Key to its master key.
func initKeys(ctx context.Context, be object.Backend, rc *object.RepoConfig, opts *Options) error {
	ring, err := keyring.Init(ctx, be, rc, keyOptions(opts))
	if err != nil {
		return keyErr(err)
	}
	opts.Key, opts.keyUsed = ring.Master(), ring.Used()
	return nil
}

// openEncryption opens an encrypted repository's keys (nil for a plain
// one), and refuses to open as plain a repository this machine knows
// encrypted, or to write encrypted content into a plain one.
func openEncryption(ctx context.Context, be object.Backend, rc *object.RepoConfig, opts Options) (*keyring.Ring, error) {
	if rc.Encryption == nil && opts.Encrypt && opts.Key != nil {
		return nil, fmt.Errorf("%w: %s is a plain repository, and what goes into it is encrypted: use a new location", ErrInvalid, be.Location())
	}
	ring, err := keyring.Open(ctx, be, rc, keyOptions(&opts))
	return ring, keyErr(err)
}

// Encrypted reports whether the repository is encrypted.
func (s *Store) Encrypted() bool { return s.keys != nil }

// Keys lists the repository's key files.
func (s *Store) Keys(ctx context.Context) ([]KeyInfo, error) {
	if s.keys == nil {
		return nil, fmt.Errorf("%w: %s is not encrypted: it has no keys", ErrInvalid, s.Location())
	}
	keys, err := s.keys.List(ctx)
	return keys, keyErr(err)
}

// AddKey adds a key file: password opens the repository as well as the
// others do.
func (s *Store) AddKey(ctx context.Context, password []byte) (KeyInfo, error) {
	if err := s.keysWritable(); err != nil {
		return KeyInfo{}, err
	}
	k, err := s.keys.Add(ctx, password)
	return k, keyErr(err)
}

// RemoveKey removes a key file (by id or a unique prefix of one). It
// refuses the key in use and the last key: a repository without keys is
// lost. Removing a key does not revoke the master key: whoever read it
// with that password before can still read the repository and its backups.
func (s *Store) RemoveKey(ctx context.Context, id string) (KeyInfo, error) {
	if err := s.writable(); err != nil {
		return KeyInfo{}, err
	}
	if s.keys == nil {
		return KeyInfo{}, fmt.Errorf("%w: %s is not encrypted: it has no keys", ErrInvalid, s.Location())
	}
	k, err := s.keys.Remove(ctx, id)
	return k, keyErr(err)
}

// ChangePassword replaces the key this process opened the repository
// with by one for password: the new key file is written first, then the
// old one removed, so a crash between leaves both, never neither.
func (s *Store) ChangePassword(ctx context.Context, password []byte) (added, removed KeyInfo, err error) {
	if s.keys != nil && s.keys.Used() == "" {
		// refused first, as before the keys moved to keyring
		return added, removed, fmt.Errorf("%w: the repository was opened without a password", ErrInvalid)
	}
	if err := s.keysWritable(); err != nil {
		return added, removed, err
	}
	added, removed, err = s.keys.ChangePassword(ctx, password)
	return added, removed, keyErr(err)
}

// keysWritable refuses a change of the key files of a store opened
// read-only or of a plain repository.
func (s *Store) keysWritable() error {
	if err := s.writable(); err != nil {
		return err
	}
	if s.keys == nil {
		return fmt.Errorf("%w: %s is not encrypted (create an encrypted repository with `silo init --encrypt`)", ErrInvalid, s.Location())
	}
	return nil
}

// keyErr gives an error of keyring's that wraps its ErrInvalid,
// ErrAmbiguous or ErrConflict store's sentinel of the same name too,
// keeping its text (the sentinels' texts are the same).
func keyErr(err error) error {
	for _, m := range [...]struct{ from, to error }{
		{keyring.ErrInvalid, ErrInvalid}, {keyring.ErrAmbiguous, ErrAmbiguous}, {keyring.ErrConflict, ErrConflict},
	} {
		if errors.Is(err, m.from) {
			return &keyError{err: err, sentinel: m.to}
		}
	}
	return err
}

type keyError struct{ err, sentinel error }

func (e *keyError) Error() string   { return e.err.Error() }
func (e *keyError) Unwrap() []error { return []error{e.err, e.sentinel} }

// PasswordFromCommand runs command through the shell in the foreground
// (it may prompt on the terminal: its stdin and stderr are this process's)
// and returns what it prints, less the line ending
// (`--password-command`). A command that fails gives ErrPassword.
func PasswordFromCommand(ctx context.Context, command string) ([]byte, error) {
	cmd := hooks.ForegroundShell(ctx, command)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: --password-command %q: %v", ErrPassword, command, err)
	}
	return []byte(strings.TrimRight(string(out), "\r\n")), nil
}
