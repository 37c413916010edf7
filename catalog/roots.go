package catalog

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// Roots returns what a collection keeps of what the catalogue in db
// lists: every version's tree and snapshot blob (less those of the
// projects whose ids are in without), and the meta blobs of the current
// project and template records, the tombstones and the forget records.
//
// In a backup destination (held not nil) the versions are those its
// records hold: Roots takes those it finds out of held, and the caller
// looks for the rest (versions the records hold that the catalogue does
// not list).
func Roots(db *index.DB, without []string, held map[object.ID]bool) (trees, live []object.ID, err error) {
	dest := held != nil
	origin := func(data []byte) {
		if r, err := DecodeRecord(data); err == nil && !r.Origin.IsZero() {
			live = append(live, r.Origin)
		}
	}
	err = db.View(func(tx *index.Tx) error {
		err := tx.Snapshots(func(ref index.SnapshotRef, data []byte) error {
			if slices.Contains(without, ref.ProjectID) {
				return nil
			}
			if dest {
				if !held[ref.ID] {
					return nil // a backup destination keeps what its records hold
				}
				delete(held, ref.ID)
			}
			sn, err := snapshot.DecodeSnapshot(data)
			if err != nil {
				return fmt.Errorf("snapshot %s: %w", ref.ID, err)
			}
			trees = append(trees, sn.Tree)
			live = append(live, ref.ID)
			return nil
		})
		if err != nil {
			return err
		}
		if err := tx.Projects(func(_ string, data []byte) error { origin(data); return nil }); err != nil {
			return err
		}
		for _, b := range []string{index.Purged} {
			if err := tx.ForEach(b, func(_ string, data []byte) error { origin(data); return nil }); err != nil {
				return err
			}
		}
		if err := tx.ForEach(index.Forgotten, func(_ string, val []byte) error {
			if id, err := object.ParseID(string(val)); err == nil {
				live = append(live, id)
			}
			return nil
		}); err != nil {
			return err
		}
		return tx.ForEach(index.Templates, func(_ string, val []byte) error {
			var t TemplateRecord
			if json.Unmarshal(val, &t) == nil {
				if id, err := object.ParseID(t.Origin); err == nil {
					live = append(live, id)
				}
			}
			return nil
		})
	})
	return trees, live, err
}
