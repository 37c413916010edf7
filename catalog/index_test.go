package catalog

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/object/repotest"
	"github.com/silo-dev/silo/snapshot"
)

// openDB is an index.db in a temporary directory (checked at the end).
func openDB(t *testing.T) *index.DB { return repotest.New(t).DB }

// snapshotOf makes a snapshot of project with the given tree and size
// and returns its ref and encoding.
func snapshotOf(project string, tree byte, size int64, at time.Time) (index.SnapshotRef, []byte) {
	sn := &snapshot.Snapshot{Time: at, Tree: object.ID{tree}, ProjectID: project, ProjectName: project, Files: 1, Size: size}
	data := sn.Encode()
	return index.SnapshotRef{ID: object.Hash(data), ProjectID: project, Time: at}, data
}

// A template replaced through ApplyTemplate gives up its snapshot (no gc root any
// more); FindTemplate and Templates skip a removed one, which
// LookupTemplate still returns; TemplateSnapshot reads the snapshot.
func TestTemplatesInIndex(t *testing.T) {
	db := openDB(t)
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	ref1, data1 := snapshotOf(TemplateProjectID("web"), 1, 10, at)
	ref2, data2 := snapshotOf(TemplateProjectID("web"), 2, 20, at.Add(time.Hour))
	t1 := &TemplateRecord{Name: "web", Category: "frontend", Snapshot: ref1.ID.String(), CreatedAt: at}
	t2 := &TemplateRecord{Name: "web", Category: "frontend", Snapshot: ref2.ID.String(), CreatedAt: at.Add(time.Hour)}
	snap := func(ref index.SnapshotRef, data []byte) map[object.ID]SnapshotBlob {
		sn, err := snapshot.DecodeSnapshot(data)
		if err != nil {
			t.Fatal(err)
		}
		return map[object.ID]SnapshotBlob{ref.ID: {Snap: sn, Data: data}}
	}
	t1.Stamp(at)
	t2.Rev, t2.ChangedAt = t1.Rev, t1.ChangedAt
	t2.Stamp(at.Add(time.Hour))
	err := db.Update(func(tx *index.Tx) error {
		if err := ApplyTemplate(tx, t1, snap(ref1, data1)); err != nil {
			return err
		}
		return ApplyTemplate(tx, t2, snap(ref2, data2))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *index.Tx) error {
		if _, err := LoadSnapshot(tx, ref1.ID); !errors.Is(err, ErrSnapshotNotFound) {
			t.Errorf("the replaced template's snapshot: %v, want it gone", err)
		}
		got, err := FindTemplate(tx, "web")
		if err != nil || got.Snapshot != ref2.ID.String() {
			t.Fatalf("FindTemplate: %+v, %v", got, err)
		}
		sn, err := TemplateSnapshot(tx, got)
		if err != nil || sn.Tree != (object.ID{2}) || sn.Size != 20 {
			t.Fatalf("TemplateSnapshot: %+v, %v", sn, err)
		}
		list, err := Templates(tx)
		if err != nil || len(list) != 1 || list[0].Size != 20 || list[0].Files != 1 {
			t.Fatalf("Templates: %+v, %v", list, err)
		}
		if _, err := FindTemplate(tx, "none"); !errors.Is(err, ErrProjectNotFound) {
			t.Errorf("FindTemplate of no template: %v", err)
		}
		return nil
	})
	removed := *t2
	removed.Removed = true
	if err := db.Update(func(tx *index.Tx) error { return tx.Put(index.Templates, "web", removed.Encode()) }); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *index.Tx) error {
		if _, err := FindTemplate(tx, "web"); !errors.Is(err, ErrProjectNotFound) {
			t.Errorf("FindTemplate of a removed template: %v", err)
		}
		if l := LookupTemplate(tx, "web"); l == nil || !l.Removed {
			t.Errorf("LookupTemplate of a removed template: %+v", l)
		}
		if list, err := Templates(tx); err != nil || len(list) != 0 {
			t.Errorf("Templates lists a removed template: %+v, %v", list, err)
		}
		return nil
	})
}

