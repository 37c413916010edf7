package reindex

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/check"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// Source is the repository whose index is brought up to date.
type Source struct {
	Repo    *object.Repository // reads the packs (and indexes into DB)
	DB      *index.DB
	Backend object.Backend // lists the packs
	Plans   object.Backend // holds the gc plans that explain packs gone
	Log     *slog.Logger   // nil: discard
	// Encrypted says the repository is encrypted: a sealed pack in a
	// plain one stops the refresh.
	Encrypted bool
	// Held, when set, returns the versions a backup destination's records
	// hold, or nil when the repository is no destination: a destination's
	// catalogue lists only those (see replica.Held).
	Held func(ctx context.Context) (map[object.ID]bool, error)
}

// Apply merges the catalogue blobs (snapshot and meta) of packs into
// src.DB (see package catalog); nil means every pack but those waiting in
// the pending list for a later refresh (see pending.go), unless their
// catalogue blobs could not be read. In a backup destination only the
// versions its records hold are listed. With strict, a blob that cannot
// be read fails it; without, it is skipped and named in the stats.
func Apply(ctx context.Context, src Source, packs map[object.ID]bool, strict bool) (*catalog.ReadStats, error) {
	var skip func(object.ID, pendingPack) bool
	if packs == nil {
		skip = func(_ object.ID, p pendingPack) bool { return !p.Unreadable }
	}
	st, _, err := apply(ctx, src, packs, nil, skip, strict)
	return st, err
}

// apply is Apply of packs (nil: all) but the pending packs skip names,
// both read in one transaction with where the blobs are. It returns the
// packs of watch that were indexed then: their catalogue blobs were read.
func apply(ctx context.Context, src Source, packs, watch map[object.ID]bool, skip func(object.ID, pendingPack) bool, strict bool) (*catalog.ReadStats, map[object.ID]bool, error) {
	st := &catalog.ReadStats{}
	var locs []object.Location
	indexed := map[object.ID]bool{}
	err := src.DB.View(func(tx *index.Tx) error {
		pend, err := pendingOf(tx)
		if err != nil {
			return err
		}
		if locs, err = catalog.Locations(tx, packs); err != nil {
			return err
		}
		if skip != nil {
			locs = slices.DeleteFunc(locs, func(l object.Location) bool { p, ok := pend[l.Pack]; return ok && skip(l.Pack, p) })
		}
		for id := range watch {
			if _, ok, err := tx.Pack(id); err != nil {
				return err
			} else if ok {
				indexed[id] = true
			}
		}
		return nil
	})
	if err != nil {
		return st, nil, err
	}
	blobs, err := catalog.ReadBlobs(ctx, src.Repo, locs, strict, st, src.logger())
	if err != nil {
		return st, nil, err
	}
	var held map[object.ID]bool
	if src.Held != nil && slices.ContainsFunc(blobs, func(b catalog.Blob) bool { return b.Snap != nil }) {
		if held, err = src.Held(ctx); err != nil {
			return st, nil, err
		}
	}
	return st, indexed, catalog.Apply(ctx, src.Repo, src.DB, blobs, held)
}

