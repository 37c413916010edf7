package replica

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/object/repotest"
	"github.com/silo-dev/silo/snapshot"
)

// repo is a local repository in a temporary directory.
type repo struct {
	be   *object.Local
	db   *index.DB
	repo *object.Repository
}

func newRepo(t *testing.T) *repo {
	r := repotest.New(t)
	return &repo{be: r.BE, db: r.DB, repo: r.Repo}
}

// save stores a blob of type typ and flushes it into a pack.
func (r *repo) save(t *testing.T, typ object.BlobType, data []byte) object.ID {
	t.Helper()
	ctx := context.Background()
	id := object.Hash(data)
	if _, err := r.repo.SaveBlob(ctx, typ, id, data); err != nil {
		t.Fatal(err)
	}
	if err := r.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return id
}

// version stores a snapshot blob of project at time at.
func (r *repo) version(t *testing.T, project string, at time.Time) (object.ID, *snapshot.Snapshot) {
	t.Helper()
	sn := &snapshot.Snapshot{Time: at, Tree: object.Hash([]byte("tree of " + project)), ProjectID: project, ProjectName: project}
	return r.save(t, object.SnapshotBlob, sn.Encode()), sn
}

// versionFunc reads versions from r's blobs.
func (r *repo) versionFunc() VersionFunc {
	return func(ctx context.Context, id object.ID) (*snapshot.Snapshot, []byte, error) {
		data, err := r.repo.LoadBlob(ctx, id, nil)
		if err != nil {
			return nil, nil, err
		}
		sn, err := snapshot.DecodeSnapshot(data)
		return sn, data, err
	}
}

