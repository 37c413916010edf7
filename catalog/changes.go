package catalog

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// List returns the projects passing f, sorted by name then id, with their
// newest version first in Versions (only the newest; Get has all).
func List(db *index.DB, f Filter) ([]ListItem, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	out := []ListItem{}
	err := db.View(func(tx *index.Tx) error {
		return tx.Projects(func(id string, data []byte) error {
			r, err := DecodeRecord(data)
			if err != nil {
				return fmt.Errorf("project %s: %w", id, err)
			}
			p := r.Project()
			if !f.Match(&p) {
				return nil
			}
			item := ListItem{Project: p}
			tx.Versions(r.ID, func(v object.ID, at time.Time) bool {
				if item.VersionCount == 0 {
					item.Versions = []Version{{ID: v.String(), Time: at.UTC()}}
				}
				item.VersionCount++
				return true
			})
			out = append(out, item)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b ListItem) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, err
}

// Changes change a project's metadata (`silo projects set`). Nil or
// empty fields are left alone.
type Changes struct {
	Name          string
	Type          string
	GitRepository *string
	AddTags       []string
	RemoveTags    []string
	Languages     []string // user-given languages, replacing earlier ones when not nil
	Frameworks    []string
	// Excludes replace the project's default excludes when not nil (empty:
	// none).
	Excludes []string
}

// Check refuses changes whose texts or exclude patterns are malformed,
// before anything is locked or written.
func (c Changes) Check() error {
	git := ""
	if c.GitRepository != nil {
		git = *c.GitRepository
	}
	if err := CheckTexts(c.AddTags, git, c.Languages, c.Frameworks); err != nil {
		return err
	}
	for _, e := range c.Excludes {
		if strings.TrimSpace(e) == "" || strings.ContainsAny(e, "\x00\n\r") {
			return fmt.Errorf("%w: exclude pattern %q: empty, or a control character", ErrInvalid, e)
		}
	}
	return nil
}

// Apply makes the changes to r at now.
func (c Changes) Apply(r *Record, now time.Time) error {
	if c.Name != "" && c.Name != r.Name {
		if err := CheckProjectName(c.Name); err != nil {
			return err
		}
		r.Name = c.Name
	}
	if c.Type != "" {
		if err := CheckType(c.Type); err != nil {
			return err
		}
		r.Type = c.Type
	}
	if c.GitRepository != nil {
		r.GitRepository = *c.GitRepository
	}
	r.Tags = Union(r.Tags, c.AddTags)
	r.Tags = slices.DeleteFunc(r.Tags, func(t string) bool { return slices.Contains(c.RemoveTags, t) })
	if c.Languages != nil {
		r.UserLanguages = Union(c.Languages)
	}
	if c.Frameworks != nil {
		r.UserFrameworks = Union(c.Frameworks)
	}
	if c.Excludes != nil {
		r.Excludes = slices.Compact(slices.Clone(c.Excludes))
		if len(r.Excludes) == 0 {
			r.Excludes = nil
		}
	}
	r.RefreshDerived()
	r.UpdatedAt = now.UTC()
	return nil
}

// CheckName refuses (ErrExists) a change that would take a name another
// project holds: a rename onto it, or an undelete of a project whose name
// was taken meanwhile. A change that takes no name (tags, archive, a
// delete) is never refused, also for the second project of a name two
// machines created at once. The caller checks before it writes the
// change anywhere: a refused change must not reach the packs.
func CheckName(tx *index.Tx, r *Record, oldName, oldStatus string) error {
	if r.Status == StatusDeleted || r.Status == StatusPurged || (r.Name == oldName && oldStatus != StatusDeleted) {
		return nil
	}
	if other := tx.ProjectIDByName(r.Name); other != "" && other != r.ID {
		return fmt.Errorf("%w: another project is named %q", ErrExists, r.Name)
	}
	return nil
}

// Put stores a changed record in index.db: a purged one leaves the
// catalogue (a tombstone stays); otherwise its name moves with it (a
// deleted project no longer holds its name, which passes to another
// project of that name; one taken by another project is refused with
// ErrExists, see CheckName). oldName and oldStatus are the record's
// before the change.
func Put(tx *index.Tx, r *Record, oldName, oldStatus string) error {
	if err := CheckName(tx, r, oldName, oldStatus); err != nil {
		return err
	}
	if r.Status == StatusPurged {
		name := oldName
		if oldStatus == StatusDeleted {
			name = "" // a deleted project no longer holds its name
		}
		return Purge(tx, r, name)
	}
	if oldName != r.Name || r.Status == StatusDeleted {
		if err := releaseName(tx, oldName, r.ID); err != nil {
			return err
		}
	}
	if r.Status != StatusDeleted {
		// as a merge on another machine gives it (ApplyRecord)
		if err := claimName(tx, r); err != nil {
			return err
		}
	}
	return tx.PutProject(r.ID, r.EncodeIndex())
}

// CheckText refuses a catalogue value that is not valid UTF-8 or holds a
// control character (C0, DEL, C1: terminal escapes among them), naming
// the field. Catalogue values end up on terminals and in JSON for other
// programs; none of them needs a control character.
func CheckText(field, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrInvalid, field, v)
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w: %s %q holds the control character %U", ErrInvalid, field, v, r)
		}
	}
	return nil
}

