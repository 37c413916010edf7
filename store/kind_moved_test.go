package store

import (
	"errors"
	"fmt"
	"testing"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/replica"
)

// The sentinels that moved to catalog and replica classify as before.
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
		{fmt.Errorf("x: %w", replica.ErrDestinationChanged), "destination_changed"},
		{fmt.Errorf("x: %w", replica.ErrNotADestination), "destination_changed"},
		{fmt.Errorf("x: %w", ErrNotADestination), "destination_changed"},
		{fmt.Errorf("x: %w", replica.ErrPacksLost), "conflict"},
		{fmt.Errorf("backup to d: %w", fmt.Errorf("%w: %w", ErrConflict, replica.ErrPacksLost)), "conflict"},
	} {
		if k := KindOf(c.err); k.Code != c.code {
			t.Errorf("%v: %s, want %s", c.err, k.Code, c.code)
		}
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
	} {
		if c.old != c.moved || !errors.Is(fmt.Errorf("x: %w", c.moved), c.old) {
			t.Errorf("%v is not %v", c.old, c.moved)
		}
		if c.old.Error() != c.text {
			t.Errorf("%q, want %q", c.old.Error(), c.text)
		}
	}
}
