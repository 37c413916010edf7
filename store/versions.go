package store

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// SnapshotInfo describes a stored version for listings.
type SnapshotInfo struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	ProjectID   string    `json:"project_id"`
	ProjectName string    `json:"project"`
	Tree        string    `json:"tree"`
	Parent      string    `json:"parent,omitempty"`
	Tags        []string  `json:"tags"`         // the project's, when stored
	VersionTags []string  `json:"version_tags"` // this version's own
	Files       int64     `json:"files"`
	Dirs        int64     `json:"dirs"`
	Size        int64     `json:"size"`
	Source      string    `json:"source,omitempty"`
	Hostname    string    `json:"hostname,omitempty"`
	snap        *snapshot.Snapshot
}

func infoOf(id object.ID, sn *snapshot.Snapshot) SnapshotInfo {
	in := SnapshotInfo{ID: id.String(), Time: sn.Time.UTC(), ProjectID: sn.ProjectID, ProjectName: sn.ProjectName,
		Tree: sn.Tree.String(), Tags: catalog.NonNil(sn.Tags), VersionTags: catalog.NonNil(sn.VersionTags), Files: sn.Files, Dirs: sn.Dirs, Size: sn.Size,
		Source: sn.Source, Hostname: sn.Hostname, snap: sn}
	if sn.Parent != nil {
		in.Parent = sn.Parent.String()
	}
	return in
}

