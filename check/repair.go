package check

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// RepairReport says what Repair found and did.
type RepairReport struct {
	Packs int `json:"packs"` // packs read
	// Damaged are the packs with a damaged table or damaged blobs.
	Damaged []DamagedPack `json:"damaged"`
	// Copied counts the readable blobs of damaged packs copied into new
	// packs (those that had no good copy elsewhere).
	Copied int `json:"blobs_copied"`
	// Rewritten counts damaged snapshot blobs written again from the
	// index's copy of the snapshot.
	Rewritten int `json:"blobs_rewritten"`
	// Lost counts the blobs no pack holds readably any more; Affected
	// lists the versions and files that refer to them.
	Lost     int           `json:"blobs_lost"`
	Affected []LostVersion `json:"affected_versions"`
	DryRun   bool          `json:"dry_run"`
	Seconds  float64       `json:"seconds"`
}

// DamagedPack is one damaged pack and what Repair made of it.
type DamagedPack struct {
	Pack  string `json:"pack"`
	Why   string `json:"why"`
	Good  int    `json:"good_blobs"`
	Bad   int    `json:"bad_blobs"`
	Table bool   `json:"table_damaged"`
}

// LostVersion is a version that refers to lost blobs.
type LostVersion struct {
	Project  string   `json:"project"`
	Snapshot string   `json:"snapshot"`
	Paths    []string `json:"paths"`
}

// Damage is a damaged pack: the blobs that read well, and those that do
// not (unlisted: indexed in the pack, found by no reading of it).
type Damage struct {
	Info     DamagedPack
	ID       object.ID
	Good     []object.Blob
	Bad      []object.Blob
	Unlisted []object.Blob
}

// FindDamage reads every pack and returns the damaged ones, adding them to
// rep: a pack whose table does not check is read blob by blob (Salvage),
// with what the index knows of it (SalvageHints).
func FindDamage(ctx context.Context, repo *object.Repository, db *index.DB, packs []object.ID, prog snapshot.Progress, rep *RepairReport) ([]Damage, error) {
	var damaged []Damage
	for _, id := range packs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d := Damage{ID: id, Info: DamagedPack{Pack: id.String()}}
		var bad []object.Blob
		var good []object.Blob
		verr := repo.VerifyPack(ctx, id, func(b object.Blob, err error) {
			if err != nil {
				bad = append(bad, b)
			} else {
				good = append(good, b)
			}
		})
		switch {
		case errors.Is(verr, object.ErrNotFound):
			continue
		case verr != nil && len(good)+len(bad) == 0:
			// the table itself is damaged: read it blob by blob
			d.Info.Table, d.Info.Why = true, verr.Error()
			sg, _, err := repo.Salvage(ctx, id, SalvageHints(db, id))
			if err != nil {
				return nil, err
			}
			good = sg
			have := map[object.ID]bool{}
			for _, b := range sg {
				have[b.ID] = true
			}
			for _, b := range SalvageHints(db, id) {
				if !have[b.ID] {
					d.Unlisted = append(d.Unlisted, b)
				}
			}
		case verr != nil || len(bad) > 0:
			d.Info.Why = fmt.Sprintf("%d damaged blob(s)", len(bad))
			if verr != nil {
				d.Info.Why = verr.Error()
			}
		default:
			if prog != nil {
				prog.AddDone(1, 0)
			}
			continue
		}
		d.Good, d.Bad = good, append(bad, d.Unlisted...)
		d.Info.Good, d.Info.Bad = len(good), len(d.Bad)
		damaged = append(damaged, d)
		rep.Damaged = append(rep.Damaged, d.Info)
		if prog != nil {
			prog.AddDone(1, 0)
		}
	}
	return damaged, nil
}

