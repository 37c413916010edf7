package keyring

import "errors"

// The errors of the key files. Their texts keep the "store:" prefix the
// command line and the HTTP API have always shown. Package store exports
// ErrPassword and ErrKeyNotFound as they are; an error wrapping
// ErrInvalid, ErrAmbiguous or ErrConflict it gives store's sentinel of
// the same name as well (same text, so the messages read as before).
var (
	// ErrPassword means an encrypted repository needs a password and none
	// was given, or the one given opens no key file.
	ErrPassword = errors.New("store: password")
	// ErrKeyNotFound means no key file matches.
	ErrKeyNotFound = errors.New("store: key not found")
	// ErrInvalid means a refused request: an empty password, a key too
	// many, the key in use or the last one removed.
	ErrInvalid = errors.New("store: invalid argument")
	// ErrAmbiguous means a key id prefix matches several keys.
	ErrAmbiguous = errors.New("store: ambiguous")
	// ErrConflict means another process removed keys at the same time;
	// nothing was removed.
	ErrConflict = errors.New("store: conflict with another process")
)
