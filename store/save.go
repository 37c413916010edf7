package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/session"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store/config"
	"github.com/silo-dev/silo/store/detect"
)

// SaveOptions describe a new version. Project is required.
type SaveOptions struct {
	Project       string   // name of a new or existing project, or an existing id
	Type          string   // for a new project: generation (default) or migration
	Tags          []string // this version's tags, also added to the project's
	GitRepository string   // set when not empty
	Languages     []string // user-given, kept alongside the detected ones
	Frameworks    []string
	// Excludes are gitignore patterns of what a directory store leaves out,
	// with the lines of the directory's own .siloignore.
	Excludes []string
	// ExcludeFiles are files of such patterns, one per line.
	ExcludeFiles []string
	// ExcludeLargerThan leaves out files over this many bytes (0: none).
	ExcludeLargerThan int64
	// ExcludeCaches leaves out directories holding a CACHEDIR.TAG file
	// that starts with the cache directory signature.
	ExcludeCaches bool
	Progress      snapshot.Progress
}

// SaveResult describes a stored version.
type SaveResult struct {
	ProjectID  string              `json:"project_id"`
	Name       string              `json:"name"`
	Snapshot   object.ID           `json:"snapshot"`
	Parent     *object.ID          `json:"parent,omitempty"`
	Created    bool                `json:"created"`
	Stats      snapshot.StoreStats `json:"stats"`
	Languages  []string            `json:"languages"`
	Frameworks []string            `json:"frameworks"`
}

// parentRef is the version a new one follows: its snapshot, tree, and
// what language detection counted in the tree (nil: not kept).
type parentRef struct {
	snap, tree object.ID
	tallies    []byte
}

// prepare resolves or creates (in memory) the project a new version goes to.
func (s *Store) prepare(opts *SaveOptions) (rec *catalog.Record, parent parentRef, err error) {
	err = s.db.View(func(tx *index.Tx) error {
		r, snap, sn, err := catalog.ForVersion(tx, opts.Project)
		if sn != nil {
			parent = parentRef{snap: snap, tree: sn.Tree, tallies: sn.Detection}
		}
		rec = r
		return err
	})
	if err == nil && rec == nil {
		rec, err = catalog.NewRecord(opts.Project, opts.Type, s.now())
	}
	if err == nil {
		err = applySaveOptions(rec, opts)
	}
	if err != nil {
		return nil, parent, err
	}
	return rec, parent, nil
}

// applySaveOptions merges a new version's metadata into a record.
func applySaveOptions(rec *catalog.Record, opts *SaveOptions) error {
	if err := catalog.CheckTexts(opts.Tags, opts.GitRepository, opts.Languages, opts.Frameworks); err != nil {
		return err
	}
	if opts.Type != "" && opts.Type != rec.Type {
		if err := catalog.CheckType(opts.Type); err != nil {
			return err
		}
		rec.Type = opts.Type
	}
	rec.Tags = catalog.Union(rec.Tags, opts.Tags)
	if opts.GitRepository != "" {
		rec.GitRepository = opts.GitRepository
	}
	rec.UserLanguages = catalog.Union(rec.UserLanguages, opts.Languages)
	rec.UserFrameworks = catalog.Union(rec.UserFrameworks, opts.Frameworks)
	return nil
}

// storedBytes sums the pack sizes: the bytes the repository takes.
func (s *Store) storedBytes() (int64, error) {
	var n int64
	err := s.db.View(func(tx *index.Tx) error {
		return tx.Packs(func(p object.PackInfo) error { n += p.Size; return nil })
	})
	return n, err
}

// limits returns the snapshot limits the quotas impose.
func (s *Store) limits() (limit, added, stored int64, err error) {
	limit = s.cfg.MaxProjectSize
	if q := s.cfg.TotalQuota; q > 0 {
		stored, err = s.storedBytes()
		if err != nil {
			return
		}
		if stored >= q {
			err = fmt.Errorf("%w: the repository stores %s, total_quota is %s (%s)",
				ErrQuota, config.FormatSize(stored), config.FormatSize(q), s.setting("total_quota"))
			return
		}
		added = q - stored
	}
	return
}

