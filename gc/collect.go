package gc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// Collection runs one collection under the protocol of the package doc.
type Collection struct {
	DB     *index.DB
	Repo   *object.Repository
	Leases *Leases
	Self   *Lease // the collection's own session (kind gc)
	// Mark brings the index up to date with the backend and returns the
	// options of a fresh mark: every root as the packs' own snapshot and
	// meta blobs define them, and the listing.
	Mark func(ctx context.Context) (Options, error)
	// Wait is how long to wait, in this run, for the sessions a new plan
	// waits for (0: carry it out in a later run).
	Wait time.Duration
	// Poll is how often Wait looks at the leases (default 2s).
	Poll   time.Duration
	DryRun bool

	// pending holds the packs of the plans not carried out (yet) in this
	// run: a copy of a blob in one of them does not count as a copy that
	// survives, because another plan may delete it (two plans, each
	// relying on the copy the other deletes, would lose the blob)
	pending map[object.ID]bool
}

// markAndPlan marks and plans. A referenced blob the index lacks is
// looked for once more, with a second mark (which lists the packs again),
// before it counts as missing: a listing that pages through the packs (S3,
// 1,000 keys a page) may have passed the key of a pack written while it
// ran, and found a later pack that refers to its blobs.
func (c *Collection) markAndPlan(ctx context.Context, plans *Plans) (*Plan, error) {
	for try := 0; ; try++ {
		opts, err := c.Mark(ctx)
		if err != nil {
			return nil, err
		}
		opts.Condemned = plans.Condemned()
		c.pending = plans.Condemned()
		plan, err := NewPlan(ctx, opts)
		if errors.Is(err, ErrMissing) && try == 0 {
			if opts.Logger != nil {
				opts.Logger.Info("a referenced blob is not indexed; listing the packs again before calling it missing", "err", err)
			}
			continue
		}
		return plan, err
	}
}

// Exclusive checks that no other collection holds an unexpired lease; the
// caller has started its own session already.
func Exclusive(ctx context.Context, leases *Leases, self *Lease) error {
	alive, err := leases.Alive(ctx, self.Session())
	if err != nil {
		return err
	}
	for _, r := range alive {
		if r.Kind == KindGC {
			return fmt.Errorf("%w: %s", ErrBusy, r)
		}
	}
	return nil
}

// Run carries out the pending plans no live session waits for, then plans
// anew from a fresh mark: it rewrites the live blobs of mostly dead packs,
// condemns the dead packs, and deletes them at once when no other session
// is alive (or once the sessions end within Wait).
func (c *Collection) Run(ctx context.Context) (*Plan, *Result, error) {
	t0 := time.Now()
	res := &Result{}
	be := c.Leases.Backend() // plans and pack deletes: the control view (sealed in an encrypted repository)
	plans, err := LoadPlans(ctx, be)
	if err != nil {
		return nil, nil, err
	}
	alive, err := c.Leases.Alive(ctx, c.Self.Session())
	if err != nil {
		return nil, nil, err
	}
	var ripe []*Pending
	for _, p := range plans.Pending {
		if p.Armed == nil {
			if c.DryRun {
				continue
			}
			// its collection died between writing and arming it
			if err := arm(ctx, be, c.Leases, c.Self.Session(), p); err != nil {
				return nil, nil, err
			}
		}
		if len(p.waiting(alive)) == 0 {
			ripe = append(ripe, p)
		}
	}
	// the mark comes after the ripeness check: every session a ripe plan
	// waited for has ended, so its versions are among the roots
	plan, err := c.markAndPlan(ctx, plans)
	if err != nil {
		return nil, nil, err
	}
	if c.DryRun {
		return plan, res, nil
	}
	for _, p := range ripe {
		if err := c.carry(ctx, p, plan.marks, res); err != nil {
			return plan, res, err
		}
	}
	pending, err := c.condemn(ctx, plan, res)
	if err != nil {
		return plan, res, err
	}
	if pending != nil {
		if err := c.settle(ctx, plan, pending, res); err != nil {
			return plan, res, err
		}
	}
	// plans left waiting from earlier runs
	for _, p := range plans.Pending {
		if !slices.Contains(ripe, p) {
			res.DeferredPacks += len(p.Packs)
			for _, pr := range p.Packs {
				res.DeferredBytes += pr.Size
			}
			res.Waiting = appendSessions(res.Waiting, p.waiting(alive))
		}
	}
	expireDone(ctx, be, plans, c.Leases.Now())
	res.Seconds = time.Since(t0).Seconds()
	return plan, res, nil
}

