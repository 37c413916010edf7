package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
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

// RebuildStats reports an index rebuild.
type RebuildStats struct {
	Packs     int `json:"packs"`
	Blobs     int `json:"blobs"`
	Snapshots int `json:"snapshots"`
	Projects  int `json:"projects"`
	Templates int `json:"templates"`
	// BadPacks are packs of which nothing could be read; Salvaged, packs
	// whose table is damaged, read blob by blob (with how many blobs).
	BadPacks []string `json:"bad_packs,omitempty"`
	Salvaged []string `json:"salvaged_packs,omitempty"`
	// Skipped are snapshot and meta blobs that could not be read: the
	// catalogue records the old index had for them were kept.
	Skipped []string `json:"skipped_blobs,omitempty"`
	// Lost counts the blobs that versions refer to and no pack holds
	// readably (recorded lost: stores write them again); Broken lists
	// the versions that refer to them.
	Lost     int           `json:"lost_blobs"`
	Broken   []string      `json:"broken_versions,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// RebuildIndex builds a new index.db from the packs alone, beside the old
// one, and puts it in place atomically (a rebuild killed half-way leaves
// the old index as it was): the blob index from the pack tables (a pack
// whose table is damaged is read blob by blob), then the catalogue from
// snapshot and meta blobs, merged into the records the old index had (so a
// record whose blobs cannot be read is kept, not dropped). Blobs the
// versions refer to that no pack holds are recorded lost. It fails with
// ErrCheckFailed, after putting the new index in place, when it could not
// read everything. The old index may be damaged (Options.Rebuild).
func (s *Store) RebuildIndex(ctx context.Context, prog snapshot.Progress) (*RebuildStats, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	lease, err := s.leases.Start(ctx, gc.KindRead, s.cmd)
	if err != nil {
		return nil, err
	}
	defer lease.End(context.WithoutCancel(ctx))
	start := time.Now()
	st := &RebuildStats{}
	tmpPath := fmt.Sprintf("%s.rebuild-%d", s.db.Path(), os.Getpid())
	os.Remove(tmpPath)
	nd, err := index.Open(tmpPath, index.Options{})
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, p := range []string{tmpPath, tmpPath + ".lock", tmpPath + ".wait"} {
			os.Remove(p)
		}
	}()
	built, err := s.buildIndex(ctx, nd, st)
	if cerr := nd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, err
	}
	built.close()
	if err := s.db.Replace(tmpPath); err != nil {
		return st, fmt.Errorf("put the rebuilt index in place: %w", err)
	}
	// packs written while it was built
	if _, err := s.refresh(ctx, false); err != nil {
		return st, err
	}
	s.db.View(func(tx *index.Tx) error {
		st.Projects = tx.ProjectCount()
		tx.Snapshots(func(index.SnapshotRef, []byte) error { st.Snapshots++; return nil })
		tx.ForEach(index.Templates, func(string, []byte) error { st.Templates++; return nil })
		return nil
	})
	st.Duration = time.Since(start)
	s.log.Info("index rebuilt", "packs", st.Packs, "blobs", st.Blobs, "snapshots", st.Snapshots, "projects", st.Projects)
	if len(st.BadPacks)+len(st.Salvaged)+len(st.Skipped)+st.Lost > 0 {
		return st, fmt.Errorf("%w: index rebuilt, but %d pack(s) unreadable, %d read blob by blob, %d catalogue blob(s) unreadable, %d blob(s) lost (%d version(s) broken); run `silo check --read-data`, then `silo repair`",
			ErrCheckFailed, len(st.BadPacks), len(st.Salvaged), len(st.Skipped), st.Lost, len(st.Broken))
	}
	return st, nil
}

// builtIndex is a Store view over an index being built.
type builtIndex struct{ *Store }

func (b builtIndex) close() { b.repo.Close() }

// buildIndex fills nd: the old catalogue (when readable), every pack's
// blobs, the catalogue merged from the packs, the lost blobs.
func (s *Store) buildIndex(ctx context.Context, nd *index.DB, st *RebuildStats) (builtIndex, error) {
	if err := s.db.CopyCatalogueTo(nd); err != nil {
		s.log.Warn("the old index's catalogue cannot be read; the catalogue comes from the packs alone", "err", err)
	}
	repo, err := object.NewRepository(object.RepositoryOptions{Backend: s.be, Index: nd, TempDir: s.tmp,
		PackSize: s.rc.PackSize, Level: s.cfg.CompressionLevel, Logger: s.log, PackCache: s.repoCache(), Sealer: s.sealer()})
	if err != nil {
		return builtIndex{}, err
	}
	t := builtIndex{&Store{cfg: s.cfg, now: s.now, log: s.log, be: s.be, rc: s.rc, pol: s.pol, db: nd, repo: repo,
		leases: s.leases, base: s.base, tmp: s.tmp, cmd: s.cmd, keys: s.keys}}
	rep := &refreshReport{listed: map[object.ID]bool{}}
	err = s.be.List(ctx, "packs/", func(fi object.FileInfo) error {
		if id, ok := object.ParsePackName(fi.Name); ok {
			rep.listed[id] = true
			rep.Added = append(rep.Added, id)
		}
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("list packs in %s: %w", s.be.Location(), err)
	}
	st.Packs = len(rep.Added)
	rep.salvage = func(id object.ID) []object.Blob { return check.SalvageHints(s.db, id) }
	if err := t.indexPacks(ctx, rep); err != nil {
		return t, err
	}
	st.Blobs, st.BadPacks, st.Salvaged = rep.Blobs, rep.Unreadable, rep.Salvaged
	locs, err := catalog.Locations(t.db, nil)
	if err != nil {
		return t, err
	}
	ast, err := t.applyCatalogue(ctx, locs, false)
	if err != nil {
		return t, err
	}
	st.Skipped = ast.Skipped
	if err := t.recordLost(ctx, st); err != nil {
		return t, err
	}
	return t, nd.Update(func(tx *index.Tx) error { return tx.SetInfo(infoComplete, []byte("1")) })
}

// recordLost walks every version's trees (each distinct tree once) and
// records the blobs they refer to that are not indexed as lost, naming
// the versions that refer to them.
func (s *Store) recordLost(ctx context.Context, st *RebuildStats) error {
	type snap struct {
		id   object.ID
		name string
		tree object.ID
	}
	var snaps []snap
	err := s.db.View(func(tx *index.Tx) error {
		return tx.Snapshots(func(ref index.SnapshotRef, data []byte) error {
			if sn, err := snapshot.DecodeSnapshot(data); err == nil {
				snaps = append(snaps, snap{ref.ID, sn.ProjectName, sn.Tree})
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	bad := map[object.ID]bool{}    // trees that hold a lost blob, transitively
	walked := map[object.ID]bool{} // trees walked
	lost := map[object.ID]string{}
	indexed := func(id object.ID) bool {
		ok, _ := s.repo.Has(id)
		return ok
	}
	var walk func(tree object.ID) bool
	walk = func(tree object.ID) bool {
		if walked[tree] {
			return bad[tree]
		}
		walked[tree] = true
		if !indexed(tree) {
			lost[tree] = "tree"
			bad[tree] = true
			return true
		}
		nodes, err := snapshot.LoadTree(ctx, s.repo, tree)
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
						lost[id] = "data"
						bad[tree] = true
					}
				}
			}
		}
		return bad[tree]
	}
	for _, sp := range snaps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if walk(sp.tree) || !indexed(sp.id) {
			st.Broken = append(st.Broken, fmt.Sprintf("%s@%s", sp.name, sp.id.Short()))
		}
	}
	st.Lost = len(lost)
	if len(lost) == 0 {
		return nil
	}
	return s.db.Update(func(tx *index.Tx) error {
		for id, kind := range lost {
			if err := tx.MarkLost(id, kind+" blob referenced by a version, in no readable pack"); err != nil {
				return err
			}
		}
		return nil
	})
}

// infoComplete is set in index.db once every listed pack was indexed and
// the catalogue derived from them: an index without it (new, or its build
// was cut short) is built again from the packs.
const infoComplete = "complete"

func (s *Store) indexComplete() (bool, error) {
	var ok bool
	err := s.db.View(func(tx *index.Tx) error {
		ok = tx.Info(infoComplete) != nil
		return nil
	})
	return ok, err
}

// refreshReport says what a refresh found.
type refreshReport struct {
	Listed     int                // packs in the backend
	Blobs      int                // blobs of the packs it indexed
	Added      []object.ID        // packs it indexed
	Gone       []object.ID        // packs it dropped from the index
	Unreadable []string           // listed packs whose tables cannot be read, with why
	Salvaged   []string           // packs with a damaged table, read blob by blob
	Skipped    []string           // catalogue blobs that could not be read
	listed     map[object.ID]bool // the listing
	listedAt   time.Time          // when the listing began
	// salvage, when set, gives hints to read a pack whose table is
	// damaged blob by blob (see object.Salvage); nil: such a pack is
	// unreadable
	salvage func(object.ID) []object.Blob
}

// refresh brings index.db up to date with the packs in the backend (the
// truth it is a cache of): it indexes packs it does not know, drops packs
// that are gone (a blob they held moves to another copy, or, when no gc
// plan explains the pack's going, is recorded lost) and merges the
// catalogue blobs of the new packs. With all, it merges the catalogue
// blobs of every pack and marks the index complete. In a backup
// destination it then makes the catalogue list what the records hold
// (syncDestination).
func (s *Store) refresh(ctx context.Context, all bool) (*refreshReport, error) {
	rep, err := s.refreshPacks(ctx, all)
	if err != nil {
		return rep, err
	}
	if dest, err := s.isDestination(ctx, false); err != nil || !dest {
		return rep, err
	}
	return rep, s.syncDestination(ctx)
}

func (s *Store) refreshPacks(ctx context.Context, all bool) (*refreshReport, error) {
	// the index before the listing: a pack another process writes and
	// indexes meanwhile is then at worst listed and not yet known (and
	// indexed twice, harmlessly), never known and not listed (and taken
	// for gone)
	known := map[object.ID]bool{}
	if err := s.db.View(func(tx *index.Tx) error {
		return tx.Packs(func(p object.PackInfo) error { known[p.ID] = true; return nil })
	}); err != nil {
		return nil, err
	}
	rep := &refreshReport{listed: map[object.ID]bool{}, listedAt: time.Now()}
	err := s.be.List(ctx, "packs/", func(fi object.FileInfo) error {
		if id, ok := object.ParsePackName(fi.Name); ok {
			rep.listed[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs in %s: %w", s.be.Location(), err)
	}
	rep.Listed = len(rep.listed)
	for id := range rep.listed {
		if !known[id] {
			rep.Added = append(rep.Added, id)
		}
	}
	for id := range known {
		if !rep.listed[id] {
			rep.Gone = append(rep.Gone, id)
		}
	}
	slices.SortFunc(rep.Added, func(a, b object.ID) int { return strings.Compare(a.String(), b.String()) })
	if len(rep.Gone) > 0 {
		if err := s.dropGone(ctx, rep.Gone); err != nil {
			return rep, err
		}
	}
	if err := s.db.Update(func(tx *index.Tx) error {
		return tx.SetInfo(infoListedAt, []byte(rep.listedAt.UTC().Format(time.RFC3339Nano)))
	}); err != nil {
		return rep, err
	}
	if len(rep.Added) > 0 {
		// a pack gc took out of the index and deletes may still be listed
		if err := s.db.View(func(tx *index.Tx) error {
			rep.Added = slices.DeleteFunc(rep.Added, func(id object.ID) bool { return tx.Removed(id, rep.listedAt) })
			return nil
		}); err != nil {
			return rep, err
		}
	}
	if len(rep.Added) > 0 {
		s.log.Info("indexing packs", "new_packs", len(rep.Added), "vanished_packs", len(rep.Gone))
		rep.salvage = func(id object.ID) []object.Blob { return check.SalvageHints(s.db, id) }
		if err := s.indexPacks(ctx, rep); err != nil {
			return rep, err
		}
	}
	var packs map[object.ID]bool // all
	var retry []object.ID
	if !all {
		// packs whose catalogue blobs an earlier refresh could not read
		// are tried again until they are read
		if err := s.db.View(func(tx *index.Tx) error {
			return json.Unmarshal(append([]byte(nil), tx.Info(infoUnapplied)...), &retry)
		}); err != nil {
			retry = nil
		}
		if len(rep.Added) == 0 && len(retry) == 0 {
			return rep, nil
		}
		packs = map[object.ID]bool{}
		for _, id := range append(retry, rep.Added...) {
			packs[id] = true
		}
	}
	locs, err := catalog.Locations(s.db, packs)
	if err != nil {
		return rep, err
	}
	st, err := s.applyCatalogue(ctx, locs, false)
	if err != nil {
		return rep, err
	}
	rep.Skipped = st.Skipped
	return rep, s.db.Update(func(tx *index.Tx) error {
		if len(st.SkippedPacks) > 0 || len(retry) > 0 {
			b, _ := json.Marshal(slices.Compact(st.SkippedPacks))
			if len(st.SkippedPacks) == 0 {
				b = nil
			}
			if err := tx.SetInfo(infoUnapplied, b); err != nil {
				return err
			}
		}
		if all {
			return tx.SetInfo(infoComplete, []byte("1"))
		}
		return nil
	})
}

// infoListedAt is when (by this machine's clock) the packs were last
// listed: a gc plan carried out after it may have deleted packs the index
// still holds.
const infoListedAt = "listed_at"

// listedAt returns infoListedAt (zero when unknown).
func (s *Store) listedAt() time.Time {
	var t time.Time
	s.db.View(func(tx *index.Tx) error {
		t, _ = time.Parse(time.RFC3339Nano, string(tx.Info(infoListedAt)))
		return nil
	})
	return t
}

// infoUnapplied lists packs whose catalogue blobs could not be read when
// they were indexed (JSON ids); refresh reads them again.
const infoUnapplied = "unapplied"

// indexPacks reads the tables of the added packs (eight at a time) and
// indexes them in batches.
func (s *Store) indexPacks(ctx context.Context, rep *refreshReport) error {
	results := make(chan object.NewPack, 16)
	var badMu sync.Mutex
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
				np, err := s.repo.ReadPack(gctx, id)
				if err != nil && rep.salvage != nil && !errors.Is(err, object.ErrNotFound) {
					good, bad, serr := s.repo.Salvage(gctx, id, rep.salvage(id))
					if serr == nil && len(good) > 0 {
						s.log.Warn("pack table damaged; read blob by blob", "pack", id.String(), "blobs", len(good), "unverifiable", bad, "err", err)
						badMu.Lock()
						rep.Salvaged = append(rep.Salvaged, fmt.Sprintf("%s: %d blobs read, %d entries unverifiable (%v)", id, len(good), bad, err))
						badMu.Unlock()
						np, err = object.NewPack{Info: object.PackInfo{ID: id, Size: np.Info.Size, Data: good[0].Type.IsData(), Count: len(good)}, Blobs: good}, nil
						if fi, serr := s.be.Stat(gctx, object.PackName(id)); serr == nil {
							np.Info.Size = fi.Size
						}
					}
				}
				if err != nil && s.keys == nil && errors.Is(err, object.ErrSealed) {
					// an encrypted repository's pack: its config.json was
					// removed or made plain; never write plain data beside it
					return fmt.Errorf("%w: pack %s is encrypted, and %s was opened as a plain repository (its config.json was changed or removed?): refusing to use it", object.ErrSealed, id, s.be.Location())
				}
				if err != nil {
					s.log.Warn("pack unreadable", "pack", id.String(), "err", err)
					badMu.Lock()
					rep.Unreadable = append(rep.Unreadable, fmt.Sprintf("%s: %v", id, err))
					badMu.Unlock()
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
	g.Go(func() error {
		batch := make([]object.NewPack, 0, 64)
		write := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := s.db.Update(func(tx *index.Tx) error {
				// checked again where it counts: gc may have removed a
				// pack since the tables were read
				add := slices.DeleteFunc(slices.Clone(batch), func(np object.NewPack) bool { return tx.Removed(np.Info.ID, rep.listedAt) })
				return tx.AddPacks(add)
			})
			batch = batch[:0]
			return err
		}
		for r := range results {
			rep.Blobs += len(r.Blobs)
			batch = append(batch, r)
			if len(batch) == cap(batch) {
				if err := write(); err != nil {
					return err
				}
			}
		}
		return write()
	})
	err := g.Wait()
	slices.Sort(rep.Unreadable)
	return err
}

// dropGone removes packs that left the backend from the index. A blob they
// held moves to another copy; one with none left is recorded lost unless
// a gc plan explains the pack's going.
func (s *Store) dropGone(ctx context.Context, gone []object.ID) error {
	plans, err := gc.LoadPlans(ctx, s.leases.Backend())
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
	if err := s.db.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
			if goneSet[l.Pack] {
				byPack[l.Pack] = append(byPack[l.Pack], l.Blob)
			}
			return nil
		})
	}); err != nil {
		return err
	}
	return s.db.Update(func(tx *index.Tx) error {
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
			s.log.Warn("pack went missing from the backend without a gc plan; its blobs are recorded lost",
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
