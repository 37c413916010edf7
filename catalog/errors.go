package catalog

import "errors"

// The errors of the catalogue. Their texts keep the "store:" prefix the
// command line and the HTTP API have always shown; package store exports
// the same values.
var (
	// ErrProjectNotFound means no project has that id or name.
	ErrProjectNotFound = errors.New("store: project not found")
	// ErrInvalid means a bad argument (name, type, status...).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrAmbiguous means a prefix or name matches several things.
	ErrAmbiguous = errors.New("store: ambiguous")
	// ErrBadRecord means a catalogue record that does not decode.
	ErrBadRecord = errors.New("store: malformed catalogue record")
)
