package catalog

import (
	"math"

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

// GiB is the unit of the guide's sizes.
const GiB = 1 << 30

// Round2 rounds to two decimals, as the guide's numbers are.
func Round2(f float64) float64 { return math.Round(f*100) / 100 }

// Count computes the statistics index.db holds: all but
// AvailableSpaceGB, which depends on where the repository lives.
func Count(tx *index.Tx) (*Stats, error) {
	st := &Stats{}
	if err := countProjects(tx, st); err != nil {
		return nil, err
	}
	err := tx.Snapshots(func(ref index.SnapshotRef, data []byte) error {
		if sn, err := snapshot.DecodeSnapshot(data); err == nil {
			st.Versions++
			st.LogicalBytes += sn.Size
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = tx.Packs(func(p object.PackInfo) error {
		st.Packs++
		st.StoredBytes += p.Size
		return nil
	})
	if err != nil {
		return nil, err
	}
	var dataStored int64
	err = tx.Blobs(func(l object.Location) error {
		st.Blobs++
		if l.Type == object.DataBlob {
			st.UniqueBytes += int64(l.RawLength)
			dataStored += int64(l.Length)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if st.UniqueBytes > 0 {
		st.DedupRatio = Round2(float64(st.LogicalBytes) / float64(st.UniqueBytes))
	}
	if dataStored > 0 {
		st.CompressionRatio = Round2(float64(st.UniqueBytes) / float64(dataStored))
	}
	return st, nil
}

// countProjects counts the projects by status, and the size of those not
// deleted.
func countProjects(tx *index.Tx, st *Stats) error {
	var total int64
	err := tx.Projects(func(id string, data []byte) error {
		r, err := DecodeRecord(data)
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
	st.TotalSizeGB = Round2(float64(total) / GiB)
	return err
}
