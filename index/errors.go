package index

import "errors"

var (
	// ErrBusy means other processes' transactions kept index.db for longer
	// than Options.Timeout (a process stopped in the middle of one).
	ErrBusy = errors.New("index: index.db is busy")
	// ErrDamaged means index.db is not an intact index: empty, cut short,
	// or with damaged pages. `silo index rebuild` rebuilds it.
	ErrDamaged = errors.New("index: index.db is damaged")
	// ErrSchema means index.db was written by a newer silo.
	ErrSchema = errors.New("index: index.db has a newer schema")
	// ErrReadOnly means a write to an index opened read-only.
	ErrReadOnly = errors.New("index: opened read-only")
	// ErrClosed means a transaction on a closed DB.
	ErrClosed = errors.New("index: closed")
	// ErrCorrupt marks an index entry that cannot be decoded.
	ErrCorrupt = errors.New("index: corrupt entry")
)
