package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/reindex"
	"github.com/silo-dev/silo/snapshot"
)

// GCOptions configure GC.
type GCOptions struct {
	DryRun    bool
	Threshold float64 // dead share that triggers a rewrite; 0: repack_threshold from the config
	// Wait is how long to wait for the sessions that were running when
	// the collection condemned packs (0: leave the deletion to the next
	// collection after they end).
	Wait time.Duration
	// Without lists projects (ids) whose versions a dry run counts as gone:
	// cleanup --dry-run's prediction for the projects it would purge.
	Without []string
}

// GCReport is a collection's plan and, unless dry-run, its result.
type GCReport struct {
	Plan   *gc.Plan   `json:"plan"`
	Result *gc.Result `json:"result,omitempty"`
	DryRun bool       `json:"dry_run"`
}

// maxClockSkew is how far this machine's clock may be from the backend's
// before sessions refuse to write leases other machines judge by it.
const maxClockSkew = time.Minute

// gcRoots merges every snapshot and meta blob of the packs of the mark's
// first listing (rep, see reindex.MarkRoots) into index.db (strictly: one
// that cannot be read stops the collection) and returns
// what gc keeps (catalog.Roots): every version's tree and snapshot blob,
// and the meta blobs of the current project and template records, the
// tombstones and the forget records.
//
// In a backup destination (held not nil) the versions are those the
// records hold (see backupHolds); the caller reads them before it lists
// the packs, so every pack a record's backup wrote is indexed.
func (s *Store) gcRoots(ctx context.Context, rep *reindex.Report, without []string, held map[object.ID]bool) (trees, live []object.ID, err error) {
	if _, err := reindex.MarkRoots(ctx, s.reindexSource(), rep); err != nil {
		return nil, nil, fmt.Errorf("gc: %w; nothing was deleted (run `silo check`)", err)
	}
	trees, live, err = catalog.Roots(s.db, without, held)
	if err != nil || held == nil {
		return trees, live, err
	}
	// versions records hold that the catalogue does not list
	rest := make([]object.ID, 0, len(held))
	for id := range held {
		rest = append(rest, id)
	}
	slices.SortFunc(rest, func(a, b object.ID) int { return bytes.Compare(a[:], b[:]) })
	for _, id := range rest {
		sn, _, err := s.versionOf(ctx, id)
		if errors.Is(err, ErrSnapshotNotFound) {
			s.log.Warn("a backup record holds a version this destination lacks; `silo backup verify` names the record",
				"destination", s.Location(), "version", id.String())
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("gc: %w; nothing was deleted", err)
		}
		trees = append(trees, sn.Tree)
		live = append(live, id)
	}
	return trees, live, nil
}

// isLostAcknowledged reports whether a blob is recorded lost, and the
// loss acknowledged (by repair or a rebuild, which report it): a version
// that refers to a blob lost in passing, unacknowledged, stops gc.
func (s *Store) isLostAcknowledged(id object.ID) bool {
	var lost bool
	s.db.View(func(tx *index.Tx) error {
		lost = tx.IsLostAcknowledged(id)
		return nil
	})
	return lost
}

func (s *Store) children(ctx context.Context, tree object.ID) (trees, data []object.ID, err error) {
	nodes, err := snapshot.LoadTree(ctx, s.repo, tree)
	if err != nil {
		return nil, nil, err
	}
	for i := range nodes {
		switch nodes[i].Type {
		case snapshot.Dir:
			trees = append(trees, nodes[i].Subtree)
		case snapshot.File:
			data = append(data, nodes[i].Content...)
		}
	}
	return trees, data, nil
}