// CheckTexts checks the free-text catalogue fields of a save or set.
func CheckTexts(tags []string, gitRepository string, languages, frameworks []string) error {
	for _, f := range []struct {
		name string
		vals []string
	}{{"tag", tags}, {"git_repository", []string{gitRepository}}, {"language", languages}, {"framework", frameworks}} {
		for _, v := range f.vals {
			if err := CheckText(f.name, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Now is what the catalogue holds, under the catalogue lock, for a new
// version of rec that was stored without it.
type Now struct {
	// Record is the project's record now: rec's own, or, for a new project
	// whose name another process took meanwhile, that project's (nil:
	// none).
	Record *Record
	// Parent is, in that second case, the other project's newest version
	// (the new version's parent).
	Parent object.ID
	// Purged is set when the project was hard-deleted.
	Purged bool
}

// RecordNow looks rec's project up as the catalogue holds it now: another
// process may have changed it, deleted it, or created a project of that
// name while the tree was stored.
func RecordNow(tx *index.Tx, rec *Record) (now Now, err error) {
	now.Purged = tx.Get(index.Purged, rec.ID) != nil
	if now.Record, err = CurrentRecord(tx, rec.ID); err != nil || now.Record != nil || rec.Rev > 0 {
		return now, err
	}
	if id := tx.ProjectIDByName(rec.Name); id != "" {
		if now.Record, err = CurrentRecord(tx, id); err != nil || now.Record == nil {
			return now, err
		}
		tx.Versions(now.Record.ID, func(id object.ID, _ time.Time) bool {
			now.Parent = id
			return false
		})
	}
	return now, nil
}

// PutVersion records version ref (its snapshot blob: data) of project rec
// and rec itself as the project's record, holding its name (ErrExists when
// another project holds it).
func PutVersion(tx *index.Tx, rec *Record, ref index.SnapshotRef, data []byte) error {
	if other := tx.ProjectIDByName(rec.Name); other != "" && other != rec.ID {
		return fmt.Errorf("%w: another project is named %q", ErrExists, rec.Name)
	}
	if err := tx.PutSnapshot(ref, data); err != nil {
		return err
	}
	if err := tx.PutProject(rec.ID, rec.EncodeIndex()); err != nil {
		return err
	}
	return tx.SetName(rec.Name, rec.ID)
}

// ForVersion returns the record a new version of project (an id or a
// name) goes to, with the project's newest version (zero and nil when it
// has none); nil when no such project exists yet (NewRecord makes one). A
// deleted project is refused: it must be undeleted first.
func ForVersion(tx *index.Tx, project string) (*Record, object.ID, *snapshot.Snapshot, error) {
	r, err := FindActive(tx, project)
	if errors.Is(err, ErrProjectNotFound) {
		return nil, object.ID{}, nil, nil
	}
	if err != nil {
		return nil, object.ID{}, nil, err
	}
	if r.Status == StatusDeleted {
		return nil, object.ID{}, nil, fmt.Errorf("%w: project %q is deleted; undelete it first", ErrInvalid, r.Name)
	}
	var newest object.ID
	var sn *snapshot.Snapshot
	tx.Versions(r.ID, func(id object.ID, _ time.Time) bool {
		if s, err := LoadSnapshot(tx, id); err == nil {
			newest, sn = id, s // unreadable: the version has no parent
		}
		return false
	})
	return r, newest, sn, nil
}

// NewRecord returns the record of a new project, not yet in the
// catalogue: its name and type (default generation) checked, active,
// created now.
func NewRecord(name, typ string, now time.Time) (*Record, error) {
	if err := CheckProjectName(name); err != nil {
		return nil, err
	}
	if typ == "" {
		typ = TypeGeneration
	}
	if err := CheckType(typ); err != nil {
		return nil, err
	}
	return &Record{ID: NewProjectID(), Name: name, Type: typ, CreatedAt: now.UTC(), Status: StatusActive}, nil
}

// VersionsOf lists project id's versions, newest first, as retention
// sees them; with tags, each with the tags it was stored with (which means
// reading its snapshot).
func VersionsOf(tx *index.Tx, id string, tags bool) ([]gc.Version, error) {
	var out []gc.Version
	var ferr error
	tx.Versions(id, func(v object.ID, at time.Time) bool {
		d := gc.Version{ID: v.String(), Time: at}
		if tags {
			sn, err := LoadSnapshot(tx, v)
			if err != nil {
				ferr = err
				return false
			}
			d.Tags = sn.VersionTags
		}
		out = append(out, d)
		return true
	})
	return out, ferr
}
