package catalog

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// TemplateRecord names a snapshot as a template for new projects.
type TemplateRecord struct {
	Name      string    `json:"name"`
	Category  string    `json:"category"`
	Snapshot  string    `json:"snapshot"`
	CreatedAt time.Time `json:"created_at"`
	Removed   bool      `json:"removed,omitempty"`
	Rev       uint64    `json:"rev"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
	ChangeID  string    `json:"change_id,omitempty"`
	// Origin is the meta blob that carries the record (index.db only).
	Origin string `json:"origin,omitempty"`
}

// Newer reports whether template record t supersedes o (see the function Newer).
func (t *TemplateRecord) Newer(o *TemplateRecord) bool {
	if !t.ChangedAt.Equal(o.ChangedAt) {
		return t.ChangedAt.After(o.ChangedAt)
	}
	if t.ChangeID != o.ChangeID {
		return t.ChangeID > o.ChangeID
	}
	return t.Rev > o.Rev
}

// SameChange reports whether t and o record one change.
func (t *TemplateRecord) SameChange(o *TemplateRecord) bool {
	return t.ChangedAt.Equal(o.ChangedAt) && t.ChangeID == o.ChangeID && t.Rev == o.Rev
}

// Stamp marks a change made now (see Record.Stamp).
func (t *TemplateRecord) Stamp(now time.Time) {
	now = now.UTC()
	if !now.After(t.ChangedAt) {
		now = t.ChangedAt.Add(time.Nanosecond)
	}
	t.ChangedAt, t.ChangeID = now, newChangeID()
	t.Rev++
}

// Encode is the template record's JSON form.
func (t *TemplateRecord) Encode() []byte {
	b, err := json.Marshal(t)
	if err != nil {
		panic(err)
	}
	return b
}

// Template is a named snapshot new projects can start from.
type Template struct {
	Name      string    `json:"name"`
	Category  string    `json:"category"`
	Snapshot  string    `json:"snapshot"`
	CreatedAt time.Time `json:"created_at"`
	Files     int64     `json:"files"`
	Size      int64     `json:"size"`
}

// Template categories.
var TemplateCategories = []string{"backend", "frontend", "fullstack"}

// TemplateProjectID is the project id the versions of template name go by.
func TemplateProjectID(name string) string { return "template/" + name }

// LookupTemplate returns the record of template name, removed or not; nil
// when there is none (or it cannot be read).
func LookupTemplate(tx *index.Tx, name string) *TemplateRecord {
	b := tx.Get(index.Templates, name)
	var t TemplateRecord
	if b == nil || json.Unmarshal(b, &t) != nil {
		return nil
	}
	return &t
}

// FindTemplate returns the record of template name; ErrProjectNotFound
// when there is none or it was removed.
func FindTemplate(tx *index.Tx, name string) (*TemplateRecord, error) {
	b := tx.Get(index.Templates, name)
	if b == nil {
		return nil, fmt.Errorf("%w: no template %q", ErrProjectNotFound, name)
	}
	var t TemplateRecord
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	if t.Removed {
		return nil, fmt.Errorf("%w: no template %q (it was removed)", ErrProjectNotFound, name)
	}
	return &t, nil
}

// TemplateSnapshot loads the snapshot template t names.
func TemplateSnapshot(tx *index.Tx, t *TemplateRecord) (*snapshot.Snapshot, error) {
	id, err := object.ParseID(t.Snapshot)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", t.Name, err)
	}
	return LoadSnapshot(tx, id)
}

// Templates lists the templates that are not removed, by name.
func Templates(tx *index.Tx) ([]Template, error) {
	out := []Template{}
	err := tx.ForEach(index.Templates, func(name string, val []byte) error {
		var t TemplateRecord
		if err := json.Unmarshal(val, &t); err != nil {
			return fmt.Errorf("template %s: %w", name, err)
		}
		if t.Removed {
			return nil
		}
		tp := Template{Name: t.Name, Category: t.Category, Snapshot: t.Snapshot, CreatedAt: t.CreatedAt}
		if sn, err := TemplateSnapshot(tx, &t); err == nil {
			tp.Files, tp.Size = sn.Files, sn.Size
		}
		out = append(out, tp)
		return nil
	})
	return out, err
}
