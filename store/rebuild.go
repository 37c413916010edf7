package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// RebuildStats reports an index rebuild.
type RebuildStats struct {
	Packs     int           `json:"packs"`
	Blobs     int           `json:"blobs"`
	Snapshots int           `json:"snapshots"`
	Projects  int           `json:"projects"`
	Templates int           `json:"templates"`
	BadPacks  []string      `json:"bad_packs,omitempty"`
	Skipped   []string      `json:"skipped_blobs,omitempty"`
	Duration  time.Duration `json:"duration_ns"`
}

// RebuildIndex recreates index.db's blob index from the pack tables, then
// the snapshot list and the catalogue from snapshot and meta blobs.
func (s *Store) RebuildIndex(ctx context.Context, prog snapshot.Progress) (*RebuildStats, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	start := time.Now()
	err := s.db.Update(func(tx *index.Tx) error {
		if err := tx.SetInfo(infoComplete, nil); err != nil {
			return err
		}
		if err := tx.ClearBlobs(); err != nil {
			return err
		}
		return tx.ClearCatalogue()
	})
	if err != nil {
		return nil, err
	}
	rep, err := s.refresh(ctx, true)
	st := &RebuildStats{Duration: time.Since(start)}
	if rep != nil {
		st.Packs, st.Blobs, st.BadPacks, st.Skipped = rep.Listed, rep.Blobs, rep.Unreadable, rep.Skipped
	}
	s.db.View(func(tx *index.Tx) error {
		st.Projects = tx.ProjectCount()
		tx.Snapshots(func(index.SnapshotRef, []byte) error { st.Snapshots++; return nil })
		tx.ForEach(index.Templates, func(string, []byte) error { st.Templates++; return nil })
		return nil
	})
	s.log.Info("index rebuilt", "packs", st.Packs, "blobs", st.Blobs, "snapshots", st.Snapshots, "projects", st.Projects)
	return st, err
}

func parsePackName(name string) (object.ID, bool) {
	base := name[strings.LastIndex(name, "/")+1:]
	id, err := object.ParseID(base)
	if err != nil || object.PackName(id) != name {
		return id, false
	}
	return id, true
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
	Skipped    []string           // catalogue blobs that could not be read
	listed     map[object.ID]bool // the listing
}

// refresh brings index.db up to date with the packs in the backend (the
// truth it is a cache of): it indexes packs it does not know, drops packs
// that are gone (a blob they held moves to another copy, or, when no gc
// plan explains the pack's going, is recorded lost) and merges the
// catalogue blobs of the new packs. With all, it merges the catalogue
// blobs of every pack and marks the index complete.
func (s *Store) refresh(ctx context.Context, all bool) (*refreshReport, error) {
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
	rep := &refreshReport{listed: map[object.ID]bool{}}
	err := s.be.List(ctx, "packs/", func(fi object.FileInfo) error {
		if id, ok := parsePackName(fi.Name); ok {
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
	if len(rep.Added) > 0 {
		s.log.Info("indexing packs", "new_packs", len(rep.Added), "vanished_packs", len(rep.Gone))
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
	locs, err := s.catalogueLocations(packs)
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
			err := s.db.Update(func(tx *index.Tx) error { return tx.AddPacks(batch) })
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
	plans, err := gc.LoadPlans(ctx, s.be)
	if err != nil {
		return err
	}
	explained := plans.Deleted()
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
		for _, id := range gone {
			blobs := byPack[id]
			if explained[id] {
				continue
			}
			s.log.Warn("pack went missing from the backend without a gc plan; its blobs are recorded lost",
				"pack", id.String(), "blobs", len(blobs))
			for _, b := range blobs {
				if _, ok, err := tx.Lookup(b.ID); err == nil && !ok {
					if err := tx.MarkLost(b.ID, "pack "+id.String()+" went missing"); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}
