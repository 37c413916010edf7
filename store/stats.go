package store

import (
	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// Stats are the storage guide's numbers plus silo's own.
type Stats = catalog.Stats

// Stats computes repository statistics.
func (s *Store) Stats() (st *Stats, err error) {
	err = s.db.View(func(tx *index.Tx) error {
		st, err = catalog.Count(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	st.AvailableSpaceGB = -1 // unknown: object storage without a quota
	if free := s.availableSpace(st.StoredBytes); free >= 0 {
		st.AvailableSpaceGB = catalog.Round2(float64(free) / catalog.GiB)
	}
	return st, nil
}

// availableSpace is the free space of the repository's disk (an encrypted
// one keeps its index elsewhere), or what total_quota leaves of stored,
// whichever is less; -1 when neither is known (object storage without a
// quota).
func (s *Store) availableSpace(stored int64) int64 {
	free := int64(-1)
	if l, ok := s.be.(object.Rooted); ok && !IsRemote(s.cfg.BasePath) {
		if n, err := object.FreeSpace(l.Root()); err == nil {
			free = n
		}
	}
	if q := s.cfg.TotalQuota; q > 0 {
		left := max(q-stored, 0)
		if free < 0 || left < free {
			free = left
		}
	}
	return free
}