func (s Source) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// RecordLost walks every version's trees (each distinct tree once) and
// records the blobs they refer to that are not indexed as lost, returning how
// many and the versions (project@id) that refer to them.
func RecordLost(ctx context.Context, repo *object.Repository, db *index.DB) (lost int, broken []string, err error) {
	type snap struct {
		id   object.ID
		name string
		tree object.ID
	}
	var snaps []snap
	err = db.View(func(tx *index.Tx) error {
		return tx.Snapshots(func(ref index.SnapshotRef, data []byte) error {
			if sn, err := snapshot.DecodeSnapshot(data); err == nil {
				snaps = append(snaps, snap{ref.ID, sn.ProjectName, sn.Tree})
			}
			return nil
		})
	})
	if err != nil {
		return 0, nil, err
	}
	bad := map[object.ID]bool{}    // trees that hold a lost blob, transitively
	walked := map[object.ID]bool{} // trees walked
	lostIDs := map[object.ID]string{}
	indexed := func(id object.ID) bool {
		ok, _ := repo.Has(id)
		return ok
	}
	var walk func(tree object.ID) bool
	walk = func(tree object.ID) bool {
		if walked[tree] {
			return bad[tree]
		}
		walked[tree] = true
		if !indexed(tree) {
			lostIDs[tree] = "tree"
			bad[tree] = true
			return true
		}
		nodes, err := snapshot.LoadTree(ctx, repo, tree)
		if err != nil {
			bad[tree] = true
			return true
		}
		for i := range nodes {
			switch nodes[i].Type {
			case snapshot.Dir:
				if walk(nodes[i].Subtree) {
					bad[tree] = true
				}
			case snapshot.File:
				for _, id := range nodes[i].Content {
					if !indexed(id) {
						lostIDs[id] = "data"
						bad[tree] = true
					}
				}
			}
		}
		return bad[tree]
	}
	for _, sp := range snaps {
		if err := ctx.Err(); err != nil {
			return 0, nil, err
		}
		if walk(sp.tree) || !indexed(sp.id) {
			broken = append(broken, fmt.Sprintf("%s@%s", sp.name, sp.id.Short()))
		}
	}
	if len(lostIDs) == 0 {
		return 0, broken, nil
	}
	return len(lostIDs), broken, db.Update(func(tx *index.Tx) error {
		for id, kind := range lostIDs {
			if err := tx.MarkLost(id, kind+" blob referenced by a version, in no readable pack"); err != nil {
				return err
			}
		}
		return nil
	})
}

// InfoComplete is set in index.db once every listed pack was indexed and
// the catalogue derived from them: an index without it (new, or its build
// was cut short) is built again from the packs.
const InfoComplete = "complete"

// Complete reports whether the index is complete (InfoComplete).
func Complete(db *index.DB) (bool, error) {
	var ok bool
	err := db.View(func(tx *index.Tx) error {
		ok = tx.Info(InfoComplete) != nil
		return nil
	})
	return ok, err
}

// Report says what a refresh found.
type Report struct {
	Listed     int                // packs in the backend
	Blobs      int                // blobs of the packs it indexed
	Added      []object.ID        // packs it indexed
	Gone       []object.ID        // packs it dropped from the index
	Unreadable []string           // listed packs whose tables cannot be read, with why
	Salvaged   []string           // packs with a damaged table, read blob by blob
	Skipped    []string           // catalogue blobs that could not be read
	Packs      map[object.ID]bool // the listings
	Late       []object.ID        // packs only the second listing found (see pending.go)
	First      map[object.ID]bool // RefreshForMark: the first listing
	catalogue  bool               // a pack Index read holds a snapshot or meta blob
	ListedAt   time.Time          // when the listing began
	// Salvage, when set, gives hints to read a pack whose table is
	// damaged blob by blob (see object.Salvage); nil: such a pack is
	// unreadable
	Salvage func(object.ID) []object.Blob
}

// Refresh brings index.db up to date with the packs in the backend (the
// truth it is a cache of): it indexes packs it does not know, drops packs
// that are gone (a blob they held moves to another copy, or, when no gc
// plan explains the pack's going, is recorded lost) and merges the
// catalogue blobs of the new packs (Apply). A listing that finds new
// packs with catalogue blobs (snapshot or meta) is followed by a second
// one, and packs only the second found wait
// for the next refresh's merge (see pending.go). With all, or on an
// index not marked complete, it merges the catalogue blobs of every pack
// but those waiting and marks the index complete.
func Refresh(ctx context.Context, src Source, all bool) (*Report, error) {
	return refresh(ctx, src, all, false)
}

// RefreshForMark is Refresh for gc's mark: it always lists twice, so that
// every pack of the first listing (Report.First) may have its catalogue
// blobs merged, by MarkRoots, whether this refresh found it or an earlier
// one left it waiting (see pending.go).
func RefreshForMark(ctx context.Context, src Source) (*Report, error) {
	return refresh(ctx, src, false, true)
}