// RecordNow finds a project as it is now: its own record, a project of its
// name another process created (whose newest version becomes the parent),
// or a purge; PutVersion refuses a name another project holds.
func TestRecordNowAndPutVersion(t *testing.T) {
	db := openDB(t)
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	other := &Record{ID: "p-other", Name: "app", Rev: 1}
	ref, data := snapshotOf("p-other", 3, 30, at)
	if err := db.Update(func(tx *index.Tx) error { return PutVersion(tx, other, ref, data) }); err != nil {
		t.Fatal(err)
	}
	mine := &Record{ID: "p-mine", Name: "app"} // new: Rev 0
	db.View(func(tx *index.Tx) error {
		now, err := RecordNow(tx, mine)
		if err != nil || now.Record == nil || now.Record.ID != "p-other" || now.Parent != ref.ID || now.Purged {
			t.Fatalf("a new project whose name was taken: %+v, %v", now, err)
		}
		// an existing project (Rev > 0) no longer listed, whose name another
		// project holds now: not that project, no parent
		now, err = RecordNow(tx, &Record{ID: "p-gone", Name: "app", Rev: 2})
		if err != nil || now.Record != nil || !now.Parent.IsZero() || now.Purged {
			t.Fatalf("an existing project no longer listed: %+v, %v", now, err)
		}
		return nil
	})
	ref2, data2 := snapshotOf("p-mine", 4, 40, at)
	err := db.Update(func(tx *index.Tx) error { return PutVersion(tx, mine, ref2, data2) })
	if !errors.Is(err, ErrExists) {
		t.Fatalf("a version under a name another project holds: %v", err)
	}
	db.View(func(tx *index.Tx) error {
		var ids []object.ID
		tx.Versions("p-mine", func(id object.ID, _ time.Time) bool { ids = append(ids, id); return true })
		if len(ids) != 0 || tx.ProjectIDByName("app") != "p-other" {
			t.Errorf("the refused version left versions %v, name held by %q", ids, tx.ProjectIDByName("app"))
		}
		return nil
	})
	if err := db.Update(func(tx *index.Tx) error { return Purge(tx, other, "app") }); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *index.Tx) error {
		if now, err := RecordNow(tx, other); err != nil || !now.Purged || now.Record != nil {
			t.Errorf("a purged project: %+v, %v", now, err)
		}
		return nil
	})
}

// ForVersion finds a project by name or id with its newest version, says
// nothing of a project not there yet, and refuses a deleted one; NewRecord
// checks the name and type of a new one.
func TestForVersionAndNewRecord(t *testing.T) {
	db := openDB(t)
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	rec := &Record{ID: "p1", Name: "app", Status: StatusActive, Rev: 1}
	old, oldData := snapshotOf("p1", 1, 10, at)
	newer, newerData := snapshotOf("p1", 2, 20, at.Add(time.Hour))
	err := db.Update(func(tx *index.Tx) error {
		if err := PutVersion(tx, rec, old, oldData); err != nil {
			return err
		}
		return PutVersion(tx, rec, newer, newerData)
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *index.Tx) error {
		for _, ref := range []string{"app", "p1"} {
			r, id, sn, err := ForVersion(tx, ref)
			if err != nil || r == nil || r.ID != "p1" || id != newer.ID || sn == nil || sn.Tree != (object.ID{2}) {
				t.Errorf("ForVersion(%q) = %v, %s, %v, %v", ref, r, id.Short(), sn, err)
			}
		}
		if r, id, sn, err := ForVersion(tx, "new-app"); r != nil || !id.IsZero() || sn != nil || err != nil {
			t.Errorf("a project not there yet: %v %v %v %v", r, id, sn, err)
		}
		return nil
	})
	rec.Status = StatusDeleted
	if err := db.Update(func(tx *index.Tx) error { return tx.PutProject(rec.ID, rec.EncodeIndex()) }); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *index.Tx) error {
		if _, _, _, err := ForVersion(tx, "p1"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "undelete") {
			t.Errorf("a deleted project: %v", err)
		}
		return nil
	})
	r, err := NewRecord("web", "", at)
	if err != nil || r.Type != TypeGeneration || r.Status != StatusActive || r.ID == "" || !r.CreatedAt.Equal(at) {
		t.Fatalf("NewRecord: %+v, %v", r, err)
	}
	if _, err := NewRecord("bad/name", "", at); !errors.Is(err, ErrInvalid) {
		t.Errorf("a bad name: %v", err)
	}
	if _, err := NewRecord("web", "library", at); !errors.Is(err, ErrInvalid) {
		t.Errorf("a bad type: %v", err)
	}
}

