package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// The catalogue in index.db is derived from the packs: every snapshot blob
// is a version (with its project's record as of then), and every meta blob
// a catalogue change (a project record, a template record, or the versions
// forget removed). applyCatalogue merges such blobs into index.db with
// rules that do not depend on the order the blobs arrive in, so every
// machine that has seen the same packs ends with the same catalogue:
//
//   - a project's record is the one with the latest change stamp (newer);
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

// metaRecord is a catalogue change written as a meta blob (outside a
// snapshot), so index rebuild sees the newest state of every project.
type metaRecord struct {
	Kind     string          `json:"kind"` // "project", "template" or "forget"
	Time     time.Time       `json:"time"`
	Project  *record         `json:"project,omitempty"`
	Template *templateRecord `json:"template,omitempty"`
	Forget   *forgetRecord   `json:"forget,omitempty"`
}

// forgetRecord names versions that forget removed, so that an index rebuild
// before gc has dropped their snapshot blobs does not bring them back.
type forgetRecord struct {
	ProjectID string   `json:"project_id"`
	Snapshots []string `json:"snapshots"`
}

// catBlob is a snapshot or meta blob read from the packs.
type catBlob struct {
	id   object.ID
	meta *metaRecord
	snap *snapshot.Snapshot
	data []byte
}

// applyStats counts what applyCatalogue read.
type applyStats struct {
	Snapshots, Metas int
	// Skipped names blobs that could not be read or decoded, and
	// SkippedPacks their packs.
	Skipped      []string
	SkippedPacks []object.ID
}

// readCatalogueBlobs loads and decodes snapshot and meta blobs. With strict,
// a blob that cannot be read or decoded is an error naming it and its
// pack; otherwise it is skipped and listed.
func (s *Store) readCatalogueBlobs(ctx context.Context, locs []object.Location, strict bool, st *applyStats) ([]catBlob, error) {
	out := make([]catBlob, 0, len(locs))
	for _, l := range locs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := s.repo.LoadBlob(ctx, l.ID, nil)
		cb := catBlob{id: l.ID, data: data}
		if err == nil {
			switch l.Type {
			case object.SnapshotBlob:
				cb.snap, err = snapshot.DecodeSnapshot(data)
			case object.MetaBlob:
				var m metaRecord
				if err = json.Unmarshal(data, &m); err == nil {
					cb.meta = &m
				}
			}
		}
		if err != nil {
			what := fmt.Sprintf("%s blob %s in pack %s: %v", l.Type, l.ID, l.Pack, err)
			if strict {
				return nil, fmt.Errorf("%w: %s", object.ErrCorrupt, what)
			}
			s.log.Warn("catalogue blob unreadable; skipped", "blob", l.ID.String(), "pack", l.Pack.String(), "err", err)
			st.Skipped = append(st.Skipped, what)
			st.SkippedPacks = append(st.SkippedPacks, l.Pack)
			continue
		}
		if cb.snap != nil {
			st.Snapshots++
		} else {
			st.Metas++
		}
		out = append(out, cb)
	}
	return out, nil
}

// catalogueLocations returns the snapshot and meta blobs indexed in packs
// (all packs when packs is nil). Forgotten snapshots are left out: nothing
// needs to read them.
func (s *Store) catalogueLocations(packs map[object.ID]bool) ([]object.Location, error) {
	var out []object.Location
	err := s.db.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
			if l.Type != object.SnapshotBlob && l.Type != object.MetaBlob {
				return nil
			}
			if packs != nil && !packs[l.Pack] {
				return nil
			}
			if l.Type == object.SnapshotBlob && tx.Get(index.Forgotten, l.ID.String()) != nil {
				return nil
			}
			out = append(out, l)
			return nil
		})
	})
	return out, err
}

