package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// RebuildStats reports an index rebuild.
type RebuildStats struct {
	Packs     int           `json:"packs"`
	Blobs     int           `json:"blobs"`
	Snapshots int           `json:"snapshots"`
	Projects  int           `json:"projects"`
	Templates int           `json:"templates"`
	BadPacks  []string      `json:"bad_packs,omitempty"`
	Duration  time.Duration `json:"duration_ns"`
}

// metaRecord is a catalogue change written as a meta blob (outside a
// snapshot), so index rebuild sees the newest state of every project.
type metaRecord struct {
	Kind     string          `json:"kind"` // "project" or "template"
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

// RebuildIndex recreates index.db's blob index from the pack tables, then the
// snapshot list and the catalogue from snapshot and meta blobs.
func (s *Store) RebuildIndex(ctx context.Context, prog snapshot.Progress) (*RebuildStats, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	st := &RebuildStats{}
	err := s.rebuildIndex(ctx, st)
	return st, err
}

func parsePackName(name string) (object.ID, bool) {
	base := name[strings.LastIndex(name, "/")+1:]
	id, err := object.ParseID(base)
	if err != nil || object.PackName(id) != name {
		return id, false
	}
	return id, true
}

func (s *Store) rebuildIndex(ctx context.Context, st *RebuildStats) error {
	if st == nil {
		st = &RebuildStats{}
	}
	start := time.Now()
	var packs []object.ID
	err := s.be.List(ctx, "packs/", func(fi object.FileInfo) error {
		if id, ok := parsePackName(fi.Name); ok {
			packs = append(packs, id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list packs in %s: %w", s.be.Location(), err)
	}
	if err := s.db.Update(func(tx *index.Tx) error { return tx.ClearBlobs() }); err != nil {
		return err
	}
	results := make(chan object.NewPack, 16)
	var badMu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	ids := make(chan object.ID)
	g.Go(func() error {
		defer close(ids)
		for _, id := range packs {
			select {
			case ids <- id:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	var workers sync.WaitGroup
	for range 8 {
		workers.Add(1)
		g.Go(func() error {
			defer workers.Done()
			for id := range ids {
				np, err := s.repo.ReadPack(gctx, id)
				if err != nil {
					s.log.Warn("pack unreadable during index rebuild", "pack", id.String(), "err", err)
					badMu.Lock()
					st.BadPacks = append(st.BadPacks, fmt.Sprintf("%s: %v", id, err))
					badMu.Unlock()
					continue
				}
				select {
				case results <- np:
				case <-gctx.Done():
					return gctx.Err()
				}
			}
			return nil
		})
	}
	go func() { workers.Wait(); close(results) }()
	g.Go(func() error {
		batch := make([]object.NewPack, 0, 64)
		write := func() error {
			err := s.db.Update(func(tx *index.Tx) error { return tx.AddPacks(batch) })
			batch = batch[:0]
			return err
		}
		for r := range results {
			st.Packs++
			st.Blobs += len(r.Blobs)
			batch = append(batch, r)
			if len(batch) == cap(batch) {
				if err := write(); err != nil {
					return err
				}
			}
		}
		return write()
	})
	if err := g.Wait(); err != nil {
		return err
	}
	if err := s.rebuildCatalogue(ctx, st); err != nil {
		return err
	}
	st.Duration = time.Since(start)
	s.log.Info("index rebuilt", "packs", st.Packs, "blobs", st.Blobs, "snapshots", st.Snapshots, "projects", st.Projects)
	return nil
}

// refreshIndex compares the pack listing with the index's pack table and,
// when they differ (another client wrote to a shared bucket), indexes the new
// packs, drops vanished ones and rebuilds the catalogue. It reads only the
// tables of new packs.
func (s *Store) refreshIndex(ctx context.Context) error {
	listed := map[object.ID]bool{}
	err := s.be.List(ctx, "packs/", func(fi object.FileInfo) error {
		if id, ok := parsePackName(fi.Name); ok {
			listed[id] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	known := map[object.ID]bool{}
	if err := s.db.View(func(tx *index.Tx) error {
		return tx.Packs(func(p object.PackInfo) error { known[p.ID] = true; return nil })
	}); err != nil {
		return err
	}
	var added, gone []object.ID
	for id := range listed {
		if !known[id] {
			added = append(added, id)
		}
	}
	for id := range known {
		if !listed[id] {
			gone = append(gone, id)
		}
	}
	if len(added) == 0 && len(gone) == 0 {
		return nil
	}
	s.log.Info("index cache is stale; refreshing", "new_packs", len(added), "vanished_packs", len(gone))
	var tables []object.NewPack
	for _, id := range added {
		np, err := s.repo.ReadPack(ctx, id)
		if err != nil {
			s.log.Warn("pack unreadable during index refresh", "pack", id.String(), "err", err)
			continue
		}
		tables = append(tables, np)
	}
	err = s.db.Update(func(tx *index.Tx) error {
		for _, id := range gone {
			var blobs []object.Blob
			if err := tx.Blobs(func(l object.Location) error {
				if l.Pack == id {
					blobs = append(blobs, l.Blob)
				}
				return nil
			}); err != nil {
				return err
			}
			if err := tx.RemovePack(id, blobs); err != nil {
				return err
			}
		}
		return tx.AddPacks(tables)
	})
	if err != nil {
		return err
	}
	return s.rebuildCatalogue(ctx, &RebuildStats{})
}

// rebuildCatalogue reads every snapshot and meta blob: a project's newest
// record (highest rev) wins; a purged project drops with its snapshots.
func (s *Store) rebuildCatalogue(ctx context.Context, st *RebuildStats) error {
	var snaps, metas []object.ID
	err := s.db.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
			switch l.Type {
			case object.SnapshotBlob:
				snaps = append(snaps, l.ID)
			case object.MetaBlob:
				metas = append(metas, l.ID)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	type snapRec struct {
		id   object.ID
		sn   *snapshot.Snapshot
		data []byte
	}
	newest := map[string]*record{}
	consider := func(r *record) {
		if cur, ok := newest[r.ID]; !ok || r.Rev > cur.Rev || (r.Rev == cur.Rev && r.UpdatedAt.After(cur.UpdatedAt)) {
			newest[r.ID] = r
		}
	}
	templates := map[string]*templateRecord{}
	forgotten := map[object.ID]bool{}
	var all []snapRec
	for _, id := range snaps {
		data, err := s.repo.LoadBlob(ctx, id, nil)
		if err != nil {
			s.log.Warn("snapshot blob unreadable", "blob", id.String(), "err", err)
			continue
		}
		sn, err := snapshot.DecodeSnapshot(data)
		if err != nil {
			s.log.Warn("snapshot blob undecodable", "blob", id.String(), "err", err)
			continue
		}
		all = append(all, snapRec{id, sn, data})
		if len(sn.Project) > 0 {
			if r, err := decodeRecord(sn.Project); err == nil {
				consider(r)
			}
		}
	}
	for _, id := range metas {
		data, err := s.repo.LoadBlob(ctx, id, nil)
		if err != nil {
			s.log.Warn("meta blob unreadable", "blob", id.String(), "err", err)
			continue
		}
		var m metaRecord
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		switch {
		case m.Kind == "project" && m.Project != nil && m.Project.ID != "":
			consider(m.Project)
		case m.Kind == "template" && m.Template != nil && m.Template.Name != "":
			if cur, ok := templates[m.Template.Name]; !ok || m.Template.Rev > cur.Rev {
				templates[m.Template.Name] = m.Template
			}
		case m.Kind == "forget" && m.Forget != nil:
			for _, sid := range m.Forget.Snapshots {
				if id, err := object.ParseID(sid); err == nil {
					forgotten[id] = true
				}
			}
		}
	}
	return s.db.Update(func(tx *index.Tx) error {
		if err := tx.ClearCatalogue(); err != nil {
			return err
		}
		st.Snapshots, st.Projects, st.Templates = 0, 0, 0
		for _, sr := range all {
			r, ok := newest[sr.sn.ProjectID]
			if ok && r.Status == statusPurged || forgotten[sr.id] {
				continue
			}
			// a template's versions: only the one its record names (a
			// replaced template's old snapshot waits in the packs for gc)
			if name, isTpl := strings.CutPrefix(sr.sn.ProjectID, templateProjectID("")); isTpl {
				if t, ok := templates[name]; !ok || t.Removed || t.Snapshot != sr.id.String() {
					continue
				}
			}
			if err := tx.PutSnapshot(index.SnapshotRef{ID: sr.id, ProjectID: sr.sn.ProjectID, Time: sr.sn.Time}, sr.data); err != nil {
				return err
			}
			st.Snapshots++
		}
		for _, r := range newest {
			if r.Status == statusPurged {
				continue
			}
			if err := tx.PutProject(r.ID, r.encodeIndex()); err != nil {
				return err
			}
			st.Projects++
			if r.Status == StatusDeleted {
				continue
			}
			if other := tx.ProjectIDByName(r.Name); other != "" {
				if o, err := decodeRecord(tx.Project(other)); err == nil && o.UpdatedAt.After(r.UpdatedAt) {
					continue
				}
			}
			if err := tx.SetName(r.Name, r.ID); err != nil {
				return err
			}
		}
		for name, t := range templates {
			if t.Removed {
				continue
			}
			if err := tx.Put(index.Templates, name, t.encode()); err != nil {
				return err
			}
			st.Templates++
		}
		return nil
	})
}