// versionOf reads version id: from the catalogue, or, where the catalogue
// does not list it, from its snapshot blob. A backup destination's
// catalogue may not list a version one of its records holds (its removal
// met a backup that holds it again; see backupHolds), so backups read
// their versions through this.
func (s *Store) versionOf(ctx context.Context, id object.ID) (*snapshot.Snapshot, []byte, error) {
	var data []byte
	err := s.db.View(func(tx *index.Tx) error {
		_, d, ok, err := tx.Snapshot(id)
		if ok {
			data = d
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if data == nil {
		loc, ok, err := s.repo.Lookup(id)
		if err != nil {
			return nil, nil, err
		}
		if !ok || loc.Type != object.SnapshotBlob {
			return nil, nil, fmt.Errorf("%w: %s", ErrSnapshotNotFound, id)
		}
		// LoadBlob tries the other copies the index knows
		if data, err = s.repo.LoadBlob(ctx, id, nil); err != nil {
			return nil, nil, fmt.Errorf("version %s: %w", id.Short(), err)
		}
	}
	sn, err := snapshot.DecodeSnapshot(data)
	if err != nil {
		return nil, nil, fmt.Errorf("version %s: %w", id.Short(), err)
	}
	return sn, data, nil
}

// restoreVersion restores version id (a full id, read with versionOf)
// into dest.
func (s *Store) restoreVersion(ctx context.Context, id, dest string, opts RestoreOptions) (*snapshot.RestoreStats, error) {
	sid, err := object.ParseID(id)
	if err != nil {
		return nil, fmt.Errorf("%w: version %q: %v", ErrInvalid, id, err)
	}
	sn, _, err := s.versionOf(ctx, sid)
	if err != nil {
		return nil, err
	}
	return s.restoreInfo(ctx, infoOf(sid, sn), dest, opts)
}

// Snapshots lists versions, newest first: of one project (id or name), or of
// every project when ref is "".
func (s *Store) Snapshots(ref string) ([]SnapshotInfo, error) {
	var out []SnapshotInfo
	err := s.db.View(func(tx *index.Tx) error {
		if ref != "" {
			r, err := catalog.FindRecord(tx, ref)
			if err != nil {
				return err
			}
			var ferr error
			tx.Versions(r.ID, func(id object.ID, _ time.Time) bool {
				sn, err := catalog.LoadSnapshot(tx, id)
				if err != nil {
					ferr = err
					return false
				}
				out = append(out, infoOf(id, sn))
				return true
			})
			return ferr
		}
		return tx.Snapshots(func(ref index.SnapshotRef, data []byte) error {
			sn, err := snapshot.DecodeSnapshot(data)
			if err != nil {
				return fmt.Errorf("snapshot %s: %w", ref.ID, err)
			}
			out = append(out, infoOf(ref.ID, sn))
			return nil
		})
	})
	slices.SortStableFunc(out, func(a, b SnapshotInfo) int { return b.Time.Compare(a.Time) })
	return out, err
}

// ResolveSnapshot finds a version (see catalog.ResolveVersion for the
// forms of ref).
func (s *Store) ResolveSnapshot(ref string) (SnapshotInfo, error) {
	var info SnapshotInfo
	err := s.db.View(func(tx *index.Tx) error {
		id, sn, err := catalog.ResolveVersion(tx, ref)
		if err == nil {
			info = infoOf(id, sn)
		}
		return err
	})
	return info, err
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	Include  []string // paths (files or subtrees) to restore; none: all
	Progress snapshot.Progress
	// ContinueOnError restores everything damaged data does not break and
	// lists the rest in the stats' Skipped (see
	// snapshot.RestoreOptions.ContinueOnError); the error then wraps
	// object.ErrCorrupt and the stats are returned with it.
	ContinueOnError bool
	// Logger receives the restore's warnings (a symlink this process may
	// not create); nil: the store's logger.
	Logger *slog.Logger
}

// Restore writes a version into dest: the project's top level at dest.
// With ContinueOnError a restore that skipped damaged entries returns its
// stats (with Skipped) and an error that wraps object.ErrCorrupt.
func (s *Store) Restore(ctx context.Context, ref, dest string, opts RestoreOptions) (*snapshot.RestoreStats, SnapshotInfo, error) {
	info, err := s.ResolveSnapshot(ref)
	if err != nil {
		return nil, info, err
	}
	st, err := s.restoreInfo(ctx, info, dest, opts)
	if err == nil {
		s.hooks.On(ctx, s.event("on_restore", info.ProjectID, info.ProjectName, info.ID, absPath(dest)))
	}
	return st, info, err
}

// absPath is p made absolute where it can be.
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

func (s *Store) restoreInfo(ctx context.Context, info SnapshotInfo, dest string, opts RestoreOptions) (*snapshot.RestoreStats, error) {
	if opts.Progress != nil {
		if len(opts.Include) == 0 {
			opts.Progress.AddTotal(info.Files, info.Size)
		}
	}
	se, err := s.begin(ctx, gc.KindRead)
	if err != nil {
		return nil, err
	}
	defer se.End()
	log := opts.Logger
	if log == nil {
		log = s.log
	}
	return snapshot.Restore(ctx, s.repo, info.snap.Tree, dest, snapshot.RestoreOptions{
		Include: opts.Include, Progress: opts.Progress, Logger: log,
		RootMode: info.snap.RootMode, RootMTime: info.snap.RootMTime, ContinueOnError: opts.ContinueOnError,
		Filters: s.filters(),
	})
}

// Entry is one node listed by Ls.
type Entry struct {
	Path   string    `json:"path"`
	Type   string    `json:"type"`
	Mode   string    `json:"mode"`
	Size   int64     `json:"size"`
	MTime  time.Time `json:"mtime"`
	Target string    `json:"target,omitempty"`
	// Filter names the content filter a file was stored through (its
	// Size is the stored size).
	Filter string `json:"filter,omitempty"`
}

// Ls calls fn for every entry of a version under path ("" for all),
// within a read session (no collection deletes a pack it reads).
func (s *Store) Ls(ctx context.Context, ref, path string, fn func(Entry) error) error {
	info, err := s.ResolveSnapshot(ref)
	if err != nil {
		return err
	}
	return s.reading(ctx, func() error {
		n, err := snapshot.Find(ctx, s.repo, info.snap.Tree, path)
		if err != nil {
			return err
		}
		prefix := strings.Trim(path, "/")
		emit := func(p string, n *snapshot.Node) error {
			e := Entry{Path: p, Type: n.Type.String(), Mode: fmt.Sprintf("%04o", n.Mode),
				MTime: time.Unix(0, n.MTime).UTC(), Target: n.Target, Filter: n.Filter}
			if n.Type == snapshot.File {
				e.Size = int64(n.Size)
			}
			return fn(e)
		}
		if n.Type != snapshot.Dir {
			return emit(prefix, n)
		}
		if prefix != "" && n.Name != "" {
			if err := emit(prefix, n); err != nil {
				return err
			}
		}
		return snapshot.Walk(ctx, s.repo, n.Subtree, func(p string, n *snapshot.Node) error {
			if prefix != "" {
				p = prefix + "/" + p
			}
			return emit(p, n)
		})
	})
}

// Diff compares two versions, within a read session.
func (s *Store) Diff(ctx context.Context, a, b string, fn func(snapshot.Change) error) error {
	ia, err := s.ResolveSnapshot(a)
	if err != nil {
		return err
	}
	ib, err := s.ResolveSnapshot(b)
	if err != nil {
		return err
	}
	return s.reading(ctx, func() error {
		return snapshot.Diff(ctx, s.repo, ia.snap.Tree, ib.snap.Tree, fn)
	})
}