// GC collects garbage beside whatever else runs on the repository, on this
// machine and others (see package gc): it deletes the packs earlier
// collections condemned once the sessions they waited for have ended,
// then marks from every root and condemns the packs without a live blob
// (rewriting the live blobs of mostly dead packs first). Condemned packs
// go at once when no other session runs, else later.
func (s *Store) GC(ctx context.Context, opts GCOptions) (*GCReport, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	se, err := s.beginExclusive(ctx)
	if err != nil {
		return nil, err
	}
	defer se.End()
	if skew := se.Lease().Skew(); skew > maxClockSkew || skew < -maxClockSkew {
		return nil, fmt.Errorf("%w: this machine's clock is %v off the storage's (%s); gc judges other machines' leases by it: fix the clock (NTP) first",
			ErrInvalid, skew.Round(time.Second), s.be.Location())
	}
	if !opts.DryRun {
		if _, err := s.leases.Prune(ctx); err != nil {
			s.log.Warn("expired leases were not all removed; the next gc tries again", "err", err)
		}
	}
	th := opts.Threshold
	if th <= 0 {
		th = s.cfg.RepackThreshold
	}
	coll := &gc.Collection{DB: s.db, Repo: s.repo, Leases: s.leases, Self: se.Lease(), Wait: opts.Wait, DryRun: opts.DryRun,
		Mark: func(ctx context.Context) (gc.Options, error) { return s.markOptions(ctx, opts, th) }}
	plan, res, err := coll.Run(ctx)
	rep := &GCReport{Plan: plan, DryRun: opts.DryRun}
	if opts.DryRun {
		return rep, err
	}
	rep.Result = res
	r := res
	if r == nil {
		r = &gc.Result{}
	}
	s.logOp("gc.log", map[string]any{"operation": "gc", "packs_deleted": r.PacksDeleted,
		"packs_repacked": r.PacksRepacked, "packs_deferred": r.DeferredPacks, "freed_bytes": r.FreedBytes,
		"seconds": r.Seconds, "outcome": outcome(err)})
	return rep, err
}

// markOptions are the collection's mark: what a backup destination's
// records hold, every pack's catalogue blobs merged (reindex.MarkRoots),
// and the roots of every version and template from them.
func (s *Store) markOptions(ctx context.Context, opts GCOptions, threshold float64) (gc.Options, error) {
	var held map[object.ID]bool
	if dest, err := s.isDestination(ctx, true); err != nil {
		return gc.Options{}, err
	} else if dest {
		if held, err = s.backupHolds(ctx); err != nil {
			return gc.Options{}, err
		}
	}
	rep, err := s.refreshWith(ctx, func(src reindex.Source) (*reindex.Report, error) { return reindex.RefreshForMark(ctx, src) })
	if err != nil {
		return gc.Options{}, err
	}
	if len(rep.Unreadable) > 0 {
		return gc.Options{}, fmt.Errorf("%w: pack %s; %d pack(s) unreadable in all; nothing was deleted (run `silo check`, then `silo repair`)",
			object.ErrCorrupt, rep.Unreadable[0], len(rep.Unreadable))
	}
	var without []string
	if opts.DryRun {
		without = opts.Without
	}
	trees, live, err := s.gcRoots(ctx, rep, without, held)
	if err != nil {
		return gc.Options{}, err
	}
	return gc.Options{DB: s.db, Repo: s.repo, Trees: trees, Live: live, Children: s.children,
		Listed: rep.Packs, Threshold: threshold, Now: s.now, Logger: s.log, Lost: s.isLostAcknowledged}, nil
}

func outcome(err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	return "ok"
}

// logOp appends one JSON line to logs/<name>.
func (s *Store) logOp(name string, fields map[string]any) {
	fields["time"] = s.now().UTC().Format(time.RFC3339Nano)
	dir := filepath.Join(s.base, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.log.Warn("cannot write operation log", "err", err)
		return
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		s.log.Warn("cannot write operation log", "err", err)
		return
	}
	defer f.Close()
	b, _ := json.Marshal(fields)
	f.Write(append(b, '\n'))
}

// ForgetResult reports a retention run on one project.
type ForgetResult struct {
	Project   string        `json:"project"`
	ProjectID string        `json:"project_id"`
	Decisions []gc.Decision `json:"decisions"`
	Removed   int           `json:"removed"`
	Kept      int           `json:"kept"`
	DryRun    bool          `json:"dry_run"`
}

