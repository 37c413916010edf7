package catalog

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// Blob is a snapshot or meta blob read from the packs: the catalogue as
// the packs carry it.
type Blob struct {
	ID   object.ID
	Meta *Meta
	Snap *snapshot.Snapshot
	Data []byte
}

// ReadStats counts what ReadBlobs read.
type ReadStats struct {
	Snapshots, Metas int
	// Skipped names blobs that could not be read or decoded, and
	// SkippedPacks their packs.
	Skipped      []string
	SkippedPacks []object.ID
}

// Locations returns the snapshot and meta blobs indexed in packs (all
// packs when packs is nil). Forgotten snapshots are left out: nothing
// needs to read them.
func Locations(tx *index.Tx, packs map[object.ID]bool) ([]object.Location, error) {
	var out []object.Location
	err := tx.Blobs(func(l object.Location) error {
		if l.Type != object.SnapshotBlob && l.Type != object.MetaBlob {
			return nil
		}
		if packs != nil && !packs[l.Pack] {
			return nil
		}
		if l.Type == object.SnapshotBlob && tx.Get(index.Forgotten, l.ID.String()) != nil {
			return nil
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// ReadBlobs loads and decodes the snapshot and meta blobs at locs. With
// strict, a blob that cannot be read or decoded is an error naming it and
// its pack; otherwise it is skipped, logged and listed in st.
func ReadBlobs(ctx context.Context, repo snapshot.BlobLoader, locs []object.Location, strict bool, st *ReadStats, log *slog.Logger) ([]Blob, error) {
	out := make([]Blob, 0, len(locs))
	for _, l := range locs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := repo.LoadBlob(ctx, l.ID, nil)
		b := Blob{ID: l.ID, Data: data}
		if err == nil {
			switch l.Type {
			case object.SnapshotBlob:
				b.Snap, err = snapshot.DecodeSnapshot(data)
			case object.MetaBlob:
				var m Meta
				if err = json.Unmarshal(data, &m); err == nil {
					b.Meta = &m
				}
			}
		}
		if err != nil {
			what := fmt.Sprintf("%s blob %s in pack %s: %v", l.Type, l.ID, l.Pack, err)
			if strict {
				return nil, fmt.Errorf("%w: %s", object.ErrCorrupt, what)
			}
			log.Warn("catalogue blob unreadable; skipped", "blob", l.ID.String(), "pack", l.Pack.String(), "err", err)
			st.Skipped = append(st.Skipped, what)
			st.SkippedPacks = append(st.SkippedPacks, l.Pack)
			continue
		}
		if b.Snap != nil {
			st.Snapshots++
		} else {
			st.Metas++
		}
		out = append(out, b)
	}
	return out, nil
}

// Apply merges catalogue blobs into index.db (see apply.go): catalogue
// changes first, then versions (a version's project may have been purged
// or a template moved on). With held (a backup destination), a version
// its records do not hold is left out.
func Apply(ctx context.Context, repo snapshot.BlobLoader, db *index.DB, blobs []Blob, held map[object.ID]bool) error {
	slices.SortStableFunc(blobs, func(a, b Blob) int {
		switch {
		case a.Meta != nil && b.Meta == nil:
			return -1
		case a.Meta == nil && b.Meta != nil:
			return 1
		}
		return 0
	})
	// snapshots that templates name, to record them when the snapshot came
	// in an earlier batch than the template record
	tplSnaps := map[object.ID]SnapshotBlob{}
	for _, b := range blobs {
		if b.Meta != nil && b.Meta.Template != nil {
			if id, err := object.ParseID(b.Meta.Template.Snapshot); err == nil {
				if data, err := repo.LoadBlob(ctx, id, nil); err == nil {
					if sn, err := snapshot.DecodeSnapshot(data); err == nil {
						tplSnaps[id] = SnapshotBlob{Snap: sn, Data: data}
					}
				}
			}
		}
	}
	return db.Update(func(tx *index.Tx) error {
		for _, b := range blobs {
			var err error
			switch {
			case b.Meta != nil:
				err = ApplyMeta(tx, b.ID, b.Meta, tplSnaps)
			case b.Snap != nil && held != nil && !held[b.ID]:
			case b.Snap != nil:
				err = ApplySnapshot(tx, b.ID, b.Snap, b.Data)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}
