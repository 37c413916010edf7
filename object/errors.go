package object

import "errors"

var (
	// ErrNotFound is returned by a Backend for a name that does not exist.
	ErrNotFound = errors.New("object: not found")
	// ErrCorrupt marks data that does not match its id or checksum.
	ErrCorrupt = errors.New("object: corrupt")
	// ErrBlobNotFound is returned when the index has no entry for a blob.
	ErrBlobNotFound = errors.New("object: blob not in index")
	// ErrBadPack marks a pack whose table cannot be decoded.
	ErrBadPack = errors.New("object: malformed pack")
)
