package replica

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/session"
	"github.com/silo-dev/silo/snapshot"
)

// Plan is what a backup takes: the catalogue records of its projects,
// each project's versions and, in a backup of everything, the templates.
type Plan struct {
	Records   []*catalog.Record
	Versions  map[string][]catalog.Version // by project id, newest first
	Templates []catalog.Template           // the caller's to fill
}

// Choose plans a backup of the projects refs name (ids or names; none:
// every project, of any status) from the catalogue in db.
func Choose(db *index.DB, refs []string) (*Plan, error) {
	p := &Plan{Versions: map[string][]catalog.Version{}}
	err := db.View(func(tx *index.Tx) error {
		if len(refs) == 0 {
			if err := tx.Projects(func(id string, data []byte) error {
				r, err := catalog.DecodeRecord(data)
				if err != nil {
					return err
				}
				p.Records = append(p.Records, r)
				return nil
			}); err != nil {
				return err
			}
		}
		for _, ref := range refs {
			r, err := catalog.FindRecord(tx, ref)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(p.Records, func(x *catalog.Record) bool { return x.ID == r.ID }) {
				p.Records = append(p.Records, r)
			}
		}
		for _, r := range p.Records {
			p.Versions[r.ID] = catalog.Versions(tx, r.ID)
		}
		return nil
	})
	return p, err
}

// Roots returns the versions the plan copies (snaps: the projects'
// versions and the templates' snapshots) and the catalogue blobs that go
// with them (extra): each project's origin record or, without one, its
// newest meta blob, and each template's newest meta blob (metas, as
// NewestMeta returns them).
func (p *Plan) Roots(metas map[string]object.ID) (snaps, extra []object.ID) {
	for _, r := range p.Records {
		for _, v := range p.Versions[r.ID] {
			id, _ := object.ParseID(v.ID)
			snaps = append(snaps, id)
		}
		if !r.Origin.IsZero() {
			extra = append(extra, r.Origin)
		} else if m, ok := metas["p/"+r.ID]; ok {
			extra = append(extra, m)
		}
	}
	for _, t := range p.Templates {
		id, _ := object.ParseID(t.Snapshot)
		snaps = append(snaps, id)
		if m, ok := metas["t/"+t.Name]; ok {
			extra = append(extra, m)
		}
	}
	return snaps, extra
}

// Projects returns the plan's projects as its backup record holds them:
// their metadata and versions, and the full catalogue record.
func (p *Plan) Projects() []Project {
	out := []Project{}
	for _, r := range p.Records {
		pr := r.Project()
		pr.Versions = p.Versions[r.ID]
		out = append(out, Project{Project: pr, Record: r.Encode()})
	}
	return out
}

// NewID returns the id of a backup made at now: the time (UTC, to the
// second), then 8 random hex digits.
func NewID(now time.Time) string {
	return now.UTC().Format("20060102T150405Z") + "-" + uuid.NewString()[:8]
}

// Reachable returns every blob in src that the versions snaps refer to
// (the snapshots, their trees and data blobs), plus the extra blobs: what
// a copy of those versions needs (see Needed).
func Reachable(ctx context.Context, src *Source, snaps, extra []object.ID) (map[object.ID]struct{}, error) {
	roots := make([]snapshot.ReachRoot, 0, len(snaps))
	for _, id := range snaps {
		sn, _, err := src.Version(ctx, id)
		if err != nil {
			return nil, err
		}
		roots = append(roots, snapshot.ReachRoot{Tree: sn.Tree, Label: id.Short()})
	}
	all := append(slices.Clip(extra), snaps...)
	needed, err := Needed(ctx, src.Repo, roots, all)
	if errors.Is(err, object.ErrBlobNotFound) && src.Refresh != nil {
		// a listing that pages through the packs (S3) may have missed a
		// pack written while it ran, and found a later one that refers to
		// its blobs: list again before a blob counts as missing
		if rerr := src.Refresh(ctx); rerr != nil {
			return nil, err
		}
		needed, err = Needed(ctx, src.Repo, roots, all)
	}
	if errors.Is(err, object.ErrBlobNotFound) {
		// a version removed on purpose (forget, purge) while the walk
		// ran is no damage: say so, and that a new run takes the rest
		if gone := removedVersions(src.Index, snaps); len(gone) > 0 {
			// the blob's error only as text: it would classify as damage
			return nil, fmt.Errorf("%w: version %s was removed while this backup read it (%d in all); no record was written, run it again (%v)",
				session.ErrConflict, gone[0].Short(), len(gone), err)
		}
	}
	return needed, err
}

