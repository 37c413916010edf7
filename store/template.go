package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/session"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store/detect"
)

// AddTemplate stores dir as the template name (replacing an earlier one of
// that name; the old tree stays until no project uses it and gc runs).
//
// A name in use is refused (ErrExists) unless replace is set; a removed
// template's name is free.
func (s *Store) AddTemplate(ctx context.Context, name, category, dir string, replace bool) (*Template, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	if err := CheckProjectName(name); err != nil {
		return nil, err
	}
	if !slices.Contains(catalog.TemplateCategories, category) {
		return nil, fmt.Errorf("%w: template category %q (allowed: %s)", ErrInvalid, category, strings.Join(catalog.TemplateCategories, ", "))
	}
	old, parent := s.templateNow(name)
	if old != nil && !old.Removed && !replace {
		return nil, fmt.Errorf("%w: template %q exists (snapshot %.12s); add it with --force to replace it, or remove it first", ErrExists, name, old.Snapshot)
	}
	se, err := s.begin(ctx, gc.KindStore)
	if err != nil {
		return nil, err
	}
	defer se.End()
	v, err := s.storeTemplate(ctx, se, name, dir, parent)
	if err != nil {
		return nil, err
	}
	t := &catalog.TemplateRecord{Name: name, Category: category, Snapshot: v.id.String(), CreatedAt: v.sn.Time}
	if err := s.recordTemplate(ctx, se, t, old, v, replace); err != nil {
		return nil, err
	}
	return &Template{Name: name, Category: category, Snapshot: t.Snapshot, CreatedAt: t.CreatedAt, Files: v.sn.Files, Size: v.sn.Size}, nil
}

// templateVersion is a template's tree stored, and its snapshot blob.
type templateVersion struct {
	id   object.ID
	sn   *snapshot.Snapshot
	data []byte
}

// storeTemplate stores dir (parent: the tree of the template it replaces)
// and the snapshot of template name, within the session se.
func (s *Store) storeTemplate(ctx context.Context, se *session.Session, name, dir string, parent object.ID) (*templateVersion, error) {
	w := se.Writer()
	res, err := snapshot.Store(ctx, w, dir, snapshot.StoreOptions{Pol: s.pol, ParentTree: parent, Logger: s.log, Reusable: se.Reusable()})
	if err != nil {
		return nil, err
	}
	if err := w.Flush(ctx); err != nil {
		return nil, err
	}
	sn := &snapshot.Snapshot{Time: s.now().UTC(), Tree: res.Tree, ProjectID: catalog.TemplateProjectID(name), ProjectName: name,
		Source: dir, RootMode: res.RootMode, RootMTime: res.RootMTime, Files: res.Stats.Files(), Dirs: res.Stats.Dirs, Size: res.Stats.Size}
	v := &templateVersion{sn: sn, data: sn.Encode()}
	v.id = s.repo.ID(v.data)
	if _, err := w.SaveBlob(ctx, object.SnapshotBlob, v.id, v.data); err != nil {
		return nil, err
	}
	return v, nil
}

// recordTemplate records t, the template of version v, under the
// catalogue lock: its meta blob, then the record with its snapshot in
// index.db, and no other version of the template (a replaced one is no gc
// root any more). old is the record AddTemplate found before it stored
// the tree; another process may have added or replaced the template
// since, which only replace allows.
func (s *Store) recordTemplate(ctx context.Context, se *session.Session, t *catalog.TemplateRecord, old *catalog.TemplateRecord, v *templateVersion, replace bool) error {
	unlock, err := s.lockCatalogue()
	if err != nil {
		return err
	}
	defer unlock()
	if cur, _ := s.templateNow(t.Name); cur != nil && !cur.Removed && !replace {
		return fmt.Errorf("%w: template %q was added by another process meanwhile (snapshot %.12s); nothing was recorded", ErrExists, t.Name, cur.Snapshot)
	} else if cur != nil {
		old = cur
	}
	if old != nil {
		t.Rev, t.ChangedAt = old.Rev, old.ChangedAt
	}
	t.Stamp(v.sn.Time)
	if err := se.CheckLease(ctx, v.sn.Tree); err != nil {
		return err
	}
	metaID, err := s.writeMeta(ctx, catalog.Meta{Kind: "template", Time: v.sn.Time, Template: t})
	if err != nil {
		return err
	}
	t.Origin = metaID.String()
	return s.db.Update(func(tx *index.Tx) error {
		return catalog.ApplyTemplate(tx, t, map[object.ID]catalog.SnapshotBlob{v.id: {Snap: v.sn, Data: v.data}})
	})
}

