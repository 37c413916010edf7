package catalog

import (
	"encoding/json"
	"time"
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