// applyCatalogue merges catalogue blobs into index.db (see above).
func (s *Store) applyCatalogue(ctx context.Context, locs []object.Location, strict bool) (*applyStats, error) {
	st := &applyStats{}
	blobs, err := s.readCatalogueBlobs(ctx, locs, strict, st)
	if err != nil {
		return st, err
	}
	// catalogue changes first, then versions (a version's project may have
	// been purged or a template moved on)
	slices.SortStableFunc(blobs, func(a, b catBlob) int {
		switch {
		case a.meta != nil && b.meta == nil:
			return -1
		case a.meta == nil && b.meta != nil:
			return 1
		}
		return 0
	})
	// snapshots that templates name, to record them when the snapshot came
	// in an earlier batch than the template record
	tplSnaps := map[object.ID]catBlob{}
	for _, b := range blobs {
		if b.meta != nil && b.meta.Template != nil {
			if id, err := object.ParseID(b.meta.Template.Snapshot); err == nil {
				if data, err := s.repo.LoadBlob(ctx, id, nil); err == nil {
					if sn, err := snapshot.DecodeSnapshot(data); err == nil {
						tplSnaps[id] = catBlob{id: id, snap: sn, data: data}
					}
				}
			}
		}
	}
	// a backup destination lists the versions its records hold, no others
	// (syncDestination)
	var held map[object.ID]bool
	if slices.ContainsFunc(blobs, func(b catBlob) bool { return b.snap != nil }) {
		dest, err := s.isDestination(ctx, false)
		if err != nil {
			return st, err
		}
		if dest {
			if held, err = s.backupHoldsLenient(ctx); err != nil {
				return st, err
			}
		}
	}
	err = s.db.Update(func(tx *index.Tx) error {
		for _, b := range blobs {
			var err error
			switch {
			case b.meta != nil:
				err = applyMeta(tx, b.id, b.meta, tplSnaps)
			case b.snap != nil && held != nil && !held[b.id]:
			case b.snap != nil:
				err = applySnapshot(tx, b.id, b.snap, b.data)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return st, err
}

func applyMeta(tx *index.Tx, id object.ID, m *metaRecord, tplSnaps map[object.ID]catBlob) error {
	switch {
	case m.Kind == "project" && m.Project != nil && m.Project.ID != "":
		r := *m.Project
		r.Origin = id
		return applyRecord(tx, &r)
	case m.Kind == "template" && m.Template != nil && m.Template.Name != "":
		t := *m.Template
		t.Origin = id.String()
		return applyTemplate(tx, &t, tplSnaps)
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

// applyRecord merges one project record.
func applyRecord(tx *index.Tx, r *record) error {
	if tx.Get(index.Purged, r.ID) != nil {
		return nil // a tombstone is final
	}
	cur, err := currentRecord(tx, r.ID)
	if err != nil {
		return err
	}
	if r.Status == statusPurged {
		name := ""
		if cur != nil {
			name = cur.Name
		}
		return purgeInTx(tx, r, name)
	}
	if cur != nil && !newer(r, cur) {
		if sameChange(r, cur) && cur.Origin.IsZero() && !r.Origin.IsZero() {
			cur.Origin = r.Origin // the meta blob of the record a snapshot carried
			return tx.PutProject(cur.ID, cur.encodeIndex())
		}
		return nil
	}
	if cur != nil && tx.ProjectIDByName(cur.Name) == r.ID && (cur.Name != r.Name || r.Status == StatusDeleted) {
		if err := tx.DeleteName(cur.Name); err != nil {
			return err
		}
	}
	if err := tx.PutProject(r.ID, r.encodeIndex()); err != nil {
		return err
	}
	if r.Status != StatusDeleted {
		return claimName(tx, r)
	}
	return nil
}

func sameChange(a, b *record) bool {
	return a.ChangedAt.Equal(b.ChangedAt) && a.ChangeID == b.ChangeID && a.Rev == b.Rev
}

func currentRecord(tx *index.Tx, id string) (*record, error) {
	data := tx.Project(id)
	if data == nil {
		return nil, nil
	}
	r, err := decodeRecord(data)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", id, err)
	}
	return r, nil
}

// claimName gives r its name unless an older project that is not deleted
// holds it.
func claimName(tx *index.Tx, r *record) error {
	other := tx.ProjectIDByName(r.Name)
	if other != "" && other != r.ID {
		o, err := currentRecord(tx, other)
		if err != nil {
			return err
		}
		if o != nil && o.Status != StatusDeleted && o.Name == r.Name && !olderProject(r, o) {
			return nil
		}
	}
	return tx.SetName(r.Name, r.ID)
}

func olderProject(a, b *record) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) {
		return a.CreatedAt.Before(b.CreatedAt)
	}
	return a.ID < b.ID
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

// applyTemplate merges one template record.
func applyTemplate(tx *index.Tx, t *templateRecord, tplSnaps map[object.ID]catBlob) error {
	if b := tx.Get(index.Templates, t.Name); b != nil {
		var cur templateRecord
		if json.Unmarshal(b, &cur) == nil && !t.newer(&cur) {
			if t.sameChange(&cur) && cur.Origin == "" && t.Origin != "" {
				cur.Origin = t.Origin
				return tx.Put(index.Templates, cur.Name, cur.encode())
			}
			return nil
		}
	}
	if err := tx.Put(index.Templates, t.Name, t.encode()); err != nil {
		return err
	}
	proj := templateProjectID(t.Name)
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
			return tx.PutSnapshot(index.SnapshotRef{ID: id, ProjectID: proj, Time: b.snap.Time}, b.data)
		}
	}
	return nil
}

// applySnapshot records a version unless it is forgotten, its project
// purged, or it is a template snapshot its template no longer names; the
// record it carries is merged too.
func applySnapshot(tx *index.Tx, id object.ID, sn *snapshot.Snapshot, data []byte) error {
	if tx.Get(index.Forgotten, id.String()) != nil || tx.Get(index.Purged, sn.ProjectID) != nil {
		return nil
	}
	if name, isTpl := strings.CutPrefix(sn.ProjectID, templateProjectID("")); isTpl {
		b := tx.Get(index.Templates, name)
		var t templateRecord
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
		if r, err := decodeRecord(sn.Project); err == nil && r.ID == sn.ProjectID {
			r.Origin = object.ID{}
			return applyRecord(tx, r)
		}
	}
	return nil
}

// purgeInTx removes a purged project from the index: its versions, its
// record (a tombstone takes its place) and, when it still holds it, its
// name ("" for none).
func purgeInTx(tx *index.Tx, r *record, name string) error {
	if name != "" && tx.ProjectIDByName(name) == r.ID {
		if err := tx.DeleteName(name); err != nil {
			return err
		}
	}
	if err := deleteVersions(tx, r.ID); err != nil {
		return err
	}
	if err := tx.DeleteProject(r.ID); err != nil {
		return err
	}
	return tx.Put(index.Purged, r.ID, r.encodeIndex())
}
