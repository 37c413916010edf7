package index

import "errors"

var (
	// ErrLocked means another process holds the repository.
	ErrLocked = errors.New("index: repository is locked by another process")
	// ErrCorrupt marks an index entry that cannot be decoded.
	ErrCorrupt = errors.New("index: corrupt entry")
)