func (r *repo) listed(t *testing.T) []object.ID {
	t.Helper()
	var out []object.ID
	err := r.db.View(func(tx *index.Tx) error {
		return tx.Snapshots(func(ref index.SnapshotRef, _ []byte) error { out = append(out, ref.ID); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b object.ID) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func sorted(ids ...object.ID) []object.ID {
	slices.SortFunc(ids, func(a, b object.ID) int { return strings.Compare(a.String(), b.String()) })
	return ids
}

// Mark refuses the source and a repository holding versions of its own,
// marks an empty one, and leaves a marked one (or one with records) be.
func TestMark(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	if err := Mark(ctx, r.be, r.db, "a", "a"); !errors.Is(err, ErrNotADestination) || !strings.Contains(err.Error(), "is the repository being backed up") {
		t.Fatalf("the source itself: %v", err)
	}
	if ok, _ := IsDestination(ctx, r.be); ok {
		t.Fatal("the source was marked")
	}

	r.version(t, "p", time.Unix(1, 0))
	err := Mark(ctx, r.be, r.db, "b", "a")
	if !errors.Is(err, ErrNotADestination) || !strings.Contains(err.Error(), "holds 1 version(s) of its own") {
		t.Fatalf("a repository with a version: %v", err)
	}
	if ok, _ := IsDestination(ctx, r.be); ok {
		t.Fatal("a repository with versions was marked")
	}
	// a record there says it is a destination already
	if err := r.be.Put(ctx, RecordName("x"), strings.NewReader("{}"), 2); err != nil {
		t.Fatal(err)
	}
	if err := Mark(ctx, r.be, r.db, "b", "a"); err != nil {
		t.Fatalf("a repository with a record: %v", err)
	}
	if _, err := r.be.Stat(ctx, DestinationMarker); err != nil {
		t.Fatalf("no marker: %v", err)
	}

	empty := newRepo(t)
	if err := Mark(ctx, empty.be, empty.db, "c", "a"); err != nil {
		t.Fatal(err)
	}
	if err := Mark(ctx, empty.be, empty.db, "c", "a"); err != nil {
		t.Fatalf("marked twice: %v", err)
	}
	if ok, err := IsDestination(ctx, empty.be); err != nil || !ok {
		t.Fatalf("not a destination after Mark: %v %v", ok, err)
	}
}

func putRecord(t *testing.T, be object.Backend, br Record) {
	t.Helper()
	if err := Write(context.Background(), be, nil, &br); err != nil {
		t.Fatal(err)
	}
}

// Remove marks an unmarked destination before its records go, and a record
// already gone is no error.
func TestRemove(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	t0 := time.Unix(1000, 0)
	putRecord(t, r.be, Record{ID: "b1", Time: t0})
	putRecord(t, r.be, Record{ID: "b2", Time: t0.Add(time.Hour)})
	if err := Remove(ctx, r.be, []Record{{ID: "b1"}, {ID: "never"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.be.Stat(ctx, DestinationMarker); err != nil {
		t.Fatalf("no marker: %v", err)
	}
	all, err := List(ctx, r.be, nil)
	if err != nil || len(all) != 1 || all[0].ID != "b2" {
		t.Fatalf("left: %+v %v", all, err)
	}
	if err := Remove(ctx, r.be, all); err != nil {
		t.Fatal(err)
	}
	if ok, err := IsDestination(ctx, r.be); err != nil || !ok {
		t.Fatalf("no longer a destination once its last record went: %v %v", ok, err)
	}
}

// PlanDelete matches ids and unique prefixes as Find does, refuses
// "latest", an ambiguous prefix and an unknown id, and keeps the rest in
// order.
func TestPlanDelete(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	t0 := time.Unix(1000, 0)
	for i, id := range []string{"20240101T000000Z-aaaa", "20240102T000000Z-bbbb", "20240102T000000Z-bccc"} {
		putRecord(t, r.be, Record{ID: id, Time: t0.Add(time.Duration(i) * time.Hour)})
	}
	gone, keep, err := PlanDelete(ctx, r.be, nil, []string{"20240101", "20240102T000000Z-bc"})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(rs []Record) (out []string) {
		for _, br := range rs {
			out = append(out, br.ID)
		}
		return out
	}
	if got := ids(gone); !slices.Equal(got, []string{"20240101T000000Z-aaaa", "20240102T000000Z-bccc"}) {
		t.Fatalf("gone %v", got)
	}
	if got := ids(keep); !slices.Equal(got, []string{"20240102T000000Z-bbbb"}) {
		t.Fatalf("keep %v", got)
	}
	for _, c := range []struct {
		ids  []string
		want error
		text string
	}{
		{nil, catalog.ErrInvalid, "name the backups to delete"},
		{[]string{"20240101", "latest"}, catalog.ErrInvalid, `"latest" names no single backup`},
		{[]string{"20240102"}, catalog.ErrAmbiguous, "matches 2 backups"},
		{[]string{"2025"}, ErrNotFound, `"2025" in ` + r.be.Location()},
	} {
		if _, _, err := PlanDelete(ctx, r.be, nil, c.ids); !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%q: %v, want %v (%s)", c.ids, err, c.want, c.text)
		}
	}
}

// SyncCatalogue lists exactly the held versions: it adds those the
// catalogue lacks, drops those no record holds, and passes over one it
// cannot read.
func TestSyncCatalogue(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	v1, s1 := r.version(t, "p", time.Unix(1, 0))
	v2, _ := r.version(t, "p", time.Unix(2, 0))
	v3, _ := r.version(t, "q", time.Unix(3, 0))
	missing := object.Hash([]byte("no such version"))
	if err := r.db.Update(func(tx *index.Tx) error {
		return tx.PutSnapshot(index.SnapshotRef{ID: v1, ProjectID: "p", Time: s1.Time}, s1.Encode())
	}); err != nil {
		t.Fatal(err)
	}
	var unreadable []object.ID
	held := map[object.ID]bool{v2: true, v3: true, missing: true}
	if err := SyncCatalogue(ctx, r.db, held, r.versionFunc(), func(id object.ID, err error) { unreadable = append(unreadable, id) }); err != nil {
		t.Fatal(err)
	}
	if got, want := r.listed(t), sorted(v2, v3); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if !slices.Equal(unreadable, []object.ID{missing}) {
		t.Fatalf("unreadable %v", unreadable)
	}
	var versions []catalog.Version
	r.db.View(func(tx *index.Tx) error { versions = catalog.Versions(tx, "p"); return nil })
	if len(versions) != 1 || versions[0].ID != v2.String() {
		t.Fatalf("versions of p: %+v", versions)
	}
}

// CopyCatalogue lists a record's versions, projects (a deleted one
// without its name) and templates in the destination's catalogue.
func TestCopyCatalogue(t *testing.T) {
	ctx := context.Background()
	src, dst := newRepo(t), newRepo(t)
	v1, _ := src.version(t, "p1", time.Unix(1, 0))
	v2, _ := src.version(t, "p2", time.Unix(2, 0))
	tv, _ := src.version(t, "template", time.Unix(3, 0))
	live := &catalog.Record{ID: "p1", Name: "one", Status: catalog.StatusActive}
	gone := &catalog.Record{ID: "p2", Name: "two", Status: catalog.StatusDeleted}
	project := func(r *catalog.Record, v object.ID) Project {
		p := r.Project()
		p.Versions = []catalog.Version{{ID: v.String()}}
		return Project{Project: p, Record: r.Encode()}
	}
	br := &Record{ID: "b", Projects: []Project{project(live, v1), project(gone, v2)},
		Templates: []catalog.Template{{Name: "tpl", Category: "backend", Snapshot: tv.String()}}}
	if err := CopyCatalogue(ctx, &Source{Version: src.versionFunc()}, &Destination{Index: dst.db}, br); err != nil {
		t.Fatal(err)
	}
	if got, want := dst.listed(t), sorted(v1, v2, tv); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	dst.db.View(func(tx *index.Tx) error {
		if tx.ProjectIDByName("one") != "p1" || tx.ProjectIDByName("two") != "" {
			t.Errorf("names: one=%q two=%q", tx.ProjectIDByName("one"), tx.ProjectIDByName("two"))
		}
		if tx.Project("p2") == nil {
			t.Error("the deleted project's record is missing")
		}
		if tx.Get(index.Templates, "tpl") == nil {
			t.Error("the template is missing")
		}
		return nil
	})
}

// NewestMeta keeps the highest revision of each project's and template's
// record, and every forget record.
func TestNewestMeta(t *testing.T) {
	ctx := context.Background()
	r := newRepo(t)
	meta := func(m catalog.Meta) object.ID {
		data, err := catalog.EncodeMeta(m)
		if err != nil {
			t.Fatal(err)
		}
		return r.save(t, object.MetaBlob, data)
	}
	meta(catalog.Meta{Kind: "project", Project: &catalog.Record{ID: "p", Rev: 1}})
	p3 := meta(catalog.Meta{Kind: "project", Project: &catalog.Record{ID: "p", Rev: 3}})
	meta(catalog.Meta{Kind: "project", Project: &catalog.Record{ID: "p", Rev: 2}})
	tpl := meta(catalog.Meta{Kind: "template", Template: &catalog.TemplateRecord{Name: "t", Rev: 1}})
	f := meta(catalog.Meta{Kind: "forget", Forget: &catalog.Forget{ProjectID: "p"}})
	r.save(t, object.MetaBlob, []byte("not json"))
	got, err := NewestMeta(ctx, r.db, r.repo)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]object.ID{"p/p": p3, "t/t": tpl, "f/" + f.String(): f}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, id := range want {
		if got[k] != id {
			t.Errorf("%s: %v, want %v", k, got[k], id)
		}
	}
}

// Choose takes every project, or those named (once each), with their
// versions; Roots and Projects follow from the plan.
func TestChooseAndRoots(t *testing.T) {
	r := newRepo(t)
	at := time.Unix(100, 0)
	v1, s1 := r.version(t, "p1", at)
	v2, s2 := r.version(t, "p1", at.Add(time.Hour))
	v3, s3 := r.version(t, "p2", at)
	origin := object.Hash([]byte("origin"))
	recs := []*catalog.Record{
		{ID: "p1", Name: "one", Status: catalog.StatusActive},
		{ID: "p2", Name: "two", Status: catalog.StatusArchived, Origin: origin},
	}
	if err := r.db.Update(func(tx *index.Tx) error {
		for _, rec := range recs {
			if err := tx.PutProject(rec.ID, rec.EncodeIndex()); err != nil {
				return err
			}
			if err := tx.SetName(rec.Name, rec.ID); err != nil {
				return err
			}
		}
		for _, x := range []struct {
			id object.ID
			sn *snapshot.Snapshot
		}{{v1, s1}, {v2, s2}, {v3, s3}} {
			if err := tx.PutSnapshot(index.SnapshotRef{ID: x.id, ProjectID: x.sn.ProjectID, Time: x.sn.Time}, x.sn.Encode()); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	all, err := Choose(r.db, nil)
	if err != nil || len(all.Records) != 2 {
		t.Fatalf("every project: %+v %v", all, err)
	}
	plan, err := Choose(r.db, []string{"one", "p1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Records) != 1 || plan.Records[0].ID != "p1" {
		t.Fatalf("one named twice: %+v", plan.Records)
	}
	if vs := plan.Versions["p1"]; len(vs) != 2 || vs[0].ID != v2.String() || vs[1].ID != v1.String() {
		t.Fatalf("versions, newest first: %+v", vs)
	}
	if _, err := Choose(r.db, []string{"nobody"}); !errors.Is(err, catalog.ErrProjectNotFound) {
		t.Fatalf("an unknown project: %v", err)
	}

	tv := object.Hash([]byte("template version"))
	all.Templates = []catalog.Template{{Name: "tpl", Snapshot: tv.String()}}
	m1, mt := object.Hash([]byte("meta p1")), object.Hash([]byte("meta tpl"))
	snaps, extra := all.Roots(map[string]object.ID{"p/p1": m1, "p/p2": object.Hash([]byte("older")), "t/tpl": mt})
	if got, want := sorted(snaps...), sorted(v1, v2, v3, tv); !slices.Equal(got, want) {
		t.Errorf("snaps %v, want %v", got, want)
	}
	// a project with an origin record takes that, not its newest meta blob
	if got, want := sorted(extra...), sorted(m1, origin, mt); !slices.Equal(got, want) {
		t.Errorf("extra %v, want %v", got, want)
	}
	ps := plan.Projects()
	if len(ps) != 1 || ps[0].ID != "p1" || len(ps[0].Versions) != 2 {
		t.Fatalf("projects %+v", ps)
	}
	if back, err := catalog.DecodeRecord(ps[0].Record); err != nil || back.Name != "one" {
		t.Fatalf("record %+v %v", back, err)
	}
	if ps := (&Plan{}).Projects(); ps == nil {
		t.Error("no projects is an empty list, not null")
	}
}

func TestNewID(t *testing.T) {
	at := time.Date(2026, 11, 29, 21, 16, 39, 500, time.FixedZone("x", 3600))
	id := NewID(at)
	if !strings.HasPrefix(id, "20261129T201639Z-") || len(id) != len("20261129T201639Z-")+8 {
		t.Fatalf("id %q", id)
	}
	if NewID(at) == id {
		t.Fatal("two ids alike")
	}
}

func restoreRecord() *Record {
	v := func(s string) catalog.Version { return catalog.Version{ID: object.Hash([]byte(s)).String()} }
	return &Record{ID: "b",
		Projects: []Project{
			{Project: catalog.Project{ID: "p1", Name: "one", Versions: []catalog.Version{v("1b"), v("1a")}}},
			{Project: catalog.Project{ID: "p2", Name: "two", Versions: []catalog.Version{v("2a")}}},
			{Project: catalog.Project{ID: "p3", Name: "three", Versions: []catalog.Version{}}},
		},
		Templates: []catalog.Template{{Name: "tpl", Snapshot: object.Hash([]byte("t")).String()}}}
}

// PlanRestore takes every project and the templates, or the projects
// named and no templates.
func TestPlanRestore(t *testing.T) {
	br := restoreRecord()
	all, err := PlanRestore(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Record.Projects) != 3 || len(all.Versions) != 3 || len(all.Templates) != 1 || len(all.Record.Templates) != 1 {
		t.Fatalf("all: %+v", all)
	}
	if all.Templates[0] != object.Hash([]byte("t")) {
		t.Fatalf("template snapshot %v", all.Templates[0])
	}
	one, err := PlanRestore(br, []string{"p2"})
	if err != nil {
		t.Fatal(err)
	}
	if len(one.Record.Projects) != 1 || one.Record.Projects[0].Name != "two" || len(one.Versions) != 1 ||
		one.Versions[0] != object.Hash([]byte("2a")) || one.Templates != nil || one.Record.Templates != nil {
		t.Fatalf("one: %+v", one)
	}
	if len(br.Projects) != 3 || len(br.Templates) != 1 {
		t.Fatal("the plan changed the record")
	}
	if _, err := PlanRestore(br, []string{"nobody"}); !errors.Is(err, catalog.ErrProjectNotFound) {
		t.Fatalf("an unknown project: %v", err)
	}
}

// DirTargets puts each project's newest version in a directory of its
// name, leaves out one without versions, and refuses a name that is no
// directory here.
func TestDirTargets(t *testing.T) {
	br := restoreRecord()
	dir := t.TempDir()
	got, err := DirTargets(br, br.Projects, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Target{
		{Name: "one", ProjectID: "p1", Version: object.Hash([]byte("1b")).String(), Path: filepath.Join(dir, "one")},
		{Name: "two", ProjectID: "p2", Version: object.Hash([]byte("2a")).String(), Path: filepath.Join(dir, "two")},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// a second project named "one" (two machines created the name at
	// once), younger: its own directory, whichever of them a restore picks
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i := range br.Projects {
		br.Projects[i].CreatedAt = at
	}
	twin := Project{Project: catalog.Project{ID: "p1-twin-id", Name: "one", CreatedAt: at.Add(time.Second),
		Versions: []catalog.Version{{ID: object.Hash([]byte("1t")).String()}}}}
	br.Projects = append(br.Projects, twin)
	got, err = DirTargets(br, br.Projects, dir)
	if err != nil {
		t.Fatal(err)
	}
	twinTarget := Target{Name: "one", ProjectID: "p1-twin-id", Version: object.Hash([]byte("1t")).String(), Path: filepath.Join(dir, "one~p1-twin-")}
	if !slices.Equal(got, append(want, twinTarget)) {
		t.Fatalf("with a twin: got %+v", got)
	}
	if got, err := DirTargets(br, []Project{twin}, dir); err != nil || !slices.Equal(got, []Target{twinTarget}) {
		t.Fatalf("the twin alone: %+v, %v", got, err)
	}
	twinFirst := &Record{ID: "b", Projects: []Project{twin, br.Projects[0]}}
	if ps, err := twinFirst.Pick([]string{"one"}); err != nil || len(ps) != 1 || ps[0].ID != "p1" {
		t.Fatalf("Pick(one) = %+v, %v; want the name's holder p1", ps, err)
	}
	if ps, err := br.Pick([]string{"p1-twin-id"}); err != nil || len(ps) != 1 || ps[0].ID != "p1-twin-id" {
		t.Fatalf("Pick(p1-twin-id) = %+v, %v", ps, err)
	}
	// two deleted projects of one name: the one updated last, as the
	// catalogue resolves the name
	gone := func(id string, updated time.Time) Project {
		return Project{Project: catalog.Project{ID: id, Name: "old", Status: catalog.StatusDeleted, CreatedAt: at, UpdatedAt: updated}}
	}
	deleted := &Record{ID: "b", Projects: []Project{gone("d-1", at.Add(time.Minute)), gone("d-2", at.Add(time.Hour))}}
	if ps, err := deleted.Pick([]string{"old"}); err != nil || len(ps) != 1 || ps[0].ID != "d-2" {
		t.Fatalf("Pick(old) of two deleted projects = %+v, %v; want the one updated last", ps, err)
	}
	br.Projects = br.Projects[:len(br.Projects)-1]
	bad := []Project{{Project: catalog.Project{Name: ".."}}}
	if _, err := DirTargets(br, bad, dir); err == nil || !strings.Contains(err.Error(), "restore project .. from backup b into "+dir) {
		t.Fatalf(`a project named "..": %v`, err)
	}
	twins := []Project{{Project: catalog.Project{Name: "App"}}, {Project: catalog.Project{Name: "app"}}}
	_, err = DirTargets(br, twins, dir)
	if snapshot.PlatformRefusesCaseCollisions != (err != nil) {
		t.Fatalf("names differing in case (refused here: %v): %v", snapshot.PlatformRefusesCaseCollisions, err)
	}
	if err != nil && !errors.Is(err, catalog.ErrInvalid) {
		t.Fatalf("names differing in case: %v", err)
	}
}

// LabelledVersions labels project versions by name and template snapshots
// as "template NAME", and refuses an id that does not parse.
func TestLabelledVersions(t *testing.T) {
	br := restoreRecord()
	vs, err := br.LabelledVersions()
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, v := range vs {
		labels = append(labels, v.Label)
	}
	if !slices.Equal(labels, []string{"one", "one", "two", "template tpl"}) {
		t.Fatalf("labels %v", labels)
	}
	br.Projects[0].Versions[0].ID = "zz"
	if _, err := br.LabelledVersions(); err == nil {
		t.Fatal("a bad version id passed")
	}
}

func TestAffected(t *testing.T) {
	res := &VerifyResult{}
	if got := res.Affected(); got == nil || len(got) != 0 {
		t.Fatalf("nothing found: %#v", got)
	}
	for _, l := range []string{"web", "api", "web", "template t"} {
		res.Findings = append(res.Findings, Finding{Label: l})
	}
	if got := res.Affected(); !slices.Equal(got, []string{"api", "template t", "web"}) {
		t.Fatalf("affected %v", got)
	}
}

func ExampleRetain() {
	day := 24 * time.Hour
	now := time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC)
	p := func(id string) Project { return Project{Project: catalog.Project{ID: id}} }
	all := []Record{
		{ID: "old-a", Time: now.Add(-60 * day), Projects: []Project{p("a")}},
		{ID: "old-ab", Time: now.Add(-50 * day), Projects: []Project{p("a"), p("b")}},
		{ID: "new-a", Time: now.Add(-1 * day), Projects: []Project{p("a")}},
	}
	keep, expired := Retain(all, now.Add(-30*day))
	for _, br := range keep {
		fmt.Println("keep", br.ID)
	}
	for _, br := range expired {
		fmt.Println("expire", br.ID)
	}
	// Output:
	// keep old-ab
	// keep new-a
	// expire old-a
}
