package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// session is one operation that reads or writes blobs: it holds a lease in
// the backend for as long as it runs, and knows the packs that pending gc
// plans condemned when it started (see package gc). Blobs whose every copy
// is condemned, and blobs recorded lost, are not reused: a store writes
// them again.
type session struct {
	s         *Store
	lease     *gc.Lease
	condemned map[object.ID]bool
	lost      map[object.ID]bool
}

// begin starts a session of the given kind (gc.KindStore, ...): the lease
// first, then the plans (the order the protocol rests on).
func (s *Store) begin(ctx context.Context, kind string) (*session, error) {
	lease, err := s.leases.Start(ctx, kind, s.cmd)
	if err != nil {
		return nil, err
	}
	se := &session{s: s, lease: lease}
	plans, err := gc.LoadPlans(ctx, s.leases.Backend())
	if err != nil {
		lease.End(context.WithoutCancel(ctx))
		return nil, err
	}
	// a plan carried out after this machine last listed the packs deleted
	// some the index may still hold: list again, or a blob in one of them
	// would look present (a plan carried out later is pending now, and
	// its packs condemned)
	if !s.sharedIndex() && !plans.NewestDone().Before(s.listedAt().Add(-2*time.Second)) {
		if _, err := s.refresh(ctx, false); err != nil {
			lease.End(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	se.condemned = plans.Condemned()
	s.condMu.Lock()
	if s.condemned == nil {
		s.condemned = map[object.ID]bool{}
	}
	for id := range se.condemned {
		s.condemned[id] = true
	}
	s.condMu.Unlock()
	if len(se.condemned) > 0 && !s.sharedIndex() {
		// the packs the plans' survivors were copied to may be new here
		if _, err := s.refresh(ctx, false); err != nil {
			lease.End(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	err = s.db.View(func(tx *index.Tx) error {
		if tx.LostCount() == 0 {
			return nil
		}
		se.lost = map[object.ID]bool{}
		return tx.Lost(func(id object.ID, _ string) error { se.lost[id] = true; return nil })
	})
	if err != nil {
		lease.End(context.WithoutCancel(ctx))
		return nil, err
	}
	return se, nil
}

// end deletes the lease.
func (se *session) end() { se.lease.End(context.Background()) }

// writer returns an object.Writer that does not reuse condemned copies.
func (se *session) writer() *object.Writer {
	return se.s.repo.NewWriter(object.WriterOptions{Exclude: se.exclude})
}

// exclude reports whether a blob found at loc must not be reused: every
// copy the index knows is in a condemned pack.
func (se *session) exclude(loc object.Location) bool {
	if se.lost[loc.ID] {
		return true
	}
	if !se.condemned[loc.Pack] {
		return false
	}
	locs, err := se.s.db.Locations(loc.ID)
	if err != nil {
		return true
	}
	return !slices.ContainsFunc(locs, func(l object.Location) bool { return !se.condemned[l.Pack] })
}

// reusable reports, for a file of the parent version that did not change,
// whether its chunks may be referred to again; nil when every blob may
// (no plan pending, nothing lost), so an unchanged re-store costs nothing
// more.
func (se *session) reusable() func([]object.ID) bool {
	if len(se.condemned) == 0 && len(se.lost) == 0 {
		return nil
	}
	return func(ids []object.ID) bool {
		for _, id := range ids {
			if se.lost[id] {
				return false
			}
			if len(se.condemned) == 0 {
				continue
			}
			loc, ok, err := se.s.db.Lookup(id)
			if err != nil || !ok || se.exclude(loc) {
				return false
			}
		}
		return true
	}
}

// beginExclusive starts a gc session that no other collection (or
// repair) runs beside, on any machine (gc.Exclusive).
func (s *Store) beginExclusive(ctx context.Context) (*session, error) {
	se, err := s.begin(ctx, gc.KindGC)
	if err != nil {
		return nil, err
	}
	if err := gc.Exclusive(ctx, s.leases, se.lease); err != nil {
		se.end()
		return nil, err
	}
	return se, nil
}

// renewLapsed, when the session's lease lapsed (a collection may have
// taken the session for dead), renews it, brings the index up to date and
// reloads the gc plans' condemned packs, and reports true: the caller
// then checks again what it relies on.
func (se *session) renewLapsed(ctx context.Context) (bool, error) {
	if !se.lease.Lapsed() {
		return false, nil
	}
	s := se.s
	s.log.Warn("the session's lease lapsed; checking what it relies on", "session", se.lease.Session(), "repository", s.Location())
	if err := se.lease.Renew(ctx); err != nil {
		return true, fmt.Errorf("%w: the lease of this session could not be renewed (%v); nothing was recorded, run it again", ErrConflict, err)
	}
	if _, err := s.refresh(ctx, false); err != nil {
		return true, err
	}
	plans, err := gc.LoadPlans(ctx, s.leases.Backend())
	if err != nil {
		return true, err
	}
	se.condemned = plans.Condemned()
	return true, nil
}

// checkLease is the last check before a session records what it relied
// on: a lease that went unrefreshed for half its TTL may have been taken
// for dead by a collection, so every blob of the tree must still be
// indexed in a pack that exists and is not condemned.
func (se *session) checkLease(ctx context.Context, tree object.ID) error {
	if lapsed, err := se.renewLapsed(ctx); err != nil || !lapsed {
		return err
	}
	s := se.s
	var missing []object.ID
	seen := map[object.ID]bool{}
	check := func(id object.ID) {
		if seen[id] {
			return
		}
		seen[id] = true
		loc, ok, err := s.db.Lookup(id)
		if err != nil || !ok || se.exclude(loc) {
			missing = append(missing, id)
		}
	}
	check(tree)
	err := snapshot.Walk(ctx, s.repo, tree, func(_ string, n *snapshot.Node) error {
		switch n.Type {
		case snapshot.Dir:
			check(n.Subtree)
		case snapshot.File:
			for _, id := range n.Content {
				check(id)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %v; nothing was recorded, run it again", ErrConflict, err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: this process was paused past its lease and a garbage collection removed %d blobs it relied on (e.g. %s); nothing was recorded, run it again",
			ErrConflict, len(missing), missing[0])
	}
	return nil
}

// adopt makes every blob of tree one the session may refer to: a blob
// whose every copy is condemned (or that the index records lost but a
// pack still holds) is read and written again through w. It costs nothing
// while no plan is pending and nothing is lost. Use it for trees a version
// takes over without storing them (a template's, an upload's).
func (se *session) adopt(ctx context.Context, w *object.Writer, tree object.ID) error {
	if len(se.condemned) == 0 && len(se.lost) == 0 {
		return nil
	}
	s := se.s
	seen := map[object.ID]bool{}
	again := func(id object.ID, t object.BlobType) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		loc, ok, err := s.db.Lookup(id)
		if err != nil {
			return err
		}
		if ok && !se.exclude(loc) {
			return nil
		}
		data, err := s.repo.LoadBlob(ctx, id, nil)
		if err != nil {
			return fmt.Errorf("%w: blob %s: %w", ErrConflict, id, err)
		}
		_, err = w.SaveBlob(ctx, t, id, data)
		return err
	}
	if err := again(tree, object.TreeBlob); err != nil {
		return err
	}
	return snapshot.Walk(ctx, s.repo, tree, func(_ string, n *snapshot.Node) error {
		switch n.Type {
		case snapshot.Dir:
			return again(n.Subtree, object.TreeBlob)
		case snapshot.File:
			for _, id := range n.Content {
				if err := again(id, object.DataBlob); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
