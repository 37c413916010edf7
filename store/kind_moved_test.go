package store

import (
	"fmt"
	"testing"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/check"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/replica"
)

// The sentinels that moved to catalog, check and replica classify as
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
		{fmt.Errorf("x: %w", replica.ErrPacksLost), "conflict"},
		{fmt.Errorf("backup to d: %w", fmt.Errorf("%w: %w", ErrConflict, replica.ErrPacksLost)), "conflict"},
	} {
		if k := KindOf(c.err); k.Code != c.code {
			t.Errorf("%v: %s, want %s", c.err, k.Code, c.code)
		}
	}
}