// Forget removes versions of a project that the policy does not keep (never
// the newest). Their space returns at the next gc.
func (s *Store) Forget(ctx context.Context, ref string, pol gc.Policy, dryRun bool) (*ForgetResult, error) {
	if err := pol.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if pol.Empty() {
		return nil, fmt.Errorf("%w: give at least one --keep-* rule", ErrInvalid)
	}
	if !dryRun {
		if err := s.writable(); err != nil {
			return nil, err
		}
	}
	unlock, err := s.lockCatalogue()
	if err != nil {
		return nil, err
	}
	defer unlock()
	var r *catalog.Record
	var versions []gc.Version
	err = s.db.View(func(tx *index.Tx) error {
		var err error
		if r, err = catalog.FindRecord(tx, ref); err == nil {
			versions, err = catalog.VersionsOf(tx, r.ID, len(pol.Tags) > 0)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	res := &ForgetResult{Project: r.Name, ProjectID: r.ID, DryRun: dryRun, Decisions: pol.Apply(versions, time.Local)}
	var drop []object.ID
	for _, d := range res.Decisions {
		if d.Keep {
			res.Kept++
			continue
		}
		res.Removed++
		id, err := object.ParseID(d.ID)
		if err != nil {
			return nil, err
		}
		drop = append(drop, id)
	}
	if dryRun || len(drop) == 0 {
		return res, nil
	}
	return res, s.forgetSnapshots(ctx, r.ID, drop)
}

// forgetSnapshots drops versions: a forget record into the packs first, so
// an index rebuild (and every other machine) keeps them forgotten, then
// index.db. The caller holds the catalogue lock.
func (s *Store) forgetSnapshots(ctx context.Context, projectID string, drop []object.ID) error {
	fr := &catalog.Forget{ProjectID: projectID}
	for _, id := range drop {
		fr.Snapshots = append(fr.Snapshots, id.String())
	}
	m := catalog.Meta{Kind: "forget", Time: s.now().UTC(), Forget: fr}
	metaID, err := s.writeMeta(ctx, m)
	if err != nil {
		return err
	}
	// into index.db as every other machine merges the record
	return s.db.Update(func(tx *index.Tx) error { return catalog.ApplyMeta(tx, metaID, &m, nil) })
}

// CleanupOptions configure Cleanup.
type CleanupOptions struct {
	DryRun bool
}

// CleanupReport is the storage guide's cleanup: each step's counts and the
// bytes freed.
type CleanupReport struct {
	Archived       int            `json:"archived"`
	Purged         int            `json:"purged"`
	BackupsExpired int            `json:"backups_expired"`
	CacheRemoved   int            `json:"cache_removed"`
	CacheFreed     int64          `json:"cache_freed_bytes"`
	GC             *GCReport      `json:"gc"`
	FreedBytes     int64          `json:"freed_bytes"`
	DryRun         bool           `json:"dry_run"`
	Seconds        float64        `json:"seconds"`
	Steps          map[string]any `json:"steps"`
}

// cacheMaxAge is how long an extracted copy of an active project stays in
// cache/ through cleanups (copies of archived and deleted projects go at once).
const cacheMaxAge = 7 * 24 * time.Hour

// Cleanup archives projects older than archive_after_days, purges projects
// soft-deleted more than purge_deleted_after_days ago, expires backups past
// retention_days (when a backup destination exists), cleans cache/ and runs
// gc. It appends a line to logs/gc.log.
func (s *Store) Cleanup(ctx context.Context, opts CleanupOptions) (*CleanupReport, error) {
	t0 := time.Now()
	rep := &CleanupReport{DryRun: opts.DryRun, Steps: map[string]any{}}
	err := s.cleanup(ctx, opts, rep)
	rep.Seconds = time.Since(t0).Seconds()
	if !opts.DryRun {
		s.logOp("gc.log", map[string]any{"operation": "cleanup", "archived": rep.Archived, "purged": rep.Purged,
			"backups_expired": rep.BackupsExpired, "cache_removed": rep.CacheRemoved, "freed_bytes": rep.FreedBytes,
			"seconds": rep.Seconds, "outcome": outcome(err)})
		if err == nil {
			ev := s.event("on_cleanup", "", "", "", "")
			ev.Details = map[string]any{"freed_bytes": rep.FreedBytes, "archived": rep.Archived, "purged": rep.Purged,
				"backups_expired": rep.BackupsExpired, "cache_removed": rep.CacheRemoved}
			s.hooks.On(ctx, ev)
		}
	}
	return rep, err
}

func (s *Store) cleanup(ctx context.Context, opts CleanupOptions, rep *CleanupReport) error {
	if !opts.DryRun {
		if err := s.writable(); err != nil {
			return err
		}
	}
	// 1. archive old projects
	arch, err := s.ArchiveOlder(ctx, 0, ArchiveOptions{Export: s.cfg.ArchiveExport}, opts.DryRun)
	if err != nil {
		return fmt.Errorf("cleanup: archive: %w", err)
	}
	rep.Archived = len(arch)
	rep.Steps["archive"] = arch
	// 2. purge soft-deleted projects
	purged, purgedIDs, err := s.purgeDeleted(ctx, opts.DryRun)
	if err != nil {
		return err
	}
	rep.Purged = len(purged)
	rep.Steps["purge"] = purged
	// 3. expire backups
	n, err := s.expireBackupsForCleanup(ctx, opts.DryRun)
	if err != nil {
		return fmt.Errorf("cleanup: expire backups: %w", err)
	}
	rep.BackupsExpired = n
	// 4. cache: copies of projects that are no longer active, and old ones
	counted := map[string]bool{} // copies the archive step removed (or would)
	for _, a := range arch {
		counted[a.ProjectID] = true
	}
	cres, err := s.cleanCacheForCleanup(opts.DryRun, counted)
	if err != nil {
		return fmt.Errorf("cleanup: cache: %w", err)
	}
	// archiving removed the archived projects' copies already
	rep.CacheRemoved, rep.CacheFreed = cres.Removed, cres.FreedBytes
	for _, a := range arch {
		rep.CacheRemoved += a.CacheRemoved
		rep.CacheFreed += a.CacheFreed
	}
	// 5. gc
	g, err := s.GC(ctx, GCOptions{DryRun: opts.DryRun, Without: purgedIDs})
	if err != nil {
		return fmt.Errorf("cleanup: gc: %w", err)
	}
	rep.GC = g
	if g.Result != nil {
		rep.FreedBytes = g.Result.FreedBytes
	} else {
		rep.FreedBytes = g.Plan.FreedBytes
	}
	rep.FreedBytes += rep.CacheFreed
	return nil
}

// purgeDeleted removes from the catalogue the projects soft-deleted
// purge_deleted_after_days ago or earlier (a dry run only names them).
func (s *Store) purgeDeleted(ctx context.Context, dryRun bool) (names, ids []string, err error) {
	deleted, err := s.List(Filter{Status: StatusDeleted})
	if err != nil {
		return nil, nil, err
	}
	cut := s.now().Add(-time.Duration(s.cfg.PurgeDeletedAfterDays) * 24 * time.Hour)
	for _, p := range deleted {
		var at time.Time
		s.db.View(func(tx *index.Tx) error {
			if r, err := catalog.FindRecord(tx, p.ID); err == nil && r.DeletedAt != nil {
				at = *r.DeletedAt
			}
			return nil
		})
		if at.IsZero() || at.After(cut) {
			continue
		}
		names, ids = append(names, p.Name), append(ids, p.ID)
		if !dryRun {
			if _, err := s.Delete(ctx, p.ID, true); err != nil {
				return nil, nil, fmt.Errorf("cleanup: purge %s: %w", p.Name, err)
			}
		}
	}
	return names, ids, nil
}

// cleanCacheForCleanup removes the workbench copies of projects that are
// no longer active, those older than the cache's age limit, and those the
// archive step counted.
func (s *Store) cleanCacheForCleanup(dryRun bool, counted map[string]bool) (*CleanCacheResult, error) {
	cut := s.now().Add(-cacheMaxAge)
	return s.cache().Clean(func(e CacheEntry) bool {
		if counted[e.ProjectID] {
			return true
		}
		if e.ProjectID == "" || !e.Created.After(cut) {
			return false
		}
		p, err := s.Get(e.ProjectID)
		return err == nil && p.Status == StatusActive
	}, dryRun)
}