// VersionsOf lists a project's versions newest first, with their own tags
// when asked.
func TestVersionsOf(t *testing.T) {
	db := openDB(t)
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	rec := &Record{ID: "p1", Name: "app", Status: StatusActive, Rev: 1}
	var ids []object.ID
	for i, tags := range [][]string{{"v1"}, nil, {"rc", "v2"}} {
		sn := &snapshot.Snapshot{Time: at.Add(time.Duration(i) * time.Hour), Tree: object.ID{byte(i + 1)}, ProjectID: "p1", VersionTags: tags}
		data := sn.Encode()
		ref := index.SnapshotRef{ID: object.Hash(data), ProjectID: "p1", Time: sn.Time}
		ids = append(ids, ref.ID)
		if err := db.Update(func(tx *index.Tx) error { return PutVersion(tx, rec, ref, data) }); err != nil {
			t.Fatal(err)
		}
	}
	db.View(func(tx *index.Tx) error {
		plain, err := VersionsOf(tx, "p1", false)
		if err != nil || len(plain) != 3 || plain[0].ID != ids[2].String() || plain[2].ID != ids[0].String() || plain[0].Tags != nil {
			t.Fatalf("without tags: %+v, %v", plain, err)
		}
		tagged, err := VersionsOf(tx, "p1", true)
		if err != nil || !slices.Equal(tagged[0].Tags, []string{"rc", "v2"}) || len(tagged[1].Tags) != 0 || !slices.Equal(tagged[2].Tags, []string{"v1"}) ||
			!tagged[2].Time.Equal(at) {
			t.Fatalf("with tags: %+v, %v", tagged, err)
		}
		return nil
	})
}

// Two machines that create a project of one name at once: whichever
// record arrives first, the name ends with the older project (then the
// smaller id) on every machine, and HoldsNameOver says the same; a
// deleted project holds it over nobody.
func TestTwoProjectsOfOneName(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	old := &Record{ID: "p-b", Name: "app", Rev: 1, CreatedAt: at, ChangedAt: at, ChangeID: "1"}
	young := &Record{ID: "p-a", Name: "app", Rev: 1, CreatedAt: at.Add(time.Second), ChangedAt: at.Add(time.Second), ChangeID: "2"}
	tie := &Record{ID: "p-0", Name: "app", Rev: 1, CreatedAt: at.Add(time.Second), ChangedAt: at, ChangeID: "3"}
	for _, order := range [][]*Record{{old, young}, {young, old}, {young, tie}, {tie, young}} {
		db := openDB(t)
		for _, r := range order {
			r := *r
			if err := db.Update(func(tx *index.Tx) error { return ApplyRecord(tx, &r) }); err != nil {
				t.Fatal(err)
			}
		}
		want := order[0]
		if order[1].Project().HoldsNameOver(want.Project()) {
			want = order[1]
		}
		db.View(func(tx *index.Tx) error {
			if got := tx.ProjectIDByName("app"); got != want.ID {
				t.Errorf("%s then %s: the name is held by %q, want %s", order[0].ID, order[1].ID, got, want.ID)
			}
			return nil
		})
	}
	if !old.Project().HoldsNameOver(young.Project()) || young.Project().HoldsNameOver(old.Project()) ||
		!tie.Project().HoldsNameOver(young.Project()) {
		t.Error("HoldsNameOver: the older project, then the smaller id, holds the name")
	}
	gone := *old
	gone.Status = StatusDeleted
	if gone.Project().HoldsNameOver(young.Project()) || !young.Project().HoldsNameOver(gone.Project()) {
		t.Error("HoldsNameOver: a deleted project holds the name over one that is not")
	}

	// the holder deleted (or renamed) on one machine: in whatever order the
	// records arrive, the name goes to the other project of that name, as
	// on the machine that made the change
	gone.Rev, gone.ChangedAt, gone.ChangeID = 2, at.Add(time.Minute), "4"
	renamed := *old
	renamed.Name, renamed.Rev, renamed.ChangedAt, renamed.ChangeID = "app-old", 2, at.Add(time.Minute), "5"
	for _, change := range []*Record{&gone, &renamed} {
		for _, order := range [][]*Record{{old, young, change}, {old, change, young}, {change, young}, {young, old, change}} {
			db := openDB(t)
			for _, r := range order {
				r := *r
				if err := db.Update(func(tx *index.Tx) error { return ApplyRecord(tx, &r) }); err != nil {
					t.Fatal(err)
				}
			}
			db.View(func(tx *index.Tx) error {
				if got := tx.ProjectIDByName("app"); got != young.ID {
					t.Errorf("%s, %s: the name is held by %q, want %s", change.Status, change.Name, got, young.ID)
				}
				return nil
			})
		}
		// the machine that made the change (Put)
		db := openDB(t)
		for _, r := range []*Record{old, young} {
			r := *r
			if err := db.Update(func(tx *index.Tx) error { return ApplyRecord(tx, &r) }); err != nil {
				t.Fatal(err)
			}
		}
		c := *change
		if err := db.Update(func(tx *index.Tx) error { return Put(tx, &c, old.Name, StatusActive) }); err != nil {
			t.Fatal(err)
		}
		db.View(func(tx *index.Tx) error {
			if got := tx.ProjectIDByName("app"); got != young.ID {
				t.Errorf("Put of %s, %s: the name is held by %q, want %s", change.Status, change.Name, got, young.ID)
			}
			return nil
		})
	}
}