// MarkRoots merges, strictly, the catalogue blobs of every pack of
// rep.First, the first listing of a RefreshForMark: gc's mark then reads
// the versions from the packs' own snapshot and meta blobs. A pack only a
// later listing holds was written after that listing began, by a session
// gc's own protocol waits for; its versions may be missing here.
func MarkRoots(ctx context.Context, src Source, rep *Report) (*catalog.ReadStats, error) {
	if rep.First == nil {
		return &catalog.ReadStats{}, fmt.Errorf("reindex: MarkRoots needs the report of RefreshForMark")
	}
	st, _, err := apply(ctx, src, rep.First, nil, nil, true)
	return st, err
}

func refresh(ctx context.Context, src Source, all, twice bool) (*Report, error) {
	// the index before the listing: a pack another process writes and
	// indexes meanwhile is then at worst listed and not yet known (and
	// indexed twice, harmlessly), never known and not listed (and taken
	// for gone)
	known := map[object.ID]bool{}
	var seq uint64
	if err := src.DB.Update(func(tx *index.Tx) error {
		var err error
		if seq, err = nextListing(tx); err != nil {
			return err
		}
		// an incomplete index (a build cut short, or a damaged pending
		// list an earlier refresh found) is completed by whichever
		// refresh comes next, also in a process that never opens the
		// repository again (silo serve)
		all = all || tx.Info(InfoComplete) == nil
		// a damaged pending list marks the index incomplete here
		if _, err := pendingOf(tx); err != nil {
			return err
		}
		return tx.Packs(func(p object.PackInfo) error { known[p.ID] = true; return nil })
	}); err != nil {
		return nil, err
	}
	rep := &Report{Packs: map[object.ID]bool{}, ListedAt: time.Now()}
	if err := listPacks(ctx, src, rep.Packs); err != nil {
		return nil, err
	}
	rep.Listed = len(rep.Packs)
	for id := range rep.Packs {
		if !known[id] {
			rep.Added = append(rep.Added, id)
		}
	}
	for id := range known {
		if !rep.Packs[id] {
			rep.Gone = append(rep.Gone, id)
		}
	}
	slices.SortFunc(rep.Added, func(a, b object.ID) int { return strings.Compare(a.String(), b.String()) })
	if len(rep.Gone) > 0 {
		if err := DropGone(ctx, src, rep.Gone); err != nil {
			return rep, err
		}
	}
	if err := src.DB.Update(func(tx *index.Tx) error {
		return tx.SetInfo(InfoListedAt, []byte(rep.ListedAt.UTC().Format(time.RFC3339Nano)))
	}); err != nil {
		return rep, err
	}
	if len(rep.Added) > 0 {
		// a pack gc took out of the index and deletes may still be listed
		if err := src.DB.View(func(tx *index.Tx) error {
			rep.Added = slices.DeleteFunc(rep.Added, func(id object.ID) bool { return tx.Removed(id, rep.ListedAt) })
			return nil
		}); err != nil {
			return rep, err
		}
	}
	if len(rep.Added) > 0 {
		src.logger().Info("indexing packs", "new_packs", len(rep.Added), "vanished_packs", len(rep.Gone))
		if err := addPending(src.DB, rep.Added); err != nil {
			return rep, err
		}
		rep.Salvage = func(id object.ID) []object.Blob { return check.SalvageHints(src.DB, id) }
		if err := Index(ctx, src, rep); err != nil {
			return rep, err
		}
	}
	if twice {
		rep.First = maps.Clone(rep.Packs)
	}
	// the second listing is for the predecessors of new catalogue blobs:
	// new packs without any need none. A new pack this refresh could not
	// read may be indexed by another process meanwhile, and merged here
	if twice || rep.catalogue || len(rep.Unreadable) > 0 {
		if err := listAgain(ctx, src, rep); err != nil {
			return rep, err
		}
	}
	return rep, mergeCatalogue(ctx, src, rep, seq, all)
}

