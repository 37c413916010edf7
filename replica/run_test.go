package replica

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/session"
	"github.com/silo-dev/silo/snapshot"
)

// project stores one version of project "p1" (named "one"), a file of
// data, and lists it in r's catalogue; it returns the version and the
// data blob.
func (r *repo) project(t *testing.T) (object.ID, object.ID) {
	t.Helper()
	data := testutil.RandomBytes(3, 40<<10)
	blob := r.save(t, object.DataBlob, data)
	tree := r.save(t, object.TreeBlob, snapshot.EncodeTree([]snapshot.Node{{Name: "f", Type: snapshot.File, Mode: 0o644,
		Size: uint64(len(data)), Content: []object.ID{blob}}}))
	sn := &snapshot.Snapshot{Time: time.Unix(100, 0).UTC(), Tree: tree, ProjectID: "p1", ProjectName: "one", Files: 1, Size: int64(len(data))}
	v := r.save(t, object.SnapshotBlob, sn.Encode())
	rec := &catalog.Record{ID: "p1", Name: "one", Status: catalog.StatusActive, Rev: 1}
	if err := r.db.Update(func(tx *index.Tx) error {
		return catalog.PutVersion(tx, rec, index.SnapshotRef{ID: v, ProjectID: "p1", Time: sn.Time}, sn.Encode())
	}); err != nil {
		t.Fatal(err)
	}
	return v, blob
}

func (r *repo) source() *Source {
	return &Source{Repo: r.repo, Backend: r.be, Index: r.db, Condemned: func(object.ID) bool { return false },
		Refresh: func(context.Context) error { return nil }, Version: r.versionFunc()}
}

func (r *repo) destination(t *testing.T) *Destination {
	return &Destination{Repo: r.repo, Backend: r.be, Index: r.db, TempDir: t.TempDir(),
		NewWriter: func() *object.Writer { return r.repo.NewWriter(object.WriterOptions{}) },
		Condemned: func(object.ID) bool { return false },
		DropGone:  func(context.Context, []object.ID) error { t.Error("no pack was to go during the copy"); return nil }}
}

