package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// List returns the projects passing f, sorted by name then id, with their
// newest version first in Versions (only the newest; Get has all).
func (s *Store) List(f Filter) ([]ListItem, error) { return catalog.List(s.db, f) }

// SetOptions change a project's metadata. Nil or empty fields are left alone.
type SetOptions = catalog.Changes

// update applies fn to a project's record and makes the change durable: a
// meta blob in the packs first (so index rebuild and other machines see
// it), then index.db, under the catalogue lock.
func (s *Store) update(ctx context.Context, ref string, fn func(r *catalog.Record) error) (*catalog.Record, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	unlock, err := s.lockCatalogueFresh(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var r *catalog.Record
	err = s.db.View(func(tx *index.Tx) error {
		var err error
		r, err = catalog.FindRecord(tx, ref)
		return err
	})
	if err != nil {
		return nil, err
	}
	oldName, oldStatus := r.Name, r.Status
	if err := fn(r); err != nil {
		return nil, err
	}
	// a change refused for its name must not reach the packs, where a
	// rebuild or another machine would apply it
	if err := s.db.View(func(tx *index.Tx) error { return catalog.CheckName(tx, r, oldName, oldStatus) }); err != nil {
		return nil, err
	}
	r.Stamp(s.now())
	if r.Origin, err = s.writeMeta(ctx, catalog.Meta{Kind: "project", Time: s.now().UTC(), Project: r}); err != nil {
		return nil, err
	}
	err = s.db.Update(func(tx *index.Tx) error { return catalog.Put(tx, r, oldName, oldStatus) })
	if err != nil {
		return nil, err
	}
	return r, nil
}

// writeMeta saves a catalogue change as a meta blob, flushes it and
// returns its id. A new blob refers to nothing, so it needs no session.
func (s *Store) writeMeta(ctx context.Context, m catalog.Meta) (object.ID, error) {
	data, err := catalog.EncodeMeta(m)
	if err != nil {
		return object.ID{}, err
	}
	id := s.repo.ID(data)
	w := s.repo.NewWriter(object.WriterOptions{})
	if _, err := w.SaveBlob(ctx, object.MetaBlob, id, data); err != nil {
		return id, err
	}
	return id, w.Flush(ctx)
}

// Set changes a project's metadata.
func (s *Store) Set(ctx context.Context, ref string, o SetOptions) (*Project, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	r, err := s.update(ctx, ref, func(r *catalog.Record) error { return o.Apply(r, s.now()) })
	if err != nil {
		return nil, err
	}
	return s.Get(r.ID)
}

// Delete soft-deletes a project (status deleted, versions kept, restorable
// with Undelete) or, with hard, removes it from the catalogue; its space
// returns at the next garbage collection.
func (s *Store) Delete(ctx context.Context, ref string, hard bool) (*Project, error) {
	p, err := s.deleteProject(ctx, ref, hard)
	if err == nil {
		ev := s.event("on_delete", p.ID, p.Name, "", "")
		ev.Details = map[string]bool{"permanent": hard}
		s.hooks.On(ctx, ev)
	}
	return p, err
}

func (s *Store) deleteProject(ctx context.Context, ref string, hard bool) (*Project, error) {
	var p *Project
	r, err := s.update(ctx, ref, func(r *catalog.Record) error {
		now := s.now().UTC()
		if hard {
			r.Status = catalog.StatusPurged
		} else {
			if r.Status == StatusDeleted {
				return fmt.Errorf("%w: project %q is already deleted", ErrInvalid, r.Name)
			}
			r.Status = StatusDeleted
		}
		r.DeletedAt = &now
		pp := r.Project()
		p = &pp
		return nil
	})
	if err != nil {
		return nil, err
	}
	if hard {
		s.removeCache(r.ID, false)
		// the guide's statuses are active, archived and deleted: a hard
		// delete reports deleted, and says it is permanent
		p.Status, p.Permanent = StatusDeleted, true
		return p, nil
	}
	return s.Get(r.ID)
}

// Undelete makes a soft-deleted project active again.
func (s *Store) Undelete(ctx context.Context, ref string) (*Project, error) {
	r, err := s.update(ctx, ref, func(r *catalog.Record) error {
		if r.Status != StatusDeleted {
			return fmt.Errorf("%w: project %q is not deleted", ErrInvalid, r.Name)
		}
		r.Status = StatusActive
		r.DeletedAt = nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Get(r.ID)
}

// Unarchive makes an archived project active again and removes the
// archive export it had (archives/YYYY/MM/<project-id>.tar.gz).
func (s *Store) Unarchive(ctx context.Context, ref string) (*Project, error) {
	var export string
	r, err := s.update(ctx, ref, func(r *catalog.Record) error {
		if r.Status != StatusArchived {
			return fmt.Errorf("%w: project %q is not archived", ErrInvalid, r.Name)
		}
		r.Status = StatusActive
		r.ArchivedAt = nil
		export, r.ArchivePath = r.ArchivePath, ""
		// brought back into use: the archive age counts from now, or the
		// next cleanup would archive it again at once
		r.UpdatedAt = s.now().UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	// only a file silo wrote, under its archives/
	if archives := filepath.Join(s.base, "archives") + string(filepath.Separator); export != "" &&
		strings.HasPrefix(filepath.Clean(export), archives) {
		if err := os.Remove(export); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("unarchive %s: remove the archive export: %w", r.Name, err)
		}
	}
	return s.Get(r.ID)
}

// The catalogue's types and values, from package catalog.
type (
	Project  = catalog.Project
	Version  = catalog.Version
	Template = catalog.Template
	Filter   = catalog.Filter
	ListItem = catalog.ListItem
)

// Project statuses and types.
const (
	StatusActive   = catalog.StatusActive
	StatusArchived = catalog.StatusArchived
	StatusDeleted  = catalog.StatusDeleted

	TypeGeneration = catalog.TypeGeneration
	TypeMigration  = catalog.TypeMigration
)

// CheckProjectName reports whether name is usable (see
// catalog.CheckProjectName).
func CheckProjectName(name string) error { return catalog.CheckProjectName(name) }