// mergeCatalogue merges the catalogue blobs of the packs a refresh's first
// listing (numbered seq) found, and of the waiting packs a listing begun
// before it found (all: of every pack but those still waiting), then
// takes the merged ones out of the pending list.
func mergeCatalogue(ctx context.Context, src Source, rep *Report, seq uint64, all bool) error {
	pend, err := pending(src.DB)
	if err != nil {
		return err
	}
	// this refresh's first listing's packs, and the waiting packs a
	// listing begun before it found
	found := map[object.ID]bool{}
	for _, id := range rep.Added {
		found[id] = true
	}
	for id, p := range pend {
		if p.After < seq {
			found[id] = true
		}
	}
	if !all && len(found) == 0 {
		return nil
	}
	var packs map[object.ID]bool
	var skip func(object.ID, pendingPack) bool
	if all {
		// every pack but those still waiting, as the pending list is
		// when the blobs are located
		skip = func(id object.ID, p pendingPack) bool { return !found[id] && !p.Unreadable }
	} else {
		packs = found
	}
	st, indexed, err := apply(ctx, src, packs, found, skip, false)
	if err != nil {
		return err
	}
	rep.Skipped = st.Skipped
	return src.DB.Update(func(tx *index.Tx) error {
		p, err := pendingOf(tx)
		if err != nil {
			return err
		}
		for id := range found {
			// merged: indexed when its blobs were located. A pack not
			// indexed then stays, unless it is gone: another refresh
			// indexing it merges it, or, cut short, leaves it waiting
			_, now, err := tx.Pack(id)
			if err != nil {
				return err
			}
			if indexed[id] || !now && !rep.Packs[id] {
				delete(p, id)
			}
		}
		for _, id := range st.SkippedPacks {
			p[id] = pendingPack{Unreadable: true}
		}
		if err := setPending(tx, p); err != nil {
			return err
		}
		if all {
			return tx.SetInfo(InfoComplete, []byte("1"))
		}
		return nil
	})
}

// InfoListedAt is when (by this machine's clock) the packs were last
// listed: a gc plan carried out after it may have deleted packs the index
// still holds.
const InfoListedAt = "listed_at"

// ListedAt returns InfoListedAt (zero when unknown).
func ListedAt(db *index.DB) time.Time {
	var t time.Time
	db.View(func(tx *index.Tx) error {
		t, _ = time.Parse(time.RFC3339Nano, string(tx.Info(InfoListedAt)))
		return nil
	})
	return t
}

