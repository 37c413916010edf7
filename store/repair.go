package store

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/silo-dev/silo/check"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/session"
	"github.com/silo-dev/silo/snapshot"
)

// The repair's report, as package check makes it.
type (
	RepairReport = check.RepairReport
	DamagedPack  = check.DamagedPack
	LostVersion  = check.LostVersion
)

// RepairOptions configure Repair.
type RepairOptions struct {
	DryRun   bool
	Progress snapshot.Progress
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
	defer se.End()
	rr, err := s.refresh(ctx, false)
	if err != nil {
		return nil, err
	}
	var packs []object.ID
	for id := range rr.Packs {
		packs = append(packs, id)
	}
	slices.SortFunc(packs, func(a, b object.ID) int { return strings.Compare(a.String(), b.String()) })
	rep.Packs = len(packs)
	if opts.Progress != nil {
		opts.Progress.AddTotal(int64(len(packs)), 0)
	}
	damaged, err := check.FindDamage(ctx, s.repo, s.db, packs, opts.Progress, rep)
	if err != nil {
		return nil, err
	}
	if len(damaged) > 0 {
		if err := s.salvage(ctx, se, damaged, opts.DryRun, rep); err != nil {
			return nil, err
		}
	}
	rep.Seconds = time.Since(t0).Seconds()
	if len(damaged) > 0 && opts.DryRun {
		return rep, nil // the index is unchanged: it does not show the losses yet
	}
	return rep, check.ReportLost(ctx, s.repo, s.db, rep)
}

// salvage copies the good blobs of the damaged packs that have no good copy
// elsewhere into new packs, takes the damaged blobs out of the index and
// condemns the damaged packs (a plan the next gc carries out). A dry run
// only counts what it would copy.
func (s *Store) salvage(ctx context.Context, se *session.Session, damaged []check.Damage, dryRun bool, rep *RepairReport) error {
	doomed := map[object.ID]bool{}
	for _, d := range damaged {
		doomed[d.ID] = true
	}
	// a new pack must never take a damaged one's name: the good blobs of a
	// pack whose table alone is damaged, written again in their order,
	// make the pack it was before the damage (named by that content), and
	// a writer would take the damaged file for it
	s.condemn(doomed)
	// good blobs that have no good copy outside the damaged packs: a copy
	// in a damaged pack does not count
	w := s.repo.NewWriter(object.WriterOptions{Exclude: func(l object.Location) bool { return doomed[l.Pack] || se.Exclude(l) }})
	copied, err := check.CopyGood(ctx, s.repo, s.db, w, damaged, doomed, dryRun, rep)
	if err != nil || dryRun {
		return err
	}
	if err := w.Flush(ctx); err != nil {
		return err
	}
	// every blob of a damaged pack now points at a copy elsewhere when one
	// exists; the damaged ones without a copy leave the index, lost
	if err := s.db.Update(func(tx *index.Tx) error { return check.DropDamaged(tx, damaged, doomed) }); err != nil {
		return err
	}
	var refs []gc.PackRef
	for _, d := range damaged {
		refs = append(refs, gc.PackRef{ID: d.ID})
	}
	if err := gc.Condemn(ctx, s.leases.Backend(), s.leases, se.Lease(), refs); err != nil {
		return err
	}
	s.log.Info("repair", "damaged_packs", len(damaged), "copied", len(copied))
	return nil
}
