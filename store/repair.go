package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// RepairOptions configure Repair.
type RepairOptions struct {
	DryRun   bool
	Progress snapshot.Progress
}

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

// Repair reads every pack, and for each damaged one (a table that does not
// check, or blobs that do not hash to their ids) it salvages what is
// readable: every good blob without a good copy elsewhere is copied into a
// new pack; every damaged blob leaves the index (the copy elsewhere, if
// any, takes over), and one with no good copy left is recorded lost, so
// that no later store refers to it and the next store of the files that
// held it writes it again. The damaged packs are condemned (a gc plan): a
// later gc deletes them once no session may use them. It names the
// versions and files that lost data, and fails with ErrCheckFailed when
// any did.
func (s *Store) Repair(ctx context.Context, opts RepairOptions) (*RepairReport, error) {
	t0 := time.Now()
	rep := &RepairReport{DryRun: opts.DryRun, Damaged: []DamagedPack{}, Affected: []LostVersion{}}
	if err := s.writable(); err != nil {
		return nil, err
	}
	se, err := s.beginExclusive(ctx)
	if err != nil {
		return nil, err
	}
	defer se.end()
	rr, err := s.refresh(ctx, false)
	if err != nil {
		return nil, err
	}
	var packs []object.ID
	for id := range rr.listed {
		packs = append(packs, id)
	}
	slices.SortFunc(packs, func(a, b object.ID) int { return strings.Compare(a.String(), b.String()) })
	rep.Packs = len(packs)
	if opts.Progress != nil {
		opts.Progress.AddTotal(int64(len(packs)), 0)
	}
	damaged, err := s.findDamage(ctx, packs, opts.Progress, rep)
	if err != nil {
		return nil, err
	}
	if len(damaged) == 0 {
		rep.Seconds = time.Since(t0).Seconds()
		return rep, s.reportLost(ctx, rep)
	}
	doomed := map[object.ID]bool{}
	for _, d := range damaged {
		doomed[d.id] = true
	}
	// a new pack must never take a damaged one's name: the good blobs of a
	// pack whose table alone is damaged, written again in their order,
	// make the pack it was before the damage (named by that content), and
	// a writer would take the damaged file for it
	s.condMu.Lock()
	if s.condemned == nil {
		s.condemned = map[object.ID]bool{}
	}
	for id := range doomed {
		s.condemned[id] = true
	}
	s.condMu.Unlock()
	// good blobs that have no good copy outside the damaged packs: a copy
	// in a damaged pack does not count
	w := s.repo.NewWriter(object.WriterOptions{Exclude: func(l object.Location) bool { return doomed[l.Pack] || se.exclude(l) }})
	copied, err := s.copyGood(ctx, w, damaged, doomed, opts.DryRun, rep)
	if err != nil {
		return nil, err
	}
	if opts.DryRun {
		rep.Seconds = time.Since(t0).Seconds()
		return rep, nil
	}
	if err := w.Flush(ctx); err != nil {
		return nil, err
	}
	// every blob of a damaged pack now points at a copy elsewhere when one
	// exists; the damaged ones without a copy leave the index, lost
	if err := s.db.Update(func(tx *index.Tx) error { return dropDamaged(tx, damaged, doomed) }); err != nil {
		return nil, err
	}
	// the damaged packs go by the protocol: a plan the next gc carries out
	var refs []gc.PackRef
	for _, d := range damaged {
		refs = append(refs, gc.PackRef{ID: d.id})
	}
	if err := gc.Condemn(ctx, s.leases.Backend(), s.leases, se.lease, refs); err != nil {
		return nil, err
	}
	s.log.Info("repair", "damaged_packs", len(damaged), "copied", len(copied))
	rep.Seconds = time.Since(t0).Seconds()
	return rep, s.reportLost(ctx, rep)
}

// damage is a damaged pack: the blobs that read well, and those that do
// not (unlisted: indexed in the pack, found by no reading of it).
type damage struct {
	info     DamagedPack
	id       object.ID
	good     []object.Blob
	bad      []object.Blob
	unlisted []object.Blob
}

