package reindex_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
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

func newCache(t *testing.T, be *object.Local) cache {
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
