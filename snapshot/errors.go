package snapshot

import "errors"

var (
	// ErrBadTree marks a tree blob that does not decode or breaks a rule.
	ErrBadTree = errors.New("snapshot: malformed tree")
	// ErrBadSnapshot marks a snapshot blob that does not decode.
	ErrBadSnapshot = errors.New("snapshot: malformed snapshot")
	// ErrUnsafePath marks a tree entry or include path that would escape the restore destination.
	ErrUnsafePath = errors.New("snapshot: unsafe path")
	// ErrNotFound means a path is not in the tree.
	ErrNotFound = errors.New("snapshot: no such path")
	// ErrPathLimit means a path is longer (in bytes) or deeper (in
	// levels) than a store allows (StoreOptions.MaxPath, MaxDepth).
	ErrPathLimit = errors.New("snapshot: path too long or too deep")
	// ErrEntryLimit means a tree holds more entries than a store allows
	// (StoreOptions.MaxEntries).
	ErrEntryLimit = errors.New("snapshot: entry limit passed")
)