// Index reads the tables of the added packs (eight at a time) and
// indexes them in batches.
func Index(ctx context.Context, src Source, rep *Report) error {
	x := &indexer{src: src, rep: rep}
	results := make(chan object.NewPack, 16)
	g, gctx := errgroup.WithContext(ctx)
	ids := make(chan object.ID)
	g.Go(func() error {
		defer close(ids)
		for _, id := range rep.Added {
			select {
			case ids <- id:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	var workers sync.WaitGroup
	for range 8 {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			for id := range ids {
				np, ok, err := x.read(gctx, id)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				select {
				case results <- np:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	go func() { workers.Wait(); close(results) }()
	g.Go(func() error { return x.write(results) })
	err := g.Wait()
	slices.Sort(rep.Unreadable)
	return err
}

// indexer is one Index: the report its readers add to.
type indexer struct {
	src Source
	rep *Report
	mu  sync.Mutex // rep's Salvaged and Unreadable
}

// read reads a pack's table (blob by blob when the table is damaged and
// rep.Salvage says what to look for). ok is false for a pack that cannot
// be read, which rep.Unreadable lists.
func (x *indexer) read(ctx context.Context, id object.ID) (np object.NewPack, ok bool, err error) {
	src, rep := x.src, x.rep
	np, err = src.Repo.ReadPack(ctx, id)
	if err != nil && rep.Salvage != nil && !errors.Is(err, object.ErrNotFound) {
		good, bad, serr := src.Repo.Salvage(ctx, id, rep.Salvage(id))
		if serr == nil && len(good) > 0 {
			src.logger().Warn("pack table damaged; read blob by blob", "pack", id.String(), "blobs", len(good), "unverifiable", bad, "err", err)
			x.mu.Lock()
			rep.Salvaged = append(rep.Salvaged, fmt.Sprintf("%s: %d blobs read, %d entries unverifiable (%v)", id, len(good), bad, err))
			x.mu.Unlock()
			np, err = object.NewPack{Info: object.PackInfo{ID: id, Size: np.Info.Size, Data: good[0].Type.IsData(), Count: len(good)}, Blobs: good}, nil
			if fi, serr := src.Backend.Stat(ctx, object.PackName(id)); serr == nil {
				np.Info.Size = fi.Size
			}
		}
	}
	if err != nil && !src.Encrypted && errors.Is(err, object.ErrSealed) {
		// an encrypted repository's pack: its config.json was removed or
		// made plain; never write plain data beside it
		return np, false, fmt.Errorf("%w: pack %s is encrypted, and %s was opened as a plain repository (its config.json was changed or removed?): refusing to use it", object.ErrSealed, id, src.Backend.Location())
	}
	if err != nil {
		src.logger().Warn("pack unreadable", "pack", id.String(), "err", err)
		x.mu.Lock()
		rep.Unreadable = append(rep.Unreadable, fmt.Sprintf("%s: %v", id, err))
		x.mu.Unlock()
		return np, false, nil
	}
	return np, true, nil
}

// write indexes the packs read, 64 to a transaction, and notes whether
// any holds catalogue blobs.
func (x *indexer) write(results <-chan object.NewPack) error {
	batch := make([]object.NewPack, 0, 64)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := x.src.DB.Update(func(tx *index.Tx) error {
			// checked again where it counts: gc may have removed a pack
			// since the tables were read
			add := slices.DeleteFunc(slices.Clone(batch), func(np object.NewPack) bool { return tx.Removed(np.Info.ID, x.rep.ListedAt) })
			return tx.AddPacks(add)
		})
		batch = batch[:0]
		return err
	}
	for r := range results {
		x.rep.Blobs += len(r.Blobs)
		x.rep.catalogue = x.rep.catalogue || slices.ContainsFunc(r.Blobs, func(b object.Blob) bool {
			return b.Type == object.SnapshotBlob || b.Type == object.MetaBlob
		})
		batch = append(batch, r)
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// DropGone removes packs that left the backend from the index. A blob they
// held moves to another copy; one with none left is recorded lost unless
// a gc plan explains the pack's going.
func DropGone(ctx context.Context, src Source, gone []object.ID) error {
	plans, err := gc.LoadPlans(ctx, src.Plans)
	if err != nil {
		return err
	}
	explained, err := plans.Deleted(ctx)
	if err != nil {
		return err
	}
	for id := range plans.Condemned() {
		explained[id] = true
	}
	goneSet := map[object.ID]bool{}
	for _, id := range gone {
		goneSet[id] = true
	}
	byPack := map[object.ID][]object.Blob{}
	if err := src.DB.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
			if goneSet[l.Pack] {
				byPack[l.Pack] = append(byPack[l.Pack], l.Blob)
			}
			return nil
		})
	}); err != nil {
		return err
	}
	return src.DB.Update(func(tx *index.Tx) error {
		all := map[object.ID][]object.Blob{}
		for _, id := range gone {
			all[id] = byPack[id]
		}
		if err := tx.RemovePacks(all); err != nil {
			return err
		}
		if err := tx.PacksDeleted(gone, time.Now()); err != nil {
			return err
		}
		for _, id := range gone {
			blobs := byPack[id]
			if explained[id] {
				continue
			}
			src.logger().Warn("pack went missing from the backend without a gc plan; its blobs are recorded lost",
				"pack", id.String(), "blobs", len(blobs))
			for _, b := range blobs {
				if _, ok, err := tx.Lookup(b.ID); err == nil && !ok {
					if err := tx.MarkMissing(b.ID, "pack "+id.String()+" went missing"); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}
