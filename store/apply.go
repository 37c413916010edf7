package store

import (
	"context"

	"github.com/silo-dev/silo/object"
)

// destinationHolds returns the versions the backup records at s hold, or
// nil when s is no backup destination (see reindex.Source.Held).
func (s *Store) destinationHolds(ctx context.Context) (map[object.ID]bool, error) {
	if dest, err := s.isDestination(ctx, false); err != nil || !dest {
		return nil, err
	}
	return s.backupHoldsLenient(ctx)
}
