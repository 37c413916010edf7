package store

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/google/uuid"

	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/workbench"
)

// cache is the directory of extracted copies.
func (s *Store) cache() *workbench.Cache {
	return &workbench.Cache{Dir: filepath.Join(s.base, "cache"), Now: s.now}
}

func (s *Store) cacheDir() string { return s.cache().Dir }

// CheckWorkbenchID reports whether id is a usable cache directory name.
func CheckWorkbenchID(id string) error { return workbench.CheckID(id) }

// ExtractOptions choose where Extract writes.
type ExtractOptions struct {
	Dest      string // a directory; default cache/<workbench-id>/
	Workbench string // workbench id under cache/; default a new UUID
	// Force replaces the contents of a workbench id already in use, as a
	// whole: the new copy is built beside it and swapped in. Without it a
	// workbench id in use is refused (ErrExists).
	Force    bool
	Progress snapshot.Progress
}

// ExtractResult says where a version was extracted.
type ExtractResult struct {
	Path      string                 `json:"path"`
	Workbench string                 `json:"workbench_id,omitempty"`
	ProjectID string                 `json:"project_id"`
	Snapshot  string                 `json:"snapshot"`
	Stats     *snapshot.RestoreStats `json:"stats"`
}

// Extract restores a version of a project (ID|NAME[@VERSION]) for work: into
// opts.Dest, or into cache/<workbench-id>/ with a sidecar naming the project
// so that archive and cache clean can remove it. Archived projects extract too.
func (s *Store) Extract(ctx context.Context, ref string, opts ExtractOptions) (*ExtractResult, error) {
	plan, err := s.PlanExtract(ref, opts)
	if err != nil {
		return nil, err
	}
	return s.ExtractPlanned(ctx, plan, nil)
}

// ExtractPlan is an extract checked before it runs: the version, where it
// goes, and the options with the workbench id chosen.
type ExtractPlan struct {
	Info SnapshotInfo
	Opts ExtractOptions
	// Path is the directory the version goes to: Opts.Dest, or
	// cache/<Opts.Workbench> (only PlanExtract makes plans).
	Path string
}

// PlanExtract checks an extract without writing anything: the version
// resolves, a destination or a workbench id (not both), a new workbench id
// when none is given, a valid one, and one not in use unless opts.Force.
// The server answers from the plan at once and extracts it in a job
// (ExtractPlanned); Extract does both.
func (s *Store) PlanExtract(ref string, opts ExtractOptions) (*ExtractPlan, error) {
	if opts.Dest != "" && opts.Workbench != "" {
		return nil, fmt.Errorf("%w: give a destination or a workbench id, not both", ErrInvalid)
	}
	info, err := s.ResolveSnapshot(ref)
	if err != nil {
		return nil, err
	}
	plan := &ExtractPlan{Info: info, Opts: opts, Path: opts.Dest}
	if opts.Dest != "" {
		return plan, nil
	}
	if plan.Opts.Workbench == "" {
		plan.Opts.Workbench = uuid.NewString()
	}
	if err := CheckWorkbenchID(plan.Opts.Workbench); err != nil {
		return nil, err
	}
	if !opts.Force {
		if err := s.WorkbenchInUse(plan.Opts.Workbench); err != nil {
			return nil, err
		}
	}
	plan.Path = filepath.Join(s.cacheDir(), plan.Opts.Workbench)
	return plan, nil
}

// ExtractPlanned carries out a plan of PlanExtract (progress: opts'
// Progress replaced by prog when prog is not nil).
func (s *Store) ExtractPlanned(ctx context.Context, plan *ExtractPlan, prog snapshot.Progress) (*ExtractResult, error) {
	p := *plan
	if prog != nil {
		p.Opts.Progress = prog
	}
	res, err := s.runExtract(ctx, &p)
	if err == nil {
		name := ""
		if p, err := s.Get(res.ProjectID); err == nil {
			name = p.Name
		}
		s.hooks.On(ctx, s.event("on_extract", res.ProjectID, name, res.Snapshot, res.Path))
	}
	return res, err
}

func (s *Store) runExtract(ctx context.Context, plan *ExtractPlan) (*ExtractResult, error) {
	res := &ExtractResult{ProjectID: plan.Info.ProjectID, Snapshot: plan.Info.ID, Path: plan.Path}
	var st *snapshot.RestoreStats
	var err error
	if plan.Opts.Dest == "" {
		res.Workbench = plan.Opts.Workbench
		st, err = s.extractWorkbench(ctx, plan.Info, plan.Path, plan.Opts)
	} else {
		st, err = s.restoreInfo(ctx, plan.Info, plan.Path, RestoreOptions{Progress: plan.Opts.Progress})
	}
	if err != nil {
		return nil, err
	}
	res.Stats = st
	return res, nil
}

// WorkbenchInUse returns the error Extract gives for a workbench id that
// is in use (nil when it is free): it names what the workbench holds.
func (s *Store) WorkbenchInUse(wid string) error { return s.cache().InUse(wid) }

// extractWorkbench restores a version into cache/<wid>/ (see
// workbench.Cache.Place), with the version's own top-level mode and mtime.
func (s *Store) extractWorkbench(ctx context.Context, info SnapshotInfo, dir string, opts ExtractOptions) (*snapshot.RestoreStats, error) {
	var st *snapshot.RestoreStats
	err := s.cache().Place(filepath.Base(dir), opts.Force, workbench.Info{ProjectID: info.ProjectID, Project: info.ProjectName, Snapshot: info.ID},
		func(built string) (err error) {
			st, err = s.restoreInfo(ctx, info, built, RestoreOptions{Progress: opts.Progress})
			return err
		})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// The cache's entries, as package workbench lists them.
type (
	CacheEntry       = workbench.Entry
	CacheCopy        = workbench.Copy
	CleanCacheResult = workbench.CleanResult
)

// removeCache deletes the extracted copies of a project; it returns how
// many, and the bytes they held.
func (s *Store) removeCache(projectID string, dryRun bool) (int, int64) {
	return s.cache().Remove(projectID, dryRun)
}

// CacheList lists the workbench copies under cache/ with the project and
// version each holds and its size on disk, oldest first.
func (s *Store) CacheList() ([]CacheCopy, error) { return s.cache().List() }

// CleanCache removes extracted copies older than olderThan (all when 0).
func (s *Store) CleanCache(olderThan time.Duration, dryRun bool) (*CleanCacheResult, error) {
	cut := s.now().Add(-olderThan)
	return s.cache().Clean(func(e CacheEntry) bool { return olderThan > 0 && e.Created.After(cut) }, dryRun)
}