// setting names a configuration key and where its value came from, as
// `silo config show` names it: "storage.max_project_size, from env
// STORAGE_MAX_PROJECT_SIZE", "…, from config/storage.yaml:7", "…, the
// default".
func (s *Store) setting(key string) string {
	src := s.cfg.Source(key)
	if src == "default" || src == "" {
		return "storage." + key + ", the default"
	}
	return "storage." + key + ", from " + src
}

func (s *Store) quotaError(err error, name string, stored int64) error {
	switch {
	case errors.Is(err, snapshot.ErrLimit):
		return fmt.Errorf("%w: project %q: the version holds more than max_project_size %s (%s); nothing was recorded",
			ErrQuota, name, config.FormatSize(s.cfg.MaxProjectSize), s.setting("max_project_size"))
	case errors.Is(err, snapshot.ErrEntryLimit):
		return fmt.Errorf("%w: project %q: the version holds more than max_entries %d files, directories and symlinks (%s); nothing was recorded: %w",
			ErrQuota, name, s.cfg.MaxEntries, s.setting("max_entries"), err)
	case errors.Is(err, snapshot.ErrAddedLimit):
		return fmt.Errorf("%w: project %q: storing it would pass total_quota %s (the repository stores %s; %s); nothing was recorded",
			ErrQuota, name, config.FormatSize(s.cfg.TotalQuota), config.FormatSize(stored), s.setting("total_quota"))
	}
	return err
}

// Save stores dir as a new version of a project (created when new), with
// language and framework detection, quotas and incremental reuse of the
// previous version's unchanged files.
func (s *Store) Save(ctx context.Context, dir string, opts SaveOptions) (*SaveResult, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrInvalid, dir)
	}
	// the project's default excludes (projects set --exclude) come first
	if opts.Project != "" {
		s.db.View(func(tx *index.Tx) error {
			if r, err := catalog.FindRecord(tx, opts.Project); err == nil && len(r.Excludes) > 0 {
				opts.Excludes = append(slices.Clone(r.Excludes), opts.Excludes...)
			}
			return nil
		})
	}
	exclude, err := snapshot.Excludes{Patterns: opts.Excludes, Files: opts.ExcludeFiles,
		LargerThan: opts.ExcludeLargerThan, Caches: opts.ExcludeCaches}.Matcher(dir)
	if err != nil {
		return nil, err
	}
	return s.saveWith(ctx, &opts, dir, func(w *object.Writer, so snapshot.StoreOptions) (*snapshot.StoreResult, error) {
		so.Exclude, so.Filters = exclude, s.filters()
		return snapshot.Store(ctx, w, dir, so)
	})
}

// IgnoreFile is the file in a project's top directory whose lines (gitignore
// syntax) a store leaves out, besides --exclude.
const IgnoreFile = snapshot.IgnoreFile

// saveWith runs one store pipeline (a directory walk or a tar stream) as a
// new version, in a store session (see session): resolve the project,
// apply the quotas, detect languages and frameworks, then commit.
func (s *Store) saveWith(ctx context.Context, opts *SaveOptions, source string,
	run func(*object.Writer, snapshot.StoreOptions) (*snapshot.StoreResult, error)) (*SaveResult, error) {
	se, err := s.begin(ctx, gc.KindStore)
	if err != nil {
		return nil, err
	}
	defer se.End()
	rec, parent, err := s.prepare(opts)
	if err != nil {
		return nil, err
	}
	if err := s.preStore(ctx, rec, source); err != nil {
		return nil, err
	}
	limit, added, stored, err := s.limits()
	if err != nil {
		return nil, err
	}
	det := detect.NewCollector(parent.tallies)
	defer det.Stop()
	w := se.Writer()
	so := snapshot.StoreOptions{
		Pol: s.pol, ParentTree: parent.tree, Progress: opts.Progress, Logger: s.log,
		Visit: det.Visit, Limit: limit, AddedLimit: added, MaxEntries: s.cfg.MaxEntries, Reusable: se.Reusable(),
	}
	if det.Counting() {
		so.Delta = det.Delta
	}
	res, err := run(w, so)
	if err != nil {
		return nil, s.quotaError(err, rec.Name, stored)
	}
	// the pipeline checks total_quota after each file; the tree blobs it
	// writes at the end are counted only here
	if added > 0 && res.Stats.BytesAdded > added {
		return nil, s.quotaError(snapshot.ErrAddedLimit, rec.Name, stored)
	}
	if res.Tree == parent.tree && rec.Rev > 0 && det.Counting() {
		// nothing changed: the languages, frameworks and tallies are
		// those of the previous version (without usable tallies there,
		// the detector, which has counted every file, finishes: the next
		// re-stores count nothing)
		det.Abort()
		det = nil
	} else {
		det.Finish(res, parent.tree)
	}
	return s.commit(ctx, se, w, rec, opts, parent, res, det, source)
}

