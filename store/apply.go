package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// catBlob is a snapshot or meta blob read from the packs.
type catBlob struct {
	id   object.ID
	meta *catalog.Meta
	snap *snapshot.Snapshot
	data []byte
}

// applyStats counts what applyCatalogue read.
type applyStats struct {
	Snapshots, Metas int
	// Skipped names blobs that could not be read or decoded, and
	// SkippedPacks their packs.
	Skipped      []string
	SkippedPacks []object.ID
}

// readCatalogueBlobs loads and decodes snapshot and meta blobs. With strict,
// a blob that cannot be read or decoded is an error naming it and its
// pack; otherwise it is skipped and listed.
func (s *Store) readCatalogueBlobs(ctx context.Context, locs []object.Location, strict bool, st *applyStats) ([]catBlob, error) {
	out := make([]catBlob, 0, len(locs))
	for _, l := range locs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := s.repo.LoadBlob(ctx, l.ID, nil)
		cb := catBlob{id: l.ID, data: data}
		if err == nil {
			switch l.Type {
			case object.SnapshotBlob:
				cb.snap, err = snapshot.DecodeSnapshot(data)
			case object.MetaBlob:
				var m catalog.Meta
				if err = json.Unmarshal(data, &m); err == nil {
					cb.meta = &m
				}
			}
		}
		if err != nil {
			what := fmt.Sprintf("%s blob %s in pack %s: %v", l.Type, l.ID, l.Pack, err)
			if strict {
				return nil, fmt.Errorf("%w: %s", object.ErrCorrupt, what)
			}
			s.log.Warn("catalogue blob unreadable; skipped", "blob", l.ID.String(), "pack", l.Pack.String(), "err", err)
			st.Skipped = append(st.Skipped, what)
			st.SkippedPacks = append(st.SkippedPacks, l.Pack)
			continue
		}
		if cb.snap != nil {
			st.Snapshots++
		} else {
			st.Metas++
		}
		out = append(out, cb)
	}
	return out, nil
}

// catalogueLocations returns the snapshot and meta blobs indexed in packs
// (all packs when packs is nil). Forgotten snapshots are left out: nothing
// needs to read them.
func (s *Store) catalogueLocations(packs map[object.ID]bool) ([]object.Location, error) {
	var out []object.Location
	err := s.db.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
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
	})
	return out, err
}

// applyCatalogue merges catalogue blobs into index.db (see above).
func (s *Store) applyCatalogue(ctx context.Context, locs []object.Location, strict bool) (*applyStats, error) {
	st := &applyStats{}
	blobs, err := s.readCatalogueBlobs(ctx, locs, strict, st)
	if err != nil {
		return st, err
	}
	// catalogue changes first, then versions (a version's project may have
	// been purged or a template moved on)
	slices.SortStableFunc(blobs, func(a, b catBlob) int {
		switch {
		case a.meta != nil && b.meta == nil:
			return -1
		case a.meta == nil && b.meta != nil:
			return 1
		}
		return 0
	})
	// snapshots that templates name, to record them when the snapshot came
	// in an earlier batch than the template record
	tplSnaps := map[object.ID]catalog.SnapshotBlob{}
	for _, b := range blobs {
		if b.meta != nil && b.meta.Template != nil {
			if id, err := object.ParseID(b.meta.Template.Snapshot); err == nil {
				if data, err := s.repo.LoadBlob(ctx, id, nil); err == nil {
					if sn, err := snapshot.DecodeSnapshot(data); err == nil {
						tplSnaps[id] = catalog.SnapshotBlob{Snap: sn, Data: data}
					}
				}
			}
		}
	}
	// a backup destination lists the versions its records hold, no others
	// (syncDestination)
	var held map[object.ID]bool
	if slices.ContainsFunc(blobs, func(b catBlob) bool { return b.snap != nil }) {
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
	err = s.db.Update(func(tx *index.Tx) error {
		for _, b := range blobs {
			var err error
			switch {
			case b.meta != nil:
				err = catalog.ApplyMeta(tx, b.id, b.meta, tplSnaps)
			case b.snap != nil && held != nil && !held[b.id]:
			case b.snap != nil:
				err = catalog.ApplySnapshot(tx, b.id, b.snap, b.data)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return st, err
}
