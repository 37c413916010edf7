package store

import (
	"math"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// Stats are the storage guide's numbers plus silo's own.
type Stats struct {
	TotalProjects    int     `json:"total_projects"` // active + archived
	TotalSizeGB      float64 `json:"total_size_gb"`  // logical size of their newest versions, GiB
	ActiveProjects   int     `json:"active_projects"`
	ArchivedProjects int     `json:"archived_projects"`
	AvailableSpaceGB float64 `json:"available_space_gb"` // free space of the base path, capped by total_quota
	DeletedProjects  int     `json:"deleted_projects"`
	Versions         int     `json:"versions"`
	LogicalBytes     int64   `json:"logical_bytes"`     // sum of every version's size
	UniqueBytes      int64   `json:"unique_bytes"`      // plain bytes of the distinct data blobs
	StoredBytes      int64   `json:"stored_bytes"`      // pack bytes on disk
	DedupRatio       float64 `json:"dedup_ratio"`       // logical / unique
	CompressionRatio float64 `json:"compression_ratio"` // unique / stored data
	Packs            int     `json:"packs"`
	Blobs            int     `json:"blobs"`
}

const gib = 1 << 30

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// Stats computes repository statistics.
func (s *Store) Stats() (*Stats, error) {
	st := &Stats{}
	var dataStored int64
	err := s.db.View(func(tx *index.Tx) error {
		if err := countProjects(tx, st); err != nil {
			return err
		}
		if err := tx.Snapshots(func(ref index.SnapshotRef, data []byte) error {
			sn, err := snapshot.DecodeSnapshot(data)
			if err == nil {
				st.Versions++
				st.LogicalBytes += sn.Size
			}
			return nil
		}); err != nil {
			return err
		}
		if err := tx.Packs(func(p object.PackInfo) error {
			st.Packs++
			st.StoredBytes += p.Size
			return nil
		}); err != nil {
			return err
		}
		return tx.Blobs(func(l object.Location) error {
			st.Blobs++
			if l.Type == object.DataBlob {
				st.UniqueBytes += int64(l.RawLength)
				dataStored += int64(l.Length)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if st.UniqueBytes > 0 {
		st.DedupRatio = round2(float64(st.LogicalBytes) / float64(st.UniqueBytes))
	}
	if dataStored > 0 {
		st.CompressionRatio = round2(float64(st.UniqueBytes) / float64(dataStored))
	}
	st.AvailableSpaceGB = -1 // unknown: object storage without a quota
	if free := s.availableSpace(st.StoredBytes); free >= 0 {
		st.AvailableSpaceGB = round2(float64(free) / gib)
	}
	return st, nil
}

// countProjects counts the projects by status, and the size of those not
// deleted.
func countProjects(tx *index.Tx, st *Stats) error {
	var total int64
	err := tx.Projects(func(id string, data []byte) error {
		r, err := catalog.DecodeRecord(data)
		if err != nil {
			return err
		}
		switch r.Status {
		case StatusActive:
			st.ActiveProjects++
			total += r.SizeBytes
		case StatusArchived:
			st.ArchivedProjects++
			total += r.SizeBytes
		case StatusDeleted:
			st.DeletedProjects++
		}
		return nil
	})
	st.TotalProjects = st.ActiveProjects + st.ArchivedProjects
	st.TotalSizeGB = round2(float64(total) / gib)
	return err
}

// availableSpace is the free space of the repository's disk (an encrypted
// one keeps its index elsewhere), or what total_quota leaves of stored,
// whichever is less; -1 when neither is known (object storage without a
// quota).
func (s *Store) availableSpace(stored int64) int64 {
	free := int64(-1)
	if l, ok := s.be.(object.Rooted); ok && !IsRemote(s.cfg.BasePath) {
		if n, err := freeSpace(l.Root()); err == nil {
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