// findDamage reads every pack and returns the damaged ones, adding them to
// rep: a pack whose table does not check is read blob by blob (Salvage).
func (s *Store) findDamage(ctx context.Context, packs []object.ID, prog snapshot.Progress, rep *RepairReport) ([]damage, error) {
	var damaged []damage
	for _, id := range packs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d := damage{id: id, info: DamagedPack{Pack: id.String()}}
		var bad []object.Blob
		var good []object.Blob
		verr := s.repo.VerifyPack(ctx, id, func(b object.Blob, err error) {
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
			d.info.Table, d.info.Why = true, verr.Error()
			sg, _, err := s.repo.Salvage(ctx, id, s.salvageHints(id))
			if err != nil {
				return nil, err
			}
			good = sg
			have := map[object.ID]bool{}
			for _, b := range sg {
				have[b.ID] = true
			}
			for _, b := range s.salvageHints(id) {
				if !have[b.ID] {
					d.unlisted = append(d.unlisted, b)
				}
			}
		case verr != nil || len(bad) > 0:
			d.info.Why = fmt.Sprintf("%d damaged blob(s)", len(bad))
			if verr != nil {
				d.info.Why = verr.Error()
			}
		default:
			if prog != nil {
				prog.AddDone(1, 0)
			}
			continue
		}
		d.good, d.bad = good, append(bad, d.unlisted...)
		d.info.Good, d.info.Bad = len(good), len(d.bad)
		damaged = append(damaged, d)
		rep.Damaged = append(rep.Damaged, d.info)
		if prog != nil {
			prog.AddDone(1, 0)
		}
	}
	return damaged, nil
}

// copyGood writes, through w, every good blob of the damaged packs that
// has no good copy outside them, and every damaged snapshot blob whose
// copy in the index hashes right; it counts them in rep and returns their
// ids (with dryRun, it only counts).
func (s *Store) copyGood(ctx context.Context, w *object.Writer, damaged []damage, doomed map[object.ID]bool, dryRun bool, rep *RepairReport) ([]object.ID, error) {
	var copied []object.ID
	for _, d := range damaged {
		// a damaged snapshot blob is written again from the index's copy
		// of it, when that copy hashes to its id
		for _, b := range d.bad {
			if b.Type != object.SnapshotBlob {
				continue
			}
			var data []byte
			if err := s.db.View(func(tx *index.Tx) error {
				_, data, _, _ = tx.Snapshot(b.ID)
				data = slices.Clone(data)
				return nil
			}); err != nil {
				return nil, err
			}
			if data == nil || s.repo.ID(data) != b.ID {
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
		for _, b := range d.good {
			locs, err := s.db.Locations(b.ID)
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
			stored, err := s.repo.ReadStored(ctx, object.Location{Pack: d.id, Blob: b}, nil)
			if err != nil {
				return nil, fmt.Errorf("repair: read blob %s of pack %s: %w", b.ID, d.id, err)
			}
			if _, err := w.SaveStored(ctx, b, stored); err != nil {
				return nil, err
			}
			copied = append(copied, b.ID)
		}
	}
	return copied, nil
}

// dropDamaged points every blob of the damaged packs at a copy elsewhere
// when one exists; a damaged one without a copy leaves the index, lost.
func dropDamaged(tx *index.Tx, damaged []damage, doomed map[object.ID]bool) error {
	for _, d := range damaged {
		for _, b := range append(slices.Clone(d.good), d.bad...) {
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
			case i < 0 && len(locs) > 0 && locs[0].Pack == d.id:
				if err := tx.DeleteBlob(b.ID); err != nil {
					return err
				}
				if err := tx.MarkLost(b.ID, "damaged in pack "+d.id.String()); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// reportLost fills the report's lost blobs and the versions and files that
// refer to them, and fails with ErrCheckFailed when there are any.
func (s *Store) reportLost(ctx context.Context, rep *RepairReport) error {
	lost := map[object.ID]bool{}
	err := s.db.View(func(tx *index.Tx) error {
		return tx.Lost(func(id object.ID, _ string) error { lost[id] = true; return nil })
	})
	if err != nil || len(lost) == 0 {
		return err
	}
	rep.Lost = len(lost)
	var snaps []SnapshotInfo
	err = s.db.View(func(tx *index.Tx) error {
		return tx.Snapshots(func(ref index.SnapshotRef, data []byte) error {
			if sn, err := snapshot.DecodeSnapshot(data); err == nil {
				snaps = append(snaps, infoOf(ref.ID, sn))
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, sn := range snaps {
		av := LostVersion{Project: sn.ProjectName, Snapshot: sn.ID}
		if lost[mustID(sn.ID)] {
			av.Paths = append(av.Paths, "(the snapshot blob)")
		}
		if tree, err := object.ParseID(sn.Tree); err == nil {
			if lost[tree] {
				av.Paths = append(av.Paths, "/")
			} else {
				werr := snapshot.Walk(ctx, s.repo, tree, func(p string, n *snapshot.Node) error {
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
		}
		if len(av.Paths) > 0 {
			rep.Affected = append(rep.Affected, av)
		}
	}
	if !rep.DryRun {
		// reported: gc no longer stops at versions that refer to them
		if err := s.db.Update(func(tx *index.Tx) error { _, err := tx.AcknowledgeLost(); return err }); err != nil {
			return err
		}
	}
	return fmt.Errorf("%w: %d blob(s) lost; %d version(s) refer to them (see the report); storing the same files again writes them back",
		ErrCheckFailed, rep.Lost, len(rep.Affected))
}

func mustID(s string) object.ID {
	id, _ := object.ParseID(s)
	return id
}
