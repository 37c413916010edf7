package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/silo-dev/silo/check"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store/detect"
)

// verifyTree checks a committed tree (check.Tree, with max_entries) and
// feeds detection the files of each distinct tree once.
func (s *Store) verifyTree(ctx context.Context, root object.ID) (snapshot.StoreStats, *detect.Collector, error) {
	det := detect.NewCollector(nil)
	det.Partial = true // a subtree met again is not visited again
	st, err := check.Tree(ctx, s.repo, root, check.TreeOptions{MaxEntries: s.cfg.MaxEntries, Setting: s.setting("max_entries"), Visit: det.Visit})
	if errors.Is(err, snapshot.ErrEntryLimit) {
		err = fmt.Errorf("%w: %w", ErrQuota, err)
	}
	return st, det, err
}