// CopyGood writes, through w, every good blob of the damaged packs that
// has no good copy outside them, and every damaged snapshot blob whose
// copy in the index hashes right; it counts them in rep and returns their
// ids (with dryRun, it only counts).
func CopyGood(ctx context.Context, repo *object.Repository, db *index.DB, w *object.Writer, damaged []Damage, doomed map[object.ID]bool, dryRun bool, rep *RepairReport) ([]object.ID, error) {
	var copied []object.ID
	for _, d := range damaged {
		// a damaged snapshot blob is written again from the index's copy
		// of it, when that copy hashes to its id
		for _, b := range d.Bad {
			if b.Type != object.SnapshotBlob {
				continue
			}
			var data []byte
			if err := db.View(func(tx *index.Tx) error {
				_, data, _, _ = tx.Snapshot(b.ID)
				data = slices.Clone(data)
				return nil
			}); err != nil {
				return nil, err
			}
			if data == nil || repo.ID(data) != b.ID {
				continue
			}
			rep.Rewritten++
			if dryRun {
				continue
			}
			if _, err := w.SaveBlob(ctx, object.SnapshotBlob, b.ID, data); err != nil {
				return nil, err
			}
			copied = append(copied, b.ID)
		}
		for _, b := range d.Good {
			locs, err := db.Locations(b.ID)
			if err != nil {
				return nil, err
			}
			if slices.ContainsFunc(locs, func(l object.Location) bool { return !doomed[l.Pack] }) {
				continue
			}
			rep.Copied++
			if dryRun {
				continue
			}
			stored, err := repo.ReadStored(ctx, object.Location{Pack: d.ID, Blob: b}, nil)
			if err != nil {
				return nil, fmt.Errorf("repair: read blob %s of pack %s: %w", b.ID, d.ID, err)
			}
			if _, err := w.SaveStored(ctx, b, stored); err != nil {
				return nil, err
			}
			copied = append(copied, b.ID)
		}
	}
	return copied, nil
}

// DropDamaged points every blob of the damaged packs at a copy elsewhere
// when one exists; a damaged one without a copy leaves the index, lost.
func DropDamaged(tx *index.Tx, damaged []Damage, doomed map[object.ID]bool) error {
	for _, d := range damaged {
		for _, b := range append(slices.Clone(d.Good), d.Bad...) {
			locs, err := tx.Locations(b.ID)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(locs, func(l object.Location) bool { return !doomed[l.Pack] })
			switch {
			case i > 0:
				if err := tx.SetBlob(locs[i]); err != nil {
					return err
				}
			case i < 0 && len(locs) > 0 && locs[0].Pack == d.ID:
				if err := tx.DeleteBlob(b.ID); err != nil {
					return err
				}
				if err := tx.MarkLost(b.ID, "damaged in pack "+d.ID.String()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ReportLost fills the report's lost blobs and the versions and files that
// refer to them, and fails with ErrFailed when there are any.
func ReportLost(ctx context.Context, repo *object.Repository, db *index.DB, rep *RepairReport) error {
	lost := map[object.ID]bool{}
	err := db.View(func(tx *index.Tx) error {
		return tx.Lost(func(id object.ID, _ string) error { lost[id] = true; return nil })
	})
	if err != nil || len(lost) == 0 {
		return err
	}
	rep.Lost = len(lost)
	type version struct {
		id object.ID
		sn *snapshot.Snapshot
	}
	var snaps []version
	err = db.View(func(tx *index.Tx) error {
		return tx.Snapshots(func(ref index.SnapshotRef, data []byte) error {
			if sn, err := snapshot.DecodeSnapshot(data); err == nil {
				snaps = append(snaps, version{ref.ID, sn})
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, v := range snaps {
		av := LostVersion{Project: v.sn.ProjectName, Snapshot: v.id.String()}
		if lost[v.id] {
			av.Paths = append(av.Paths, "(the snapshot blob)")
		}
		switch tree := v.sn.Tree; {
		case lost[tree]:
			av.Paths = append(av.Paths, "/")
		default:
			werr := snapshot.Walk(ctx, repo, tree, func(p string, n *snapshot.Node) error {
				switch {
				case n.Type == snapshot.Dir && lost[n.Subtree]:
					av.Paths = append(av.Paths, p+"/")
					return snapshot.ErrSkipDir
				case n.Type == snapshot.File && slices.ContainsFunc(n.Content, func(id object.ID) bool { return lost[id] }):
					av.Paths = append(av.Paths, p)
				}
				return nil
			})
			if werr != nil && len(av.Paths) == 0 {
				av.Paths = append(av.Paths, "(unreadable: "+werr.Error()+")")
			}
		}
		if len(av.Paths) > 0 {
			rep.Affected = append(rep.Affected, av)
		}
	}
	if !rep.DryRun {
		// reported: gc no longer stops at versions that refer to them
		if err := db.Update(func(tx *index.Tx) error { _, err := tx.AcknowledgeLost(); return err }); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %d blob(s) lost; %d version(s) refer to them (see the report); storing the same files again writes them back",
		ErrFailed, rep.Lost, len(rep.Affected))
}

// SalvageHints returns what the index knows of a pack's blobs, to read a
// pack whose table is damaged.
func SalvageHints(db *index.DB, pack object.ID) []object.Blob {
	var out []object.Blob
	db.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
			if l.Pack == pack {
				out = append(out, l.Blob)
			}
			return nil
		})
	})
	return out
}
