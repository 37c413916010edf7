package store

import (
	"context"
	"slices"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/object"
)

// applyCatalogue merges the catalogue blobs at locs into index.db (see
// package catalog); a backup destination lists only the versions its
// records hold (syncDestination).
func (s *Store) applyCatalogue(ctx context.Context, locs []object.Location, strict bool) (*catalog.ReadStats, error) {
	st := &catalog.ReadStats{}
	blobs, err := catalog.ReadBlobs(ctx, s.repo, locs, strict, st, s.log)
	if err != nil {
		return st, err
	}
	var held map[object.ID]bool
	if slices.ContainsFunc(blobs, func(b catalog.Blob) bool { return b.Snap != nil }) {
		dest, err := s.isDestination(ctx, false)
		if err != nil {
			return st, err
		}
		if dest {
			if held, err = s.backupHoldsLenient(ctx); err != nil {
				return st, err
			}
		}
	}
	return st, catalog.Apply(ctx, s.repo, s.db, blobs, held)
}
