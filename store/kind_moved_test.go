package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/silo-dev/silo/backend"
	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/check"
	"github.com/silo-dev/silo/keyring"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/replica"
	"github.com/silo-dev/silo/session"
	"github.com/silo-dev/silo/upload"
)

// The sentinels that moved to catalog, check, replica and keyring classify as
// before.
func TestMovedSentinelsKinds(t *testing.T) {
	for _, c := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("x: %w", replica.ErrNotFound), "not_found"},
		{fmt.Errorf("x: %w", ErrBackupNotFound), "not_found"},
		{fmt.Errorf("x: %w", catalog.ErrProjectNotFound), "not_found"},
		{fmt.Errorf("x: %w", catalog.ErrAmbiguous), "ambiguous"},
		{fmt.Errorf("x: %w", catalog.ErrInvalid), "invalid"},
		{fmt.Errorf("x: %w", catalog.ErrExists), "exists"},
		{fmt.Errorf("x: %w", check.ErrFailed), "check_failed"},
		{fmt.Errorf("x: %w", &check.MissingBlobsError{IDs: []object.ID{{1}}, Count: 1}), "missing_blobs"},
		{fmt.Errorf("x: %w", replica.ErrDestinationChanged), "destination_changed"},
		{fmt.Errorf("x: %w", replica.ErrNotADestination), "destination_changed"},
		{fmt.Errorf("x: %w", ErrNotADestination), "destination_changed"},
		{fmt.Errorf("x: %w", replica.ErrPacksLost), "conflict"},
		{fmt.Errorf("backup to d: %w", fmt.Errorf("%w: %w", ErrConflict, replica.ErrPacksLost)), "conflict"},
		{fmt.Errorf("x: %w", keyring.ErrPassword), "password"},
		{fmt.Errorf("x: %w", ErrPassword), "password"},
		{fmt.Errorf("x: %w", keyring.ErrKeyNotFound), "not_found"},
		{fmt.Errorf("x: %w", ErrKeyNotFound), "not_found"},
		{keyErr(fmt.Errorf("x: %w", keyring.ErrInvalid)), "invalid"},
		{keyErr(fmt.Errorf("x: %w", keyring.ErrAmbiguous)), "ambiguous"},
		{keyErr(fmt.Errorf("x: %w", keyring.ErrConflict)), "conflict"},
	} {
		if k := KindOf(c.err); k.Code != c.code {
			t.Errorf("%v: %s, want %s", c.err, k.Code, c.code)
		}
	}
}

// ErrPassword and ErrKeyNotFound are keyring's sentinels, with the texts
// they always had; keyErr gives keyring's other refusals store's
// sentinels without changing their text.
func TestKeyringSentinels(t *testing.T) {
	if ErrPassword != keyring.ErrPassword || ErrPassword.Error() != "store: password" {
		t.Errorf("ErrPassword is %q, not keyring's", ErrPassword)
	}
	if ErrKeyNotFound != keyring.ErrKeyNotFound || ErrKeyNotFound.Error() != "store: key not found" {
		t.Errorf("ErrKeyNotFound is %q, not keyring's", ErrKeyNotFound)
	}
	for _, c := range []struct{ from, to error }{
		{keyring.ErrInvalid, ErrInvalid}, {keyring.ErrAmbiguous, ErrAmbiguous}, {keyring.ErrConflict, ErrConflict},
	} {
		err := fmt.Errorf("remove key k: %w: what happened", c.from)
		got := keyErr(err)
		if !errors.Is(got, c.to) || !errors.Is(got, c.from) || got.Error() != err.Error() || got.Error() != "remove key k: "+c.to.Error()+": what happened" {
			t.Errorf("keyErr(%q) = %q: is store's %v %v", err, got, c.to, errors.Is(got, c.to))
		}
	}
	if err := errors.New("other"); keyErr(err) != err || keyErr(nil) != nil {
		t.Error("keyErr changed an error that is none of keyring's refusals")
	}
}

// A moved sentinel is the same error under its old name, with its old text.
func TestMovedSentinelsIdentity(t *testing.T) {
	for _, c := range []struct {
		old, moved error
		text       string
	}{
		{ErrNotADestination, replica.ErrNotADestination, "store: not a backup destination"},
		{ErrBackupNotFound, replica.ErrNotFound, "store: backup not found"},
		{ErrDestinationChanged, replica.ErrDestinationChanged, "store: not the backup destination backed up to before"},
		{ErrCheckFailed, check.ErrFailed, "store: check found problems"},
		{ErrMissingBlobs, check.ErrMissingBlobs, "store: tree refers to missing blobs"},
		{ErrExists, catalog.ErrExists, "store: already exists"},
		{ErrSnapshotNotFound, catalog.ErrSnapshotNotFound, "store: snapshot not found"},
		{ErrConflict, session.ErrConflict, "store: conflict with another process"},
		{ErrSourceNotFound, backend.ErrSourceNotFound, "store: import source not found"},
		{ErrDigestMismatch, upload.ErrDigestMismatch, "store: blob content does not match its id"},
	} {
		if c.old != c.moved || !errors.Is(fmt.Errorf("x: %w", c.moved), c.old) {
			t.Errorf("%v is not %v", c.old, c.moved)
		}
		if c.old.Error() != c.text {
			t.Errorf("%q, want %q", c.old.Error(), c.text)
		}
	}
}
