package reindex_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/reindex"
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
	return reindex.Source{Repo: c.repo, DB: c.db, Backend: be, Plans: be,
		Apply: func(ctx context.Context, locs []object.Location, strict bool) (*catalog.ReadStats, error) {
			return &catalog.ReadStats{}, nil
		}}
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