func appendSessions(to, more []LeaseRecord) []LeaseRecord {
	for _, r := range more {
		if !slices.ContainsFunc(to, func(x LeaseRecord) bool { return x.Session == r.Session }) {
			to = append(to, r)
		}
	}
	return to
}

// settle carries out a new plan when no session waits for it, after
// waiting up to c.Wait for those that do, and a fresh mark when roots came
// or went meanwhile.
func (c *Collection) settle(ctx context.Context, plan *Plan, p *Pending, res *Result) error {
	waiting := p.waiting(p.Armed.Sessions)
	if len(waiting) > 0 && c.Wait > 0 {
		poll := c.Poll
		if poll <= 0 {
			poll = 2 * time.Second
		}
		deadline := time.Now().Add(c.Wait)
		for len(waiting) > 0 && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(poll):
			}
			alive, err := c.Leases.Alive(ctx, c.Self.Session())
			if err != nil {
				return err
			}
			waiting = p.waiting(alive)
		}
	}
	if len(waiting) > 0 {
		res.DeferredPacks += len(p.Packs)
		for _, pr := range p.Packs {
			res.DeferredBytes += pr.Size
		}
		res.Waiting = appendSessions(res.Waiting, waiting)
		return nil
	}
	// versions recorded between the mark and the armed record are roots
	// the mark did not see: mark again when the roots changed
	opts, err := c.Mark(ctx)
	if err != nil {
		return err
	}
	marks := plan.marks
	if !sameRoots(opts, plan.opts) {
		fresh, err := NewPlan(ctx, opts)
		if err != nil {
			return err
		}
		marks = fresh.marks
	}
	return c.carry(ctx, p, marks, res)
}

func sameRoots(a, b Options) bool {
	key := func(o Options) []string {
		var out []string
		for _, id := range o.Trees {
			out = append(out, "t"+id.String())
		}
		for _, id := range o.Live {
			out = append(out, "l"+id.String())
		}
		sort.Strings(out)
		return slices.Compact(out)
	}
	return slices.Equal(key(a), key(b))
}

// condemn rewrites the live blobs of the packs to repack into new packs
// (durable and indexed first), then writes and arms the plan condemning
// the packs to delete and the rewritten ones. It returns nil when there is
// nothing to condemn.
func (c *Collection) condemn(ctx context.Context, plan *Plan, res *Result) (*Pending, error) {
	if len(plan.Delete)+len(plan.Repack) == 0 {
		return nil, nil
	}
	host, _ := os.Hostname()
	p := &Pending{ID: newPlanID(c.Leases.Now()), Created: c.Leases.Now().UTC(), Host: host}
	deleting := map[object.ID]bool{}
	for _, pp := range plan.Delete {
		deleting[pp.ID] = true
	}
	for _, pp := range plan.Delete {
		// the pack's own table, not the index's view of it, must show no
		// live blob without a copy elsewhere
		blobs, _, err := c.Repo.ReadPackTable(ctx, pp.ID)
		if err == nil {
			var live bool
			if live, err = c.liveElsewhere(blobs, plan.marks, deleting); err == nil && !live {
				c.Leases.log.Info("gc: a pack to delete holds a live blob with no other surviving copy; kept for now", "pack", pp.ID.String())
				continue
			}
		}
		p.Packs = append(p.Packs, PackRef{ID: pp.ID, Size: pp.Size})
	}
	if len(plan.Repack) > 0 {
		into, err := c.rewrite(ctx, plan)
		if err != nil {
			return nil, err
		}
		for _, np := range into {
			p.Into = append(p.Into, np.Info.ID)
		}
		res.PacksWritten += len(into)
		written := map[object.ID]bool{}
		for _, np := range into {
			written[np.Info.ID] = true
			res.FreedBytes -= np.Info.Size
		}
		for _, pp := range plan.Repack {
			if !written[pp.ID] { // a rewrite can reproduce a pack byte for byte
				p.Packs = append(p.Packs, PackRef{ID: pp.ID, Size: pp.Size, Rewritten: true})
			}
		}
	}
	if len(p.Packs) == 0 {
		return nil, nil
	}
	be := c.Leases.Backend() // plans and pack deletes: the control view (sealed in an encrypted repository)
	if err := writePlan(ctx, be, p); err != nil {
		return nil, err
	}
	if err := arm(ctx, be, c.Leases, c.Self.Session(), p); err != nil {
		return nil, err
	}
	plan.opts.Logger.Info("gc plan written", "plan", p.ID, "packs", len(p.Packs), "waiting_for", len(p.Armed.Sessions))
	return p, nil
}