// lockCatalogue serialises catalogue commits: in this process, and among
// the processes of this machine (catalogue.lock beside index.db). It is
// held for the length of a commit, never for a whole operation.
func (s *Store) lockCatalogue() (func(), error) {
	s.catMu.Lock()
	unlock, err := index.LockFile(filepath.Join(s.base, "catalogue.lock"), 60*time.Second)
	if err != nil {
		s.catMu.Unlock()
		return nil, err
	}
	return func() { unlock(); s.catMu.Unlock() }, nil
}

// lockCatalogueFresh takes the catalogue lock and, on a remote backend,
// brings the index up to date under it: a change is made to the records as
// other machines left them (one may have deleted or changed the project).
func (s *Store) lockCatalogueFresh(ctx context.Context) (func(), error) {
	unlock, err := s.lockCatalogue()
	if err != nil {
		return nil, err
	}
	if !s.sharedIndex() {
		if _, err := s.refresh(ctx, false); err != nil {
			unlock()
			return nil, err
		}
	}
	return unlock, nil
}

// commit records a stored tree as the project's newest version: blobs
// durable first, then the snapshot blob and the record's meta blob, then
// the catalogue. Under the catalogue lock it takes the project's record
// as it is now (another process may have changed it, or created a project
// of that name, while the tree was stored).
func (s *Store) commit(ctx context.Context, se *session.Session, w *object.Writer, rec *catalog.Record, opts *SaveOptions, parent parentRef, res *snapshot.StoreResult, det *detect.Collector, source string) (*SaveResult, error) {
	sr, err := s.commitVersion(ctx, se, w, rec, opts, parent, res, det, source)
	if err == nil {
		// after the catalogue lock is released: a slow hook must not hold
		// up other writers
		s.hooks.On(ctx, s.event("on_store", sr.ProjectID, sr.Name, sr.Snapshot.String(), hookPath(source)))
	}
	return sr, err
}

