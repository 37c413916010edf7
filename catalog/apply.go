package catalog

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// The catalogue in index.db is derived from the packs: every snapshot blob
// is a version (with its project's record as of then), and every meta blob
// a catalogue change (a project record, a template record, or the versions
// forget removed). store's applyCatalogue merges such blobs (ApplySnapshot, ApplyMeta) into index.db with
// rules that do not depend on the order the blobs arrive in, so every
// machine that has seen the same packs ends with the same catalogue:
//
//   - a project's record is the one with the latest change stamp (Newer);
//   - a hard delete leaves a tombstone (index.Purged): the project, its
//     versions and any later record of it stay gone;
//   - a forgotten version stays forgotten (index.Forgotten);
//   - a template is its newest record, and only the snapshot it names is
//     one of its versions;
//   - a name belongs to the oldest project that is not deleted (ties: the
//     smaller id); another project of that name keeps its id.
//
// Records carried by meta blobs remember that blob (Origin): gc keeps the
// meta blobs of the current records, the tombstones and the forget records,
// and lets older ones go.

// Meta is a catalogue change written as a meta blob (outside a
// snapshot), so index rebuild sees the newest state of every project.
type Meta struct {
	Kind     string          `json:"kind"` // "project", "template" or "forget"
	Time     time.Time       `json:"time"`
	Project  *Record         `json:"project,omitempty"`
	Template *TemplateRecord `json:"template,omitempty"`
	Forget   *Forget         `json:"forget,omitempty"`
}

// EncodeMeta is the JSON form of a meta blob.
func EncodeMeta(m Meta) ([]byte, error) { return json.Marshal(m) }

// Forget names versions that forget removed, so that an index rebuild
// before gc has dropped their snapshot blobs does not bring them back.
type Forget struct {
	ProjectID string   `json:"project_id"`
	Snapshots []string `json:"snapshots"`
}

// SnapshotBlob is a snapshot blob read from the packs: ApplyMeta records a
// template's version from it.
type SnapshotBlob struct {
	Snap *snapshot.Snapshot
	Data []byte
}

// ApplyMeta merges one meta blob's catalogue change.
func ApplyMeta(tx *index.Tx, id object.ID, m *Meta, tplSnaps map[object.ID]SnapshotBlob) error {
	switch {
	case m.Kind == "project" && m.Project != nil && m.Project.ID != "":
		r := *m.Project
		r.Origin = id
		return ApplyRecord(tx, &r)
	case m.Kind == "template" && m.Template != nil && m.Template.Name != "":
		t := *m.Template
		t.Origin = id.String()
		return ApplyTemplate(tx, &t, tplSnaps)
	case m.Kind == "forget" && m.Forget != nil:
		for _, sid := range m.Forget.Snapshots {
			snap, err := object.ParseID(sid)
			if err != nil {
				continue
			}
			if err := tx.Put(index.Forgotten, snap.String(), []byte(id.String())); err != nil {
				return err
			}
			if err := tx.DeleteSnapshot(snap); err != nil {
				return err
			}
		}
	}
	return nil
}

// ApplyRecord merges one project record.
func ApplyRecord(tx *index.Tx, r *Record) error {
	if tx.Get(index.Purged, r.ID) != nil {
		return nil // a tombstone is final
	}
	cur, err := CurrentRecord(tx, r.ID)
	if err != nil {
		return err
	}
	if r.Status == StatusPurged {
		name := ""
		if cur != nil {
			name = cur.Name
		}
		return Purge(tx, r, name)
	}
	if cur != nil && !Newer(r, cur) {
		if sameChange(r, cur) && cur.Origin.IsZero() && !r.Origin.IsZero() {
			cur.Origin = r.Origin // the meta blob of the record a snapshot carried
			return tx.PutProject(cur.ID, cur.EncodeIndex())
		}
		return nil
	}
	if cur != nil && (cur.Name != r.Name || r.Status == StatusDeleted) {
		if err := releaseName(tx, cur.Name, r.ID); err != nil {
			return err
		}
	}
	if err := tx.PutProject(r.ID, r.EncodeIndex()); err != nil {
		return err
	}
	if r.Status != StatusDeleted {
		return claimName(tx, r)
	}
	return nil
}

func sameChange(a, b *Record) bool {
	return a.ChangedAt.Equal(b.ChangedAt) && a.ChangeID == b.ChangeID && a.Rev == b.Rev
}

// CurrentRecord returns the record of project id in index.db (nil: none).
func CurrentRecord(tx *index.Tx, id string) (*Record, error) {
	data := tx.Project(id)
	if data == nil {
		return nil, nil
	}
	r, err := DecodeRecord(data)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", id, err)
	}
	return r, nil
}

// claimName gives r its name unless an older project that is not deleted
// holds it.
func claimName(tx *index.Tx, r *Record) error {
	other := tx.ProjectIDByName(r.Name)
	if other != "" && other != r.ID {
		o, err := CurrentRecord(tx, other)
		if err != nil {
			return err
		}
		if o != nil && o.Status != StatusDeleted && o.Name == r.Name && !olderProject(r, o) {
			return nil
		}
	}
	return tx.SetName(r.Name, r.ID)
}

