package store

import (
	"github.com/silo-dev/silo/hooks"
	"github.com/silo-dev/silo/snapshot"
)

// filters returns storage.filters as snapshot.Filters (nil: none).
func (s *Store) filters() snapshot.Filters {
	if fs := hooks.NewFilters(s.cfg); fs != nil {
		return fs
	}
	return nil
}
