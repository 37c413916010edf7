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
	// ErrStoreRunning: a collection cannot start in an Unpinned repository
	// while a store is in progress.
	ErrStoreRunning = errors.New("object: a store is in progress in this process and its blobs are not pinned; collect garbage after it ends")
)