// removedVersions are the versions of snaps the catalogue of db no
// longer lists, or lists as forgotten.
func removedVersions(db *index.DB, snaps []object.ID) []object.ID {
	var gone []object.ID
	db.View(func(tx *index.Tx) error {
		for _, id := range snaps {
			if _, _, ok, err := tx.Snapshot(id); err == nil && (!ok || tx.Get(index.Forgotten, id.String()) != nil) {
				gone = append(gone, id)
			}
		}
		return nil
	})
	return gone
}

// RestorePlan is what a restore of a backup into a primary repository
// copies and records.
type RestorePlan struct {
	// Record is the backup as far as the restore takes it: the chosen
	// projects and, when it takes them all, the templates.
	Record Record
	// Versions are the projects' versions, Templates the templates'
	// snapshots.
	Versions, Templates []object.ID
}

// PlanRestore plans the restore of the projects of br that refs name (ids
// or names; none: every project, and the templates).
func PlanRestore(br *Record, refs []string) (*RestorePlan, error) {
	projects, err := br.Pick(refs)
	if err != nil {
		return nil, err
	}
	p := &RestorePlan{Record: *br}
	p.Record.Projects, p.Record.Templates = projects, nil
	for _, pr := range projects {
		for _, v := range pr.Versions {
			id, _ := object.ParseID(v.ID)
			p.Versions = append(p.Versions, id)
		}
	}
	if len(refs) == 0 {
		p.Record.Templates = br.Templates
		for _, t := range br.Templates {
			id, _ := object.ParseID(t.Snapshot)
			p.Templates = append(p.Templates, id)
		}
	}
	return p, nil
}

// Target is a project a restore into a directory writes: its newest
// backed-up version, into Path.
type Target struct {
	Name, ProjectID, Version, Path string
}

// DirTargets plans the restore of projects of br into dir: each project's
// newest version into dir/<name> (see Record.Dirs for two projects of one
// name), a directory this platform can hold and one of its own (names that
// differ only in case are refused where the platform folds case). A
// project without versions is left out.
func DirTargets(br *Record, projects []Project, dir string) ([]Target, error) {
	dirs := br.Dirs()
	names := make([]string, 0, len(projects))
	for _, p := range projects {
		d, ok := dirs[p.ID]
		if !ok {
			d = p.Name
		}
		if err := snapshot.CheckLocalName(d); err != nil {
			return nil, fmt.Errorf("restore project %s from backup %s into %s: %w", p.Name, br.ID, dir, err)
		}
		names = append(names, d)
	}
	if x, y, ok := snapshot.CaseCollision(names); ok && snapshot.PlatformRefusesCaseCollisions {
		return nil, fmt.Errorf("%w: projects %s and %s of backup %s differ only in case: restored into %s they would share one directory here (restore them one at a time with --project, into different destinations)",
			catalog.ErrInvalid, x, y, br.ID, dir)
	}
	var out []Target
	for i, p := range projects {
		if len(p.Versions) > 0 {
			out = append(out, Target{Name: p.Name, ProjectID: p.ID, Version: p.Versions[0].ID, Path: filepath.Join(dir, names[i])})
		}
	}
	return out, nil
}
