package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// VersionFunc reads a version of a repository: from its catalogue or,
// where the catalogue does not list it, from its snapshot blob (a
// destination's catalogue may miss a version a record holds again).
type VersionFunc func(ctx context.Context, id object.ID) (*snapshot.Snapshot, []byte, error)

// NewestMeta returns the newest meta blob (catalogue record) of each
// project ("p/" + id) and template ("t/" + name) in repo, whose blobs db
// indexes, and every forget record ("f/" + its blob id). A meta blob
// collected while they are read (a record superseded by a newer one, a
// forget record of a purged project) is left out.
func NewestMeta(ctx context.Context, db *index.DB, repo *object.Repository) (map[string]object.ID, error) {
	var metas []object.ID
	err := db.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
			if l.Type == object.MetaBlob {
				metas = append(metas, l.ID)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	type best struct {
		id  object.ID
		rev uint64
	}
	newest := map[string]best{}
	for _, id := range metas {
		data, err := repo.LoadBlob(ctx, id, nil)
		if errors.Is(err, object.ErrBlobNotFound) || errors.Is(err, object.ErrNotFound) {
			continue // collected meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("meta blob %s: %w", id, err)
		}
		key, rev, ok := metaKey(id, data)
		if !ok {
			continue
		}
		if b, ok := newest[key]; !ok || rev > b.rev {
			newest[key] = best{id, rev}
		}
	}
	out := map[string]object.ID{}
	for k, b := range newest {
		out[k] = b.id
	}
	return out, nil
}

// metaKey returns what the meta blob id (data) is the record of, and its
// revision; ok is false for a blob that is none of them.
func metaKey(id object.ID, data []byte) (key string, rev uint64, ok bool) {
	var m catalog.Meta
	if json.Unmarshal(data, &m) != nil {
		return "", 0, false
	}
	switch {
	case m.Project != nil:
		return "p/" + m.Project.ID, m.Project.Rev, true
	case m.Template != nil:
		return "t/" + m.Template.Name, m.Template.Rev, true
	case m.Forget != nil:
		return "f/" + id.String(), 0, true // every forget record stays (a few bytes each)
	}
	return "", 0, false
}

// CopyCatalogue records the versions, projects and templates of br in
// dst's index, reading the versions from src (dst holds their blobs
// already): a destination is a silo repository like any other, and a
// primary restored from a backup lists what it got back.
func CopyCatalogue(ctx context.Context, src *Source, dst *Destination, br *Record) error {
	type snapData struct {
		ref  index.SnapshotRef
		data []byte
	}
	var snaps []snapData
	for id := range RecordVersions([]Record{*br}) {
		sn, data, err := src.Version(ctx, id)
		if err != nil {
			return err
		}
		snaps = append(snaps, snapData{index.SnapshotRef{ID: id, ProjectID: sn.ProjectID, Time: sn.Time}, data})
	}
	return dst.Index.Update(func(tx *index.Tx) error {
		for _, sd := range snaps {
			if err := tx.PutSnapshot(sd.ref, sd.data); err != nil {
				return err
			}
		}
		holders := br.holders()
		for i, p := range br.Projects {
			if err := tx.PutProject(p.ID, p.Record); err != nil {
				return err
			}
			// of two projects of one name, the name is its holder's (see
			// catalog.Project.HoldsNameOver), as on the machines that made them
			if p.Status != catalog.StatusDeleted && holders[p.Name] == i {
				if err := tx.SetName(p.Name, p.ID); err != nil {
					return err
				}
			}
		}
		for _, t := range br.Templates {
			tr := catalog.TemplateRecord{Name: t.Name, Category: t.Category, Snapshot: t.Snapshot, CreatedAt: t.CreatedAt, Rev: 1}
			if err := tx.Put(index.Templates, t.Name, tr.Encode()); err != nil {
				return err
			}
		}
		return nil
	})
}

// SyncCatalogue makes a destination's catalogue (db) list the versions its
// records hold (held, from Held), no others: each machine's index
// converges on that, also after a removal on another machine, and a
// version a later backup holds again comes back. A held version that
// version cannot read goes to unreadable and is left out: `silo backup
// verify` names its record, and the rest of the destination stays usable.
func SyncCatalogue(ctx context.Context, db *index.DB, held map[object.ID]bool, version VersionFunc, unreadable func(id object.ID, err error)) error {
	listed := map[object.ID]bool{}
	if err := db.View(func(tx *index.Tx) error {
		return tx.Snapshots(func(ref index.SnapshotRef, _ []byte) error { listed[ref.ID] = true; return nil })
	}); err != nil {
		return err
	}
	type add struct {
		ref  index.SnapshotRef
		data []byte
	}
	var adds []add
	for id := range held {
		if listed[id] {
			continue
		}
		sn, data, err := version(ctx, id)
		if err != nil {
			unreadable(id, err)
			continue
		}
		adds = append(adds, add{index.SnapshotRef{ID: id, ProjectID: sn.ProjectID, Time: sn.Time}, data})
	}
	var drop []object.ID
	for id := range listed {
		if !held[id] {
			drop = append(drop, id)
		}
	}
	if len(adds) == 0 && len(drop) == 0 {
		return nil
	}
	return db.Update(func(tx *index.Tx) error {
		for _, id := range drop {
			if err := tx.DeleteSnapshot(id); err != nil {
				return err
			}
		}
		for _, a := range adds {
			if err := tx.PutSnapshot(a.ref, a.data); err != nil {
				return err
			}
		}
		return nil
	})
}
