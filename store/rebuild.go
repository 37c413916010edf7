package store

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/reindex"
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
	err = s.buildIndex(ctx, nd, st)
	if cerr := nd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return st, err
	}
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

// buildIndex fills nd from the packs (see reindex.Build).
func (s *Store) buildIndex(ctx context.Context, nd *index.DB, st *RebuildStats) error {
	repo, err := object.NewRepository(object.RepositoryOptions{Backend: s.be, Index: nd, TempDir: s.tmp,
		PackSize: s.rc.PackSize, Level: s.cfg.CompressionLevel, Logger: s.log, PackCache: s.repoCache(), Sealer: s.sealer()})
	if err != nil {
		return err
	}
	defer repo.Close()
	src := s.reindexSource()
	src.Repo, src.DB = repo, nd
	// a new index knows nothing: a "not a destination" is asked again
	src.Held = s.destinationHolds(true)
	b, err := reindex.Build(ctx, src, s.db)
	st.Packs, st.Blobs, st.BadPacks, st.Salvaged = b.Packs, b.Blobs, b.BadPacks, b.Salvaged
	st.Skipped, st.Lost, st.Broken = b.Skipped, b.Lost, b.Broken
	return err
}

// refresh brings index.db up to date with the packs in the backend (the
// truth it is a cache of): it indexes packs it does not know, drops packs
// that are gone (a blob they held moves to another copy, or, when no gc
// plan explains the pack's going, is recorded lost) and merges the
// catalogue blobs of the new packs. With all, it merges the catalogue
// blobs of every pack and marks the index complete. In a backup
// destination it then makes the catalogue list what the records hold
// (syncDestination).
func (s *Store) refresh(ctx context.Context, all bool) (*reindex.Report, error) {
	return s.refreshWith(ctx, func(src reindex.Source) (*reindex.Report, error) { return reindex.Refresh(ctx, src, all) })
}

// refreshWith is refresh by one of package reindex's refreshes.
func (s *Store) refreshWith(ctx context.Context, refresh func(reindex.Source) (*reindex.Report, error)) (*reindex.Report, error) {
	rep, err := refresh(s.reindexSource())
	if err != nil {
		return rep, err
	}
	if dest, err := s.isDestination(ctx, false); err != nil || !dest {
		return rep, err
	}
	return rep, s.syncDestination(ctx)
}

// reindexSource is s as package reindex brings its index up to date.
func (s *Store) reindexSource() reindex.Source {
	return reindex.Source{Repo: s.repo, DB: s.db, Backend: s.be, Plans: s.leases.Backend(), Log: s.log,
		Encrypted: s.keys != nil, Held: s.destinationHolds(false)}
}

// dropGone removes packs that left the backend from the index (see
// reindex.DropGone).
func (s *Store) dropGone(ctx context.Context, gone []object.ID) error {
	return reindex.DropGone(ctx, s.reindexSource(), gone)
}

func (s *Store) listedAt() time.Time { return reindex.ListedAt(s.db) }

func (s *Store) indexComplete() (bool, error) { return reindex.Complete(s.db) }