// releaseName takes name from project id when it holds it (renamed,
// deleted or purged) and hands it to the project that holds it over the
// other projects of that name that are not deleted (two machines that
// created one name at once), if any: the name ends with the same project
// whatever order the records arrive in.
func releaseName(tx *index.Tx, name, id string) error {
	if tx.ProjectIDByName(name) != id {
		return nil
	}
	if err := tx.DeleteName(name); err != nil {
		return err
	}
	var heir *Record
	err := tx.Projects(func(pid string, data []byte) error {
		if pid == id {
			return nil
		}
		o, err := DecodeRecord(data)
		if err != nil {
			return fmt.Errorf("project %s: %w", pid, err)
		}
		if o.Name == name && o.Status != StatusDeleted && (heir == nil || olderProject(o, heir)) {
			heir = o
		}
		return nil
	})
	if err != nil || heir == nil {
		return err
	}
	return tx.SetName(name, heir.ID)
}

func olderProject(a, b *Record) bool {
	return older(a.CreatedAt, a.ID, b.CreatedAt, b.ID)
}

func older(ca time.Time, ida string, cb time.Time, idb string) bool {
	if !ca.Equal(cb) {
		return ca.Before(cb)
	}
	return ida < idb
}

// HoldsNameOver reports whether p, rather than o, holds the name they
// share (two machines that create a project of one name at once make two
// projects): one that is not deleted before a deleted one, then the older,
// then the smaller id, the rule the catalogue's name index follows.
func (p Project) HoldsNameOver(o Project) bool {
	if pd, od := p.Status == StatusDeleted, o.Status == StatusDeleted; pd != od {
		return od
	}
	return older(p.CreatedAt, p.ID, o.CreatedAt, o.ID)
}

func deleteVersions(tx *index.Tx, projectID string) error {
	var ids []object.ID
	tx.Versions(projectID, func(id object.ID, _ time.Time) bool { ids = append(ids, id); return true })
	for _, id := range ids {
		if err := tx.DeleteSnapshot(id); err != nil {
			return err
		}
	}
	return nil
}

// ApplyTemplate merges one template record.
func ApplyTemplate(tx *index.Tx, t *TemplateRecord, tplSnaps map[object.ID]SnapshotBlob) error {
	if b := tx.Get(index.Templates, t.Name); b != nil {
		var cur TemplateRecord
		if json.Unmarshal(b, &cur) == nil && !t.Newer(&cur) {
			if t.SameChange(&cur) && cur.Origin == "" && t.Origin != "" {
				cur.Origin = t.Origin
				return tx.Put(index.Templates, cur.Name, cur.Encode())
			}
			return nil
		}
	}
	if err := tx.Put(index.Templates, t.Name, t.Encode()); err != nil {
		return err
	}
	proj := TemplateProjectID(t.Name)
	var drop []object.ID
	tx.Versions(proj, func(id object.ID, _ time.Time) bool {
		if t.Removed || id.String() != t.Snapshot {
			drop = append(drop, id)
		}
		return true
	})
	for _, id := range drop {
		if err := tx.DeleteSnapshot(id); err != nil {
			return err
		}
	}
	if t.Removed {
		return nil
	}
	id, err := object.ParseID(t.Snapshot)
	if err != nil {
		return nil
	}
	if _, _, ok, _ := tx.Snapshot(id); !ok {
		if b, ok := tplSnaps[id]; ok {
			return tx.PutSnapshot(index.SnapshotRef{ID: id, ProjectID: proj, Time: b.Snap.Time}, b.Data)
		}
	}
	return nil
}

// ApplySnapshot records a version unless it is forgotten, its project
// purged, or it is a template snapshot its template no longer names; the
// record it carries is merged too.
func ApplySnapshot(tx *index.Tx, id object.ID, sn *snapshot.Snapshot, data []byte) error {
	if tx.Get(index.Forgotten, id.String()) != nil || tx.Get(index.Purged, sn.ProjectID) != nil {
		return nil
	}
	if name, isTpl := strings.CutPrefix(sn.ProjectID, TemplateProjectID("")); isTpl {
		b := tx.Get(index.Templates, name)
		var t TemplateRecord
		if b == nil || json.Unmarshal(b, &t) != nil || t.Removed || t.Snapshot != id.String() {
			return nil
		}
	}
	if _, _, ok, _ := tx.Snapshot(id); !ok {
		if err := tx.PutSnapshot(index.SnapshotRef{ID: id, ProjectID: sn.ProjectID, Time: sn.Time}, data); err != nil {
			return err
		}
	}
	if len(sn.Project) > 0 {
		if r, err := DecodeRecord(sn.Project); err == nil && r.ID == sn.ProjectID {
			r.Origin = object.ID{}
			return ApplyRecord(tx, r)
		}
	}
	return nil
}

// Purge removes a purged project from the index: its versions, its
// record (a tombstone takes its place) and, when it still holds it, its
// name ("" for none).
func Purge(tx *index.Tx, r *Record, name string) error {
	if name != "" {
		if err := releaseName(tx, name, r.ID); err != nil {
			return err
		}
	}
	if err := deleteVersions(tx, r.ID); err != nil {
		return err
	}
	if err := tx.DeleteProject(r.ID); err != nil {
		return err
	}
	return tx.Put(index.Purged, r.ID, r.EncodeIndex())
}
