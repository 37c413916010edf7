package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/silo-dev/silo/snapshot"
)

// cacheInfo is the sidecar cache/<workbench-id>.json of an extracted copy.
type cacheInfo struct {
	ProjectID string    `json:"project_id"`
	Project   string    `json:"project"`
	Snapshot  string    `json:"snapshot"`
	Created   time.Time `json:"created"`
}

func (s *Store) cacheDir() string { return filepath.Join(s.base, "cache") }

// CheckWorkbenchID reports whether id is a usable cache directory name.
func CheckWorkbenchID(id string) error {
	if err := snapshot.CheckName(id); err != nil {
		return fmt.Errorf("%w: workbench id: %v", ErrInvalid, err)
	}
	if strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".json") {
		return fmt.Errorf("%w: workbench id %q starts with a dot or ends in .json", ErrInvalid, id)
	}
	return nil
}

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
	// Path is the directory the version goes to.
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
func (s *Store) WorkbenchInUse(wid string) error {
	dir := filepath.Join(s.cacheDir(), wid)
	if _, err := os.Lstat(dir); err != nil {
		return nil
	}
	holds := "a copy of unknown origin"
	var ci cacheInfo
	if b, err := os.ReadFile(dir + ".json"); err == nil && json.Unmarshal(b, &ci) == nil {
		holds = fmt.Sprintf("project %q (version %.12s)", ci.Project, ci.Snapshot)
	}
	return fmt.Errorf("%w: workbench %s is in use: %s holds %s; replace its contents with force (--force, or \"force\": true over the API), or pick another id",
		ErrExists, wid, dir, holds)
}

// extractWorkbench restores a version into cache/<wid>/. The copy is built
// beside it (cache/.<wid>.new-*/) and renamed into place once complete, so
// the workbench never holds half a version, and it gets the version's own
// top-level mode and mtime. A rename onto a workbench in use fails (two
// extracts to one free id cannot both win); with Force the old copy is
// moved aside first and removed after, so no file of the old project
// survives. The sidecar <wid>.json is written once the copy is in place.
func (s *Store) extractWorkbench(ctx context.Context, info SnapshotInfo, dir string, opts ExtractOptions) (*snapshot.RestoreStats, error) {
	wid := filepath.Base(dir)
	if !opts.Force {
		if err := s.WorkbenchInUse(wid); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(s.cacheDir(), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(s.cacheDir(), "."+wid+".new-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	built := filepath.Join(tmp, "copy")
	st, err := s.restoreInfo(ctx, info, built, RestoreOptions{Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	var old string
	if opts.Force {
		if _, err := os.Lstat(dir); err == nil {
			old = filepath.Join(tmp, "old")
			if err := os.Rename(dir, old); err != nil {
				return nil, fmt.Errorf("replace workbench %s: %w", wid, err)
			}
		}
	}
	if err := os.Rename(built, dir); err != nil {
		if old != "" {
			os.Rename(old, dir) // put the old copy back
		}
		if inUse := s.WorkbenchInUse(wid); inUse != nil {
			return nil, inUse // another extract took the id meanwhile
		}
		return nil, fmt.Errorf("extract into workbench %s: %w", wid, err)
	}
	side, _ := json.Marshal(cacheInfo{ProjectID: info.ProjectID, Project: info.ProjectName, Snapshot: info.ID, Created: s.now().UTC()})
	if err := os.WriteFile(dir+".json", side, 0o644); err != nil {
		return nil, err
	}
	return st, nil
}

// CacheEntry is one extracted copy under cache/.
type CacheEntry struct {
	Workbench string    `json:"workbench_id"`
	ProjectID string    `json:"project_id,omitempty"`
	Created   time.Time `json:"created"`
	Path      string    `json:"path"`
}

func (s *Store) cacheEntries() ([]CacheEntry, error) {
	ents, err := os.ReadDir(s.cacheDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []CacheEntry
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") { // a copy being built
			continue
		}
		p := filepath.Join(s.cacheDir(), e.Name())
		ce := CacheEntry{Workbench: e.Name(), Path: p}
		var ci cacheInfo
		if b, err := os.ReadFile(p + ".json"); err == nil && json.Unmarshal(b, &ci) == nil {
			ce.ProjectID, ce.Created = ci.ProjectID, ci.Created
		} else if fi, err := e.Info(); err == nil {
			ce.Created = fi.ModTime()
		}
		out = append(out, ce)
	}
	return out, nil
}

// removeCache deletes the extracted copies of a project; it returns how many.
func (s *Store) removeCache(projectID string, dryRun bool) (int, int64) {
	res, _ := s.cleanCache(func(e CacheEntry) bool { return e.ProjectID != projectID }, dryRun)
	return res.Removed, res.FreedBytes
}

// CacheCopy is one extracted copy under cache/, as `silo cache list` shows
// it.
type CacheCopy struct {
	CacheEntry
	Project  string `json:"project,omitempty"`
	Snapshot string `json:"snapshot,omitempty"`
	Bytes    int64  `json:"size_bytes"`
}

// CacheList lists the workbench copies under cache/ with the project and
// version each holds and its size on disk, oldest first.
func (s *Store) CacheList() ([]CacheCopy, error) {
	ents, err := s.cacheEntries()
	if err != nil {
		return nil, err
	}
	out := []CacheCopy{}
	for _, e := range ents {
		c := CacheCopy{CacheEntry: e, Bytes: dirSize(e.Path)}
		var ci cacheInfo
		if b, err := os.ReadFile(e.Path + ".json"); err == nil && json.Unmarshal(b, &ci) == nil {
			c.Project, c.Snapshot = ci.Project, ci.Snapshot
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out, func(a, b CacheCopy) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// CleanCacheResult reports a cache clean.
type CleanCacheResult struct {
	Removed    int   `json:"removed"`
	FreedBytes int64 `json:"freed_bytes"`
}

// CleanCache removes extracted copies older than olderThan (all when 0).
func (s *Store) CleanCache(olderThan time.Duration, dryRun bool) (*CleanCacheResult, error) {
	cut := s.now().Add(-olderThan)
	return s.cleanCache(func(e CacheEntry) bool { return olderThan > 0 && e.Created.After(cut) }, dryRun)
}

// cleanCache removes every extracted copy that keep does not keep, with its
// sidecar, and counts what it freed.
func (s *Store) cleanCache(keep func(CacheEntry) bool, dryRun bool) (*CleanCacheResult, error) {
	res := &CleanCacheResult{}
	ents, err := s.cacheEntries()
	if err != nil {
		return res, err
	}
	for _, e := range ents {
		if keep(e) {
			continue
		}
		res.FreedBytes += dirSize(e.Path)
		res.Removed++
		if !dryRun {
			if err := os.RemoveAll(e.Path); err != nil {
				return res, err
			}
			os.Remove(e.Path + ".json")
		}
	}
	return res, nil
}

func dirSize(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
