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
	// ErrExists means a name is taken (a project's, a template's, a
	// workbench id).
	ErrExists = errors.New("store: already exists")
	// ErrSnapshotNotFound means no version matches.
	ErrSnapshotNotFound = errors.New("store: snapshot not found")
	// ErrBadRecord means a catalogue record that does not decode.
	ErrBadRecord = errors.New("store: malformed catalogue record")
)