// Back copies the plan's version and its blobs into the destination,
// lists it there, and returns the record to write; when the destination's
// lease lapsed and a pack the version needs went meanwhile, it fails with
// session.ErrConflict and returns no record.
func TestBack(t *testing.T) {
	ctx := context.Background()
	src, dst := newRepo(t), newRepo(t)
	v, blob := src.project(t)
	plan, err := Choose(src.db, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	// the record's time is when the copy ended: the clock is read once
	// the data blob is in the destination
	clock := func() time.Time {
		if ok, _ := dst.repo.Has(blob); !ok {
			t.Error("the record's time was taken before the copy")
		}
		return now
	}
	run := Run{Plan: plan, Now: clock, SourceID: "src-id", Renew: func(context.Context) (bool, error) { return false, nil }}
	br, err := Back(ctx, src.source(), dst.destination(t), run)
	if err != nil {
		t.Fatal(err)
	}
	if br.SourceRepository != "src-id" || !br.Time.Equal(now) || br.BlobsCopied < 3 || br.Destination != dst.be.Location() ||
		len(br.Projects) != 1 || br.Projects[0].ID != "p1" || len(br.Projects[0].Versions) != 1 || br.Projects[0].Versions[0].ID != v.String() {
		t.Fatalf("record: %+v", br)
	}
	if got, err := dst.repo.LoadBlob(ctx, blob, nil); err != nil || len(got) != 40<<10 {
		t.Fatalf("the data blob in the destination: %v", err)
	}
	if listed := dst.listed(t); len(listed) != 1 || listed[0] != v {
		t.Fatalf("the destination lists %v, want %s", listed, v.Short())
	}

	// a second backup, paused past its lease, during which the
	// destination's packs went
	dst2 := newRepo(t)
	run.Now = func() time.Time { return now }
	run.BeforeRecord = func() {
		dst2.be.List(ctx, "packs/", func(fi object.FileInfo) error { return dst2.be.Delete(ctx, fi.Name) })
	}
	renewed := 0
	run.Renew = func(context.Context) (bool, error) { renewed++; return true, nil }
	br, err = Back(ctx, src.source(), dst2.destination(t), run)
	if !errors.Is(err, session.ErrConflict) || br != nil || renewed != 1 {
		t.Fatalf("a backup whose packs went while its lease lapsed: %+v, %v (renewed %d)", br, err, renewed)
	}
	if !strings.Contains(err.Error(), "no record was written") {
		t.Errorf("message %q", err)
	}
}

// A tree a version needs that the index lacks is looked for again after
// a refresh before it counts as missing: a listing may have missed the
// pack of a blob a later pack refers to. Missing after the refresh too,
// it is ErrBlobNotFound.
func TestReachableRefreshesBeforeMissing(t *testing.T) {
	ctx := context.Background()
	src := newRepo(t)
	v, blob := src.project(t)
	loc := src.treeOf(t, v)
	var pack object.PackInfo
	var err error
	src.db.View(func(tx *index.Tx) error { pack, _, err = tx.Pack(loc.Pack); return err })
	if err != nil {
		t.Fatal(err)
	}
	for _, found := range []bool{false, true} {
		src.unindex(t, loc)
		s := src.source()
		refreshes := 0
		s.Refresh = func(context.Context) error {
			refreshes++
			if found {
				return src.db.AddPack(pack, []object.Blob{loc.Blob})
			}
			return nil
		}
		needed, err := Reachable(ctx, s, []object.ID{v}, nil)
		if refreshes != 1 {
			t.Fatalf("%d refreshes, want 1", refreshes)
		}
		if found {
			if _, ok := needed[blob]; err != nil || !ok {
				t.Fatalf("with the pack listed again: %v (data blob needed: %v)", err, ok)
			}
		} else if !errors.Is(err, object.ErrBlobNotFound) {
			t.Fatalf("with the pack gone: %v, want ErrBlobNotFound", err)
		}
	}
}

// TestReachableVersionRemoved: a version forgotten while a backup walks
// it (its tree's pack gone with it) is no damage: the walk fails with
// session.ErrConflict naming the version, so the backup says "run it
// again", not "damaged".
func TestReachableVersionRemoved(t *testing.T) {
	ctx := context.Background()
	src := newRepo(t)
	v, _ := src.project(t)
	src.unindex(t, src.treeOf(t, v))
	s := src.source()
	s.Refresh = func(context.Context) error {
		// the refresh merges the forget record another process wrote
		return src.db.Update(func(tx *index.Tx) error { return tx.Put(index.Forgotten, v.String(), []byte("{}")) })
	}
	_, err := Reachable(ctx, s, []object.ID{v}, nil)
	// not ErrBlobNotFound too: exit codes would call that damage
	if !errors.Is(err, session.ErrConflict) || errors.Is(err, object.ErrBlobNotFound) || !strings.Contains(err.Error(), v.Short()) || !strings.Contains(err.Error(), "run it again") {
		t.Fatalf("walk of a version removed meanwhile: %v, want ErrConflict naming %s", err, v.Short())
	}
}

// treeOf is where version v's root tree is indexed.
func (r *repo) treeOf(t *testing.T, v object.ID) object.Location {
	t.Helper()
	sn, _, err := r.source().Version(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	loc, ok, err := r.db.Lookup(sn.Tree)
	if err != nil || !ok {
		t.Fatalf("the tree is not indexed: %v", err)
	}
	return loc
}

// unindex takes the pack of loc out of the index, as a listing that
// missed it leaves it.
func (r *repo) unindex(t *testing.T, loc object.Location) {
	t.Helper()
	if err := r.db.Update(func(tx *index.Tx) error { return tx.RemovePack(loc.Pack, []object.Blob{loc.Blob}) }); err != nil {
		t.Fatal(err)
	}
}