// templateNow returns the record of template name (nil: none) and the
// tree its snapshot holds, the parent of a new tree of that name (zero
// for a removed template: its name is free, its old tree no parent).
func (s *Store) templateNow(name string) (old *catalog.TemplateRecord, parent object.ID) {
	s.db.View(func(tx *index.Tx) error {
		if old = catalog.LookupTemplate(tx, name); old != nil && !old.Removed {
			if sn, err := catalog.TemplateSnapshot(tx, old); err == nil {
				parent = sn.Tree
			}
		}
		return nil
	})
	return old, parent
}

// RemoveTemplate removes a template: a removal record goes into the packs
// (so no index rebuild and no other machine brings it back), the template's
// snapshot stops being a gc root, and projects made from it keep their
// own versions.
func (s *Store) RemoveTemplate(ctx context.Context, name string) error {
	if err := s.writable(); err != nil {
		return err
	}
	unlock, err := s.lockCatalogueFresh(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	var t *catalog.TemplateRecord
	err = s.db.View(func(tx *index.Tx) (err error) {
		t, err = catalog.FindTemplate(tx, name)
		return err
	})
	if err != nil {
		return err
	}
	t.Removed, t.Origin = true, ""
	t.Stamp(s.now().UTC())
	metaID, err := s.writeMeta(ctx, catalog.Meta{Kind: "template", Time: s.now().UTC(), Template: t})
	if err != nil {
		return err
	}
	t.Origin = metaID.String()
	return s.db.Update(func(tx *index.Tx) error { return catalog.ApplyTemplate(tx, t, nil) })
}

// Templates lists the templates by name.
func (s *Store) Templates() (out []Template, err error) {
	err = s.db.View(func(tx *index.Tx) error {
		out, err = catalog.Templates(tx)
		return err
	})
	return out, err
}

// NewFromTemplate makes a project whose first version is the template's
// tree: only a snapshot blob is written, every data and tree blob is shared.
func (s *Store) NewFromTemplate(ctx context.Context, template string, opts SaveOptions) (*SaveResult, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	var sn *snapshot.Snapshot
	err := s.db.View(func(tx *index.Tx) error {
		t, err := catalog.FindTemplate(tx, template)
		if err == nil {
			sn, err = catalog.TemplateSnapshot(tx, t)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	var exists bool
	s.db.View(func(tx *index.Tx) error {
		_, err := catalog.FindRecord(tx, opts.Project)
		exists = err == nil
		return nil
	})
	if exists {
		return nil, fmt.Errorf("%w: a project named %q exists", ErrExists, opts.Project)
	}
	rec, parent, err := s.prepare(&opts)
	if err != nil {
		return nil, err
	}
	if s.cfg.MaxProjectSize > 0 && sn.Size > s.cfg.MaxProjectSize {
		return nil, s.quotaError(snapshot.ErrLimit, rec.Name, 0)
	}
	se, err := s.begin(ctx, gc.KindStore)
	if err != nil {
		return nil, err
	}
	defer se.End()
	w := se.Writer()
	if err := se.Adopt(ctx, w, sn.Tree); err != nil {
		return nil, err
	}
	det := detect.NewCollector(nil)
	defer det.Stop()
	err = snapshot.Walk(ctx, s.repo, sn.Tree, func(p string, n *snapshot.Node) error {
		if n.Type == snapshot.File {
			det.Visit(p, n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res := &snapshot.StoreResult{Tree: sn.Tree, RootMode: sn.RootMode, RootMTime: sn.RootMTime,
		Stats: snapshot.StoreStats{FilesUnchanged: sn.Files, Dirs: sn.Dirs, Size: sn.Size}}
	return s.commit(ctx, se, w, rec, &opts, parent, res, det, "template "+template)
}
