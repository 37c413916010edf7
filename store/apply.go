package store

import (
	"context"

	"github.com/silo-dev/silo/object"
)

// destinationHolds returns reindex.Source.Held for s: the versions the
// backup records at s hold, or nil when s is no backup destination. With
// fresh, a "no" is asked of the backend again (see isDestination).
func (s *Store) destinationHolds(fresh bool) func(context.Context) (map[object.ID]bool, error) {
	return func(ctx context.Context) (map[object.ID]bool, error) {
		if dest, err := s.isDestination(ctx, fresh); err != nil || !dest {
			return nil, err
		}
		return s.backupHoldsLenient(ctx)
	}
}