// Condemn writes and arms a plan condemning packs outside a collection
// (repair condemns damaged packs this way): the next collection carries it
// out like any other, once no session it waits for lives.
func Condemn(ctx context.Context, be object.Backend, leases *Leases, self *Lease, packs []PackRef) error {
	host, _ := os.Hostname()
	p := &Pending{ID: newPlanID(leases.Now()), Created: leases.Now().UTC(), Host: host, Packs: packs}
	if err := writePlan(ctx, be, p); err != nil {
		return err
	}
	return arm(ctx, be, leases, self.Session(), p)
}

// rewrite copies the live blobs of the packs to repack into new packs and
// makes those the blobs' first locations.
func (c *Collection) rewrite(ctx context.Context, plan *Plan) ([]object.NewPack, error) {
	old := map[object.ID]bool{}
	for _, pp := range plan.Repack {
		old[pp.ID] = true
	}
	var data, meta []object.Location
	err := c.DB.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
			if old[l.Pack] && plan.marks.marked(l.ID) {
				if l.Type.IsData() {
					data = append(data, l)
				} else {
					meta = append(meta, l)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	var out []object.NewPack
	for _, group := range []struct {
		locs []object.Location
		data bool
	}{{data, true}, {meta, false}} {
		if len(group.locs) == 0 {
			continue
		}
		sort.Slice(group.locs, func(i, j int) bool {
			a, b := group.locs[i], group.locs[j]
			if a.Pack != b.Pack {
				return strings.Compare(a.Pack.String(), b.Pack.String()) < 0
			}
			return a.Offset < b.Offset
		})
		nps, err := c.Repo.CopyBlobs(ctx, group.locs, group.data)
		if err != nil {
			return nil, fmt.Errorf("gc: rewrite live blobs: %w; nothing was deleted", err)
		}
		err = c.DB.Update(func(tx *index.Tx) error {
			for _, np := range nps {
				if err := tx.AddPack(np.Info, np.Blobs); err != nil {
					return err
				}
				for _, b := range np.Blobs {
					if err := tx.SetBlob(object.Location{Pack: np.Info.ID, Blob: b}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("gc: index rewritten packs: %w", err)
		}
		out = append(out, nps...)
	}
	return out, nil
}

// carry deletes a plan's packs, except those holding a blob the fresh mark
// finds live that has no copy outside the packs being deleted, then
// replaces the plan by its done record.
func (c *Collection) carry(ctx context.Context, p *Pending, marks *markSet, res *Result) error {
	be := c.Leases.Backend() // plans and pack deletes: the control view (sealed in an encrypted repository)
	done := &Done{ID: p.ID, Time: c.Leases.Now().UTC()}
	if p.Armed != nil {
		done.Armed = p.Armed.Time
		for _, r := range p.Armed.Sessions {
			done.WaitedFor = append(done.WaitedFor, r.String())
		}
	}
	victims, err := c.victims(ctx, p, marks, done, res)
	if err != nil {
		return err
	}
	// the index first: readers move to the other copies before the files go
	removed, err := c.unindex(victims)
	if err != nil {
		return fmt.Errorf("gc: remove condemned packs from the index: %w", err)
	}
	for _, v := range victims {
		if v.blobs == nil {
			continue
		}
		c.Repo.Forget(v.ref.ID)
		if err := be.Delete(ctx, object.PackName(v.ref.ID)); err != nil && !errors.Is(err, object.ErrNotFound) {
			return fmt.Errorf("gc: delete pack %s: %w", v.ref.ID, err)
		}
		done.Deleted = append(done.Deleted, v.ref.ID)
		if v.ref.Rewritten {
			res.PacksRepacked++
		} else {
			res.PacksDeleted++
		}
		res.FreedBytes += v.ref.Size
	}
	res.BlobsRemoved += removed
	// a refresh that listed the packs before they went must not index
	// them again
	if err := c.DB.Update(func(tx *index.Tx) error { return tx.PacksDeleted(done.Deleted, time.Now()) }); err != nil {
		return fmt.Errorf("gc: note deleted packs in the index: %w", err)
	}
	if err := finish(ctx, be, p, done); err != nil {
		return err
	}
	for _, pr := range p.Packs {
		delete(c.pending, pr.ID)
	}
	res.Plans = append(res.Plans, p.ID)
	c.Leases.log.Info("gc plan carried out", "plan", p.ID, "deleted", len(done.Deleted), "kept", len(done.Kept))
	return nil
}

// victim is a condemned pack carry deletes, with its blobs (nil: the
// pack is gone already).
type victim struct {
	ref   PackRef
	blobs []object.Blob
}

// victims reads the plan's packs and returns those to delete: each whose
// live blobs (by the fresh mark) all have a copy outside the packs being
// deleted. The others are kept, as is a pack that cannot be read, and
// done says so; a pack already gone (an earlier run was interrupted)
// counts as deleted.
func (c *Collection) victims(ctx context.Context, p *Pending, marks *markSet, done *Done, res *Result) ([]victim, error) {
	deleting := map[object.ID]bool{}
	for _, pr := range p.Packs {
		deleting[pr.ID] = true
	}
	var victims []victim
	for _, pr := range p.Packs {
		blobs, _, err := c.Repo.ReadPackTable(ctx, pr.ID)
		if errors.Is(err, object.ErrNotFound) {
			c.Leases.log.Debug("condemned pack already gone", "plan", p.ID, "pack", pr.ID.String())
			done.Deleted = append(done.Deleted, pr.ID) // deleted by an earlier, interrupted run
			victims = append(victims, victim{ref: pr})
			continue
		}
		if err != nil {
			// a damaged table: what the index holds of the pack is read
			// blob by blob, and only blobs found that way can be live (a
			// live blob the index lacks would have stopped the mark)
			var good []object.Blob
			if good, _, err = c.Repo.Salvage(ctx, pr.ID, c.indexed(pr.ID)); err != nil {
				c.Leases.log.Warn("condemned pack unreadable; kept", "pack", pr.ID.String(), "err", err)
				done.Kept = append(done.Kept, pr.ID)
				continue
			}
			blobs = append(good, c.indexed(pr.ID)...)
		}
		live, err := c.liveElsewhere(blobs, marks, deleting)
		if err != nil {
			return nil, err
		}
		if !live {
			done.Kept = append(done.Kept, pr.ID)
			res.PacksKept++
			continue
		}
		c.Leases.log.Debug("condemned pack to delete", "plan", p.ID, "pack", pr.ID.String(), "blobs", len(blobs))
		victims = append(victims, victim{pr, blobs})
	}
	return victims, nil
}

// unindex takes the victims' packs out of the index and returns how many
// of their blobs it holds no other copy of.
func (c *Collection) unindex(victims []victim) (removed int, err error) {
	err = c.DB.Update(func(tx *index.Tx) error {
		removed = 0
		all := map[object.ID][]object.Blob{}
		for _, v := range victims {
			all[v.ref.ID] = v.blobs
		}
		if err := tx.RemovePacks(all); err != nil {
			return err
		}
		for _, v := range victims {
			for _, b := range v.blobs {
				if _, ok, err := tx.Lookup(b.ID); err == nil && !ok {
					removed++
				}
			}
		}
		return nil
	})
	return removed, err
}

// indexed returns the index's entries for a pack.
func (c *Collection) indexed(pack object.ID) []object.Blob {
	var out []object.Blob
	c.DB.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
			if l.Pack == pack {
				out = append(out, l.Blob)
			}
			return nil
		})
	})
	return out
}

// liveElsewhere reports whether every blob of a pack that the mark finds
// live has a copy in a pack that is neither being deleted nor condemned by
// a plan still pending.
func (c *Collection) liveElsewhere(blobs []object.Blob, marks *markSet, deleting map[object.ID]bool) (bool, error) {
	ok := true
	err := c.DB.View(func(tx *index.Tx) error {
		for _, b := range blobs {
			if !marks.marked(b.ID) {
				continue
			}
			locs, err := tx.Locations(b.ID)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(locs, func(l object.Location) bool { return !deleting[l.Pack] && !c.pending[l.Pack] }) {
				ok = false
				return nil
			}
		}
		return nil
	})
	return ok, err
}
