package reindex_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/reindex"
	"github.com/silo-dev/silo/snapshot"
)

// cache is an index.db over the shared packs, with its repository.
type cache struct {
	db   *index.DB
	repo *object.Repository
}

func newCache(t *testing.T, be object.Backend) cache {
	t.Helper()
	db, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	repo, err := object.NewRepository(object.RepositoryOptions{Backend: be, Index: db, TempDir: t.TempDir(), PackSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	return cache{db, repo}
}

func (c cache) source(be object.Backend) reindex.Source {
	return reindex.Source{Repo: c.repo, DB: c.db, Backend: be, Plans: be}
}

// TestRefreshFollowsThePacks: a second index over packs another writer
// made learns every blob of them, and marks itself complete; a pack that
// then goes without a gc plan leaves the index, and its blobs are
// recorded lost (not acknowledged), naming the pack.
func TestRefreshFollowsThePacks(t *testing.T) {
	ctx := context.Background()
	be := object.NewLocal(t.TempDir())
	writer := newCache(t, be)
	var ids []object.ID
	for i := range 12 {
		b := testutil.RandomBytes(uint64(i), 20<<10)
		id := object.Hash(b)
		ids = append(ids, id)
		if _, err := writer.repo.SaveBlob(ctx, object.DataBlob, id, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := writer.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var packs []object.ID
	be.List(ctx, "packs/", func(fi object.FileInfo) error {
		if id, ok := object.ParsePackName(fi.Name); ok {
			packs = append(packs, id)
		}
		return nil
	})
	if len(packs) < 2 {
		t.Fatalf("%d packs, want several", len(packs))
	}

	reader := newCache(t, be)
	if ok, err := reindex.Complete(reader.db); err != nil || ok {
		t.Fatalf("a new index is complete: %v %v", ok, err)
	}
	rep, err := reindex.Refresh(ctx, reader.source(be), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Added) != len(packs) || rep.Blobs != len(ids) || rep.Listed != len(packs) || len(rep.Gone) != 0 {
		t.Fatalf("refresh: %d packs added of %d, %d blobs of %d, %d gone", len(rep.Added), len(packs), rep.Blobs, len(ids), len(rep.Gone))
	}
	for _, id := range ids {
		if ok, _ := reader.repo.Has(id); !ok {
			t.Fatalf("blob %s not indexed after the refresh", id.Short())
		}
	}
	if ok, err := reindex.Complete(reader.db); err != nil || !ok {
		t.Fatalf("the index is not complete after a full refresh: %v %v", ok, err)
	}
	if reindex.ListedAt(reader.db).IsZero() {
		t.Fatal("no listing time recorded")
	}

	// a pack goes without a plan
	victim := packs[0]
	if err := be.Delete(ctx, object.PackName(victim)); err != nil {
		t.Fatal(err)
	}
	rep, err = reindex.Refresh(ctx, reader.source(be), false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Gone, []object.ID{victim}) || len(rep.Added) != 0 {
		t.Fatalf("gone %v, added %v; want only %s gone", rep.Gone, rep.Added, victim.Short())
	}
	lost := map[object.ID]string{}
	reader.db.View(func(tx *index.Tx) error {
		return tx.Lost(func(id object.ID, why string) error { lost[id] = why; return nil })
	})
	if len(lost) == 0 {
		t.Fatal("no blob recorded lost after its pack went")
	}
	for id, why := range lost {
		if !strings.Contains(why, victim.String()) {
			t.Errorf("blob %s lost for %q, which does not name pack %s", id.Short(), why, victim)
		}
		if ok, _ := reader.repo.Has(id); ok {
			t.Errorf("lost blob %s still indexed", id.Short())
		}
		if !slices.Contains(ids, id) {
			t.Errorf("blob %s recorded lost was never written", id.Short())
		}
	}
	reader.db.View(func(tx *index.Tx) error {
		for id := range lost {
			if tx.IsLostAcknowledged(id) {
				t.Errorf("blob %s: a loss found in passing is acknowledged", id.Short())
			}
		}
		return nil
	})
}

// TestBuild: a new index built from the packs alone learns every blob,
// lists the version a snapshot blob holds, records lost the blob its tree
// refers to that no pack holds (naming the version), keeps the old index's
// catalogue, and marks itself complete.
func TestBuild(t *testing.T) {
	ctx := context.Background()
	be := object.NewLocal(t.TempDir())
	old := newCache(t, be)
	data := testutil.RandomBytes(7, 30<<10)
	have := object.Hash(data)
	missing := object.Hash([]byte("never stored"))
	tree := snapshot.EncodeTree([]snapshot.Node{{Name: "f", Type: snapshot.File, Mode: 0o644, Size: uint64(len(data)) + 12,
		Content: []object.ID{have, missing}}})
	sn := (&snapshot.Snapshot{Time: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), Tree: object.Hash(tree), ProjectID: "p1", ProjectName: "app"}).Encode()
	for _, b := range []struct {
		t    object.BlobType
		data []byte
	}{{object.DataBlob, data}, {object.TreeBlob, tree}, {object.SnapshotBlob, sn}} {
		if _, err := old.repo.SaveBlob(ctx, b.t, object.Hash(b.data), b.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := old.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// the old index knows a template the packs do not (its meta blob
	// cannot be read, say): the rebuild keeps it
	if err := old.db.Update(func(tx *index.Tx) error { return tx.Put(index.Templates, "kept", []byte(`{"name":"kept"}`)) }); err != nil {
		t.Fatal(err)
	}

	fresh := newCache(t, be)
	b, err := reindex.Build(ctx, fresh.source(be), old.db)
	if err != nil {
		t.Fatal(err)
	}
	if b.Blobs != 3 || b.Packs < 1 || len(b.BadPacks)+len(b.Salvaged)+len(b.Skipped) != 0 {
		t.Fatalf("built: %+v", b)
	}
	snapID := object.Hash(sn)
	if b.Lost != 1 || len(b.Broken) != 1 || !strings.Contains(b.Broken[0], snapID.Short()) {
		t.Fatalf("lost %d, broken %v; want the one missing blob, naming snapshot %s", b.Lost, b.Broken, snapID.Short())
	}
	fresh.db.View(func(tx *index.Tx) error {
		var versions []object.ID
		tx.Versions("p1", func(id object.ID, _ time.Time) bool { versions = append(versions, id); return true })
		if !slices.Equal(versions, []object.ID{snapID}) {
			t.Errorf("versions of p1: %v, want %s", versions, snapID.Short())
		}
		if tx.Get(index.Templates, "kept") == nil {
			t.Error("the old index's catalogue was not kept")
		}
		if !tx.IsLost(missing) {
			t.Errorf("blob %s is not recorded lost", missing.Short())
		}
		return nil
	})
	if ok, err := reindex.Complete(fresh.db); err != nil || !ok {
		t.Fatalf("the built index is not complete: %v %v", ok, err)
	}
}

// blindLister lists the packs of a backend as a paginated listing does
// while packs are being written: its first listing leaves out the packs
// in hide (written after the listing had passed their keys).
type blindLister struct {
	object.Backend
	hide  map[object.ID]bool
	calls int
	// before, when set, runs before each listing (given its number)
	before func(call int)
}

func (b *blindLister) List(ctx context.Context, prefix string, fn func(object.FileInfo) error) error {
	b.calls++
	if b.before != nil {
		b.before(b.calls)
	}
	return b.Backend.List(ctx, prefix, func(fi object.FileInfo) error {
		if id, ok := object.ParsePackName(fi.Name); ok && b.calls == 1 && b.hide[id] {
			return nil
		}
		return fn(fi)
	})
}

// twoCaches is a local backend with two indexes over it: a writer's and
// a reader's.
func twoCaches(t *testing.T) (*object.Local, cache, cache) {
	be := object.NewLocal(t.TempDir())
	return be, newCache(t, be), newCache(t, be)
}

// packsOf lists the packs of be.
func packsOf(t *testing.T, be object.Backend) map[object.ID]bool {
	t.Helper()
	out := map[object.ID]bool{}
	if err := be.List(context.Background(), "packs/", func(fi object.FileInfo) error {
		if id, ok := object.ParsePackName(fi.Name); ok {
			out[id] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// storeVersion writes a version as a store does: its data and tree packs
// first, then the pack with its snapshot. It returns the snapshot's id,
// its data blob's, and the packs of each step.
func storeVersion(t *testing.T, c cache, be object.Backend, seed uint64) (snap, data object.ID, dataPacks, snapPacks map[object.ID]bool) {
	t.Helper()
	ctx := context.Background()
	before := packsOf(t, be)
	b := testutil.RandomBytes(seed, 30<<10)
	data = object.Hash(b)
	tree := snapshot.EncodeTree([]snapshot.Node{{Name: "f", Type: snapshot.File, Mode: 0o644, Size: uint64(len(b)), Content: []object.ID{data}}})
	for _, x := range []struct {
		t    object.BlobType
		data []byte
	}{{object.DataBlob, b}, {object.TreeBlob, tree}} {
		if _, err := c.repo.SaveBlob(ctx, x.t, object.Hash(x.data), x.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mid := packsOf(t, be)
	sn := (&snapshot.Snapshot{Time: time.Date(2026, 11, 30, 12, 0, int(seed), 0, time.UTC), Tree: object.Hash(tree), ProjectID: "p1", ProjectName: "app"}).Encode()
	snap = object.Hash(sn)
	if _, err := c.repo.SaveBlob(ctx, object.SnapshotBlob, snap, sn); err != nil {
		t.Fatal(err)
	}
	if err := c.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	dataPacks, snapPacks = map[object.ID]bool{}, map[object.ID]bool{}
	for id := range packsOf(t, be) {
		switch {
		case before[id]:
		case mid[id]:
			dataPacks[id] = true
		default:
			snapPacks[id] = true
		}
	}
	if len(dataPacks) == 0 || len(snapPacks) != 1 {
		t.Fatalf("store wrote data packs %v and snapshot packs %v", dataPacks, snapPacks)
	}
	return snap, data, dataPacks, snapPacks
}

// versions lists p1's versions in c's catalogue.
func versions(c cache) []object.ID {
	var out []object.ID
	c.db.View(func(tx *index.Tx) error {
		tx.Versions("p1", func(id object.ID, _ time.Time) bool { out = append(out, id); return true })
		return nil
	})
	return out
}

// TestRefreshListingMissesDataPacks: a listing that misses a store's
// data packs and lists its snapshot's pack (written a moment later, its
// key past the point the listing had reached) must not list a version
// whose blobs the index lacks. The refresh lists again and indexes the
// data packs before it merges the version. When the first listing missed
// the snapshot's pack too, the second listing indexes both and the
// version waits for the next refresh; a merge of every pack leaves it
// alone meanwhile.
func TestRefreshListingMissesDataPacks(t *testing.T) {
	ctx := context.Background()
	be, writer, reader := twoCaches(t)
	// the data packs written during the listing, the snapshot's after
	snap, data, dataPacks, _ := storeVersion(t, writer, be, 1)
	lister := &blindLister{Backend: be, hide: dataPacks, before: func(call int) {
		if v := versions(reader); call == 2 && len(v) != 0 {
			t.Errorf("versions %v listed before the second listing indexed their data packs", v)
		}
	}}
	rep, err := reindex.Refresh(ctx, reader.source(lister), false)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := reader.repo.Has(data); !ok || !slices.Equal(versions(reader), []object.ID{snap}) {
		t.Fatalf("data blob indexed: %v; versions %v, want %s", ok, versions(reader), snap.Short())
	}
	if lister.calls != 2 {
		t.Fatalf("%d listings, want a second after the first found new packs", lister.calls)
	}
	if len(rep.Late) != len(dataPacks) {
		t.Fatalf("late packs %v, want the data packs %v", rep.Late, dataPacks)
	}
	for _, id := range rep.Late {
		if !rep.Packs[id] || !dataPacks[id] {
			t.Fatalf("late pack %s: a data pack %v, in the listings %v", id.Short(), dataPacks[id], rep.Packs[id])
		}
	}

	// new data packs alone need no second listing: nothing is merged
	// from them
	other := testutil.RandomBytes(3, 10<<10)
	if _, err := writer.repo.SaveBlob(ctx, object.DataBlob, object.Hash(other), other); err != nil {
		t.Fatal(err)
	}
	if err := writer.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	lister = &blindLister{Backend: be}
	if rep, err := reindex.Refresh(ctx, reader.source(lister), false); err != nil || len(rep.Added) != 1 || lister.calls != 1 {
		t.Fatalf("a refresh that found a data pack: %v, %d listings, want 1", err, lister.calls)
	}

	// the first listing of the next refresh misses both packs of a second
	// version, and finds a third version
	snap2, data2, dataPacks2, snapPacks2 := storeVersion(t, writer, be, 2)
	snap3, _, _, _ := storeVersion(t, writer, be, 3)
	hide := maps.Clone(dataPacks2)
	maps.Copy(hide, snapPacks2)
	lister = &blindLister{Backend: be, hide: hide}
	if _, err := reindex.Refresh(ctx, reader.source(lister), false); err != nil {
		t.Fatal(err)
	}
	if ok, _ := reader.repo.Has(data2); !ok {
		t.Fatal("the second listing's data pack was not indexed")
	}
	if v := versions(reader); len(v) != 2 || slices.Contains(v, snap2) || !slices.Contains(v, snap3) {
		t.Fatalf("versions %v after a refresh whose first listing missed %s's packs: want it to wait, and %s listed", v, snap2.Short(), snap3.Short())
	}
	// a merge of every pack (an index build) leaves the waiting one
	if _, err := reindex.Apply(ctx, reader.source(be), nil, true); err != nil {
		t.Fatal(err)
	}
	if v := versions(reader); len(v) != 2 || slices.Contains(v, snap2) {
		t.Fatalf("versions %v after a merge of every pack: the waiting version %s was merged early", v, snap2.Short())
	}
	// the next refresh finds nothing new, and merges it
	lister = &blindLister{Backend: be}
	if _, err := reindex.Refresh(ctx, reader.source(lister), false); err != nil {
		t.Fatal(err)
	}
	if v := versions(reader); len(v) != 3 || !slices.Contains(v, snap2) {
		t.Fatalf("versions %v after the next refresh, want %s, %s and %s", v, snap.Short(), snap2.Short(), snap3.Short())
	}
	if lister.calls != 1 {
		t.Fatalf("%d listings by a refresh that found nothing new, want 1", lister.calls)
	}
}

// TestRefreshCutShortLeavesItsPacks: a refresh killed after it indexed
// new packs and before it merged their catalogue blobs leaves them to the
// next refresh (which no longer sees them as new).
func TestRefreshCutShortLeavesItsPacks(t *testing.T) {
	ctx := context.Background()
	be, writer, reader := twoCaches(t)
	snap, _, _, _ := storeVersion(t, writer, be, 4)
	// the cut: the merge reads the snapshot blob, and the context is
	// cancelled by then
	cctx, cancel := context.WithCancel(ctx)
	held := func(context.Context) (map[object.ID]bool, error) { cancel(); return nil, context.Canceled }
	src := reader.source(be)
	src.Held = held
	if _, err := reindex.Refresh(cctx, src, false); err == nil {
		t.Fatal("a refresh cut short succeeded")
	}
	if v := versions(reader); len(v) != 0 {
		t.Fatalf("versions %v after a refresh cut short before its merge", v)
	}
	rep, err := reindex.Refresh(ctx, reader.source(be), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Added) != 0 || !slices.Equal(versions(reader), []object.ID{snap}) {
		t.Fatalf("added %v, versions %v: want nothing new and %s merged", rep.Added, versions(reader), snap.Short())
	}
}

// TestMarkRootsMergesTheFirstListing: gc's mark lists twice and merges
// the catalogue blobs of every pack its first listing held, whether this
// refresh found it or an earlier one left it waiting; a version written
// after the first listing began waits (gc's protocol keeps its blobs).
func TestMarkRootsMergesTheFirstListing(t *testing.T) {
	ctx := context.Background()
	be, writer, reader := twoCaches(t)
	snap1, data1, dataPacks1, snapPacks1 := storeVersion(t, writer, be, 5)
	hide := maps.Clone(dataPacks1)
	maps.Copy(hide, snapPacks1)
	lister := &blindLister{Backend: be, hide: hide}
	rep, err := reindex.RefreshForMark(ctx, reader.source(lister))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reindex.MarkRoots(ctx, reader.source(lister), rep); err != nil {
		t.Fatal(err)
	}
	if ok, _ := reader.repo.Has(data1); !ok || len(versions(reader)) != 0 || len(rep.Late) != len(hide) || lister.calls != 2 {
		t.Fatalf("data indexed %v, versions %v, late %d of %d, listings %d: want the version written during the mark's listing indexed and waiting",
			ok, versions(reader), len(rep.Late), len(hide), lister.calls)
	}
	for id := range hide {
		if rep.First[id] || !rep.Packs[id] {
			t.Fatalf("pack %s: in the first listing %v, in the listings %v", id.Short(), rep.First[id], rep.Packs[id])
		}
	}

	// the next mark lists both versions' packs first, and merges both,
	// even version 1's, which another process's refresh found again
	// while the mark listed (and left waiting for a later listing)
	snap2, _, _, _ := storeVersion(t, writer, be, 6)
	lister = &blindLister{Backend: be, before: func(call int) {
		if call == 1 {
			if err := reindex.AddPending(reader.db, slices.Collect(maps.Keys(snapPacks1))); err != nil {
				t.Error(err)
			}
		}
	}}
	if rep, err = reindex.RefreshForMark(ctx, reader.source(lister)); err != nil {
		t.Fatal(err)
	}
	if v := versions(reader); slices.Contains(v, snap1) {
		t.Fatalf("versions %v: the refresh merged %s, which waits for a later listing", v, snap1.Short())
	}
	if _, err := reindex.MarkRoots(ctx, reader.source(lister), rep); err != nil {
		t.Fatal(err)
	}
	if v := versions(reader); len(v) != 2 || !slices.Contains(v, snap1) || !slices.Contains(v, snap2) || lister.calls != 2 {
		t.Fatalf("versions %v after %d listings, want %s and %s after 2", v, lister.calls, snap1.Short(), snap2.Short())
	}
	if _, err := reindex.MarkRoots(ctx, reader.source(be), &reindex.Report{}); err == nil {
		t.Fatal("MarkRoots without a mark's listing succeeded")
	}
}

// failingGets fails every read of the packs in fail (a pack a refresh
// cannot read this time: a network error, say).
type failingGets struct {
	object.Backend
	mu   sync.Mutex
	fail map[string]bool
}

func (f *failingGets) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	f.mu.Lock()
	failing := f.fail[name]
	f.mu.Unlock()
	if failing {
		return nil, fmt.Errorf("injected: reading %s failed", name)
	}
	return f.Backend.Get(ctx, name, offset, length)
}

// TestRefreshKeepsWhatAnotherIndexed: a new pack this refresh cannot
// read, that another process indexes while this refresh merges, stays
// waiting (its catalogue blobs were not read here), and the next refresh
// merges its version.
func TestRefreshKeepsWhatAnotherIndexed(t *testing.T) {
	ctx := context.Background()
	be := object.NewLocal(t.TempDir())
	writer := newCache(t, be)
	snap1, _, _, _ := storeVersion(t, writer, be, 7)
	snap2, _, _, snapPacks2 := storeVersion(t, writer, be, 8)
	var late object.ID
	for id := range snapPacks2 {
		late = id
	}
	faulty := &failingGets{Backend: be, fail: map[string]bool{object.PackName(late): true}}
	reader := newCache(t, faulty)
	src := reader.source(be)
	src.Held = func(ctx context.Context) (map[object.ID]bool, error) {
		// another process on this machine indexes the pack meanwhile
		faulty.mu.Lock()
		faulty.fail = nil
		faulty.mu.Unlock()
		if err := reindex.Index(ctx, reader.source(be), &reindex.Report{Added: []object.ID{late}}); err != nil {
			t.Error(err)
		}
		return nil, nil
	}
	rep, err := reindex.Refresh(ctx, src, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Unreadable) != 1 || slices.Contains(versions(reader), snap2) || !slices.Contains(versions(reader), snap1) {
		t.Fatalf("unreadable %v, versions %v: want %s listed, %s's pack unreadable here", rep.Unreadable, versions(reader), snap1.Short(), snap2.Short())
	}
	if _, err := reindex.Refresh(ctx, reader.source(be), false); err != nil {
		t.Fatal(err)
	}
	if v := versions(reader); !slices.Contains(v, snap2) {
		t.Fatalf("versions %v after the next refresh: %s, indexed by another process, was never merged", v, snap2.Short())
	}
}

// TestDamagedPendingList: a pending list that cannot be decoded fails no
// refresh; the index is marked incomplete, so that the next refresh, a
// plain one too, merges every pack's catalogue blobs, the versions that
// waited among them too, and marks it complete again.
func TestDamagedPendingList(t *testing.T) {
	ctx := context.Background()
	be, writer, reader := twoCaches(t)
	if _, err := reindex.Refresh(ctx, reader.source(be), true); err != nil {
		t.Fatal(err)
	}
	snap, _, _, _ := storeVersion(t, writer, be, 9)
	// the version's packs indexed; its listing lost with the list
	if _, err := reindex.Refresh(ctx, reader.source(be), false); err != nil {
		t.Fatal(err)
	}
	listed := versions(reader)
	if err := reader.db.Update(func(tx *index.Tx) error {
		for _, id := range listed {
			if err := tx.DeleteSnapshot(id); err != nil {
				return err
			}
		}
		return tx.SetInfo("pending", []byte(`{"not an id":{}`))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := reindex.Refresh(ctx, reader.source(be), false); err != nil {
		t.Fatalf("a refresh over a damaged pending list: %v", err)
	}
	if ok, err := reindex.Complete(reader.db); err != nil || ok {
		t.Fatalf("complete after a damaged pending list: %v %v", ok, err)
	}
	// the next refresh, a plain one (a long-running process opens the
	// repository only once), merges every pack's catalogue blobs
	if _, err := reindex.Refresh(ctx, reader.source(be), false); err != nil {
		t.Fatal(err)
	}
	if v := versions(reader); !slices.Equal(v, []object.ID{snap}) {
		t.Fatalf("versions %v after the next refresh, want %s", v, snap.Short())
	}
	if ok, err := reindex.Complete(reader.db); err != nil || !ok {
		t.Fatalf("complete after the next refresh: %v %v", ok, err)
	}
}