func (s *Store) commitVersion(ctx context.Context, se *session.Session, w *object.Writer, rec *catalog.Record, opts *SaveOptions, parent parentRef, res *snapshot.StoreResult, det *detect.Collector, source string) (*SaveResult, error) {
	if err := w.Flush(ctx); err != nil {
		return nil, err
	}
	var langs, fws []string
	// without a detector the tree is the parent's, and so are its tallies
	tallies := parent.tallies
	if det != nil {
		langs, fws, tallies = det.Result(ctx, s.repo)
	}
	unlock, err := s.lockCatalogueFresh(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if rec, err = s.recordNow(rec, opts, &parent); err != nil {
		return nil, err
	}
	if err := se.CheckLease(ctx, res.Tree); err != nil {
		return nil, err
	}
	if det != nil {
		rec.Detected, rec.DetectedFw = langs, fws
	}
	rec.RefreshDerived()
	now := s.now().UTC()
	rec.UpdatedAt = now
	rec.SizeBytes = res.Stats.Size
	created := rec.Rev == 0
	rec.Stamp(now)
	sn := &snapshot.Snapshot{Time: now, Tree: res.Tree, ProjectID: rec.ID, ProjectName: rec.Name,
		Tags: rec.Tags, VersionTags: catalog.Union(opts.Tags), Source: source, RootMode: res.RootMode, RootMTime: res.RootMTime,
		Files: res.Stats.Files(), Dirs: res.Stats.Dirs, Size: res.Stats.Size, Project: rec.Encode(), Detection: tallies}
	sn.Hostname, _ = os.Hostname()
	var parentSnap *object.ID
	if !parent.snap.IsZero() {
		p := parent.snap
		parentSnap = &p
		sn.Parent = parentSnap
	}
	id, data, err := s.writeVersion(ctx, w, rec, sn, &res.Stats)
	if err != nil {
		return nil, err
	}
	err = s.db.Update(func(tx *index.Tx) error {
		return catalog.PutVersion(tx, rec, index.SnapshotRef{ID: id, ProjectID: rec.ID, Time: now}, data)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("version stored", "project", rec.Name, "snapshot", id.String(), "added", res.Stats.BytesAdded)
	return &SaveResult{ProjectID: rec.ID, Name: rec.Name, Snapshot: id, Parent: parentSnap, Created: created,
		Stats: res.Stats, Languages: rec.Languages, Frameworks: rec.Frameworks}, nil
}

// recordNow returns the record a new version of rec goes to, as the
// catalogue holds it now (under the catalogue lock): another process may
// have changed the project, deleted it, or created a project of that name
// (whose newest version becomes the parent) while the tree was stored.
func (s *Store) recordNow(rec *catalog.Record, opts *SaveOptions, parent *parentRef) (*catalog.Record, error) {
	var now catalog.Now
	err := s.db.View(func(tx *index.Tx) (err error) {
		now, err = catalog.RecordNow(tx, rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !now.Parent.IsZero() {
		parent.snap = now.Parent
	}
	cur, purged := now.Record, now.Purged
	switch {
	case purged || (cur == nil && rec.Rev > 0):
		// hard-deleted while the tree was stored: recording the version
		// would bring the project back
		return nil, fmt.Errorf("%w: project %q was deleted while the version was stored; nothing was recorded", ErrConflict, rec.Name)
	case cur != nil && cur.Status == StatusDeleted:
		return nil, fmt.Errorf("%w: project %q was deleted while the version was stored", ErrInvalid, cur.Name)
	case cur != nil:
		if err := applySaveOptions(cur, opts); err != nil {
			return nil, err
		}
		return cur, nil
	}
	return rec, nil
}

// writeVersion writes a version's snapshot blob and its record as a meta
// blob (the newest record of every project lives in a meta blob that gc
// keeps, whatever happens to its versions), durably, counting what they
// add in st. It sets rec.Origin.
func (s *Store) writeVersion(ctx context.Context, w *object.Writer, rec *catalog.Record, sn *snapshot.Snapshot, st *snapshot.StoreStats) (object.ID, []byte, error) {
	data := sn.Encode()
	id := s.repo.ID(data)
	n, err := w.SaveBlob(ctx, object.SnapshotBlob, id, data)
	if err != nil {
		return id, nil, err
	}
	st.BytesAdded += n
	meta, err := catalog.EncodeMeta(catalog.Meta{Kind: "project", Time: sn.Time, Project: rec})
	if err != nil {
		return id, nil, err
	}
	rec.Origin = s.repo.ID(meta)
	if n, err = w.SaveBlob(ctx, object.MetaBlob, rec.Origin, meta); err != nil {
		return id, nil, err
	}
	st.BytesAdded += n
	return id, data, w.Flush(ctx)
}

// preStore runs the pre_store hook for a version of rec from source; its
// failure vetoes the store before anything is written.
func (s *Store) preStore(ctx context.Context, rec *catalog.Record, source string) error {
	if err := s.hooks.Pre(ctx, s.event("pre_store", rec.ID, rec.Name, "", hookPath(source))); err != nil {
		return fmt.Errorf("store project %q: %w; nothing was recorded", rec.Name, err)
	}
	return nil
}

// hookPath is SILO_PATH for a store's source: a directory or file here
// (absolute), or an s3:// object; a stream ("tar", "upload") has none.
func hookPath(source string) string {
	if strings.Contains(source, "://") {
		return source
	}
	if _, err := os.Stat(source); err != nil || source == "" {
		return ""
	}
	if abs, err := filepath.Abs(source); err == nil {
		return abs
	}
	return source
}
