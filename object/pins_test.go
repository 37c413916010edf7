package object_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// newUnpinnedRepo is newPackRepo with RepositoryOptions.Unpinned.
func newUnpinnedRepo(t *testing.T) *object.Repository {
	t.Helper()
	dir := t.TempDir()
	db, err := index.Open(filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := object.NewRepository(object.RepositoryOptions{Backend: object.NewLocal(dir), Index: db,
		TempDir: filepath.Join(dir, "tmp"), Unpinned: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		repo.Close()
		db.Close()
	})
	return repo
}

// TestUnpinnedWriters: in an Unpinned repository a writer pins nothing and a
// collection refuses to start while it is open; a writer that starts during
// a collection pins as usual; with the writer ended, collections run. In a
// pinned repository the same writer's blobs are pinned.
func TestUnpinnedWriters(t *testing.T) {
	ctx := context.Background()
	repo := newUnpinnedRepo(t)
	w := repo.NewWriter()
	data := []byte("a blob an unpinned store writes")
	id := object.Hash(data)
	if _, err := w.SaveBlob(ctx, object.DataBlob, id, data); err != nil {
		t.Fatal(err)
	}
	if repo.Pinned(id) {
		t.Error("an unpinned repository's writer pinned its blob")
	}
	if err := repo.BeginCollection(); !errors.Is(err, object.ErrStoreRunning) {
		t.Fatalf("BeginCollection with a store running = %v, want ErrStoreRunning", err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w.End()
	if err := repo.BeginCollection(); err != nil {
		t.Fatalf("BeginCollection after the store ended: %v", err)
	}
	during := repo.NewWriter()
	if ok, err := during.Keep(id); err != nil || !ok {
		t.Fatalf("Keep = %v, %v", ok, err)
	}
	if !repo.Pinned(id) {
		t.Error("a writer started during a collection did not pin the blob it kept")
	}
	if err := repo.BeginCollection(); err != nil {
		t.Fatalf("a second collection beside a pinning writer: %v", err)
	}
	repo.EndCollection()
	during.End()
	repo.EndCollection()
	if repo.Pinned(id) {
		t.Error("pins outlived the writer and the collections")
	}

	pinned := newPackRepo(t, 0)
	pw := pinned.repo.NewWriter()
	defer pw.End()
	if _, err := pw.SaveBlob(ctx, object.DataBlob, id, data); err != nil {
		t.Fatal(err)
	}
	if !pinned.repo.Pinned(id) {
		t.Error("a pinned repository's writer did not pin its blob")
	}
}

// limitedIndex is the real index asking for packs of at most MaxPackCount
// blobs, as index.DB does once index.db is large.
type limitedIndex struct{ *index.DB }

func (limitedIndex) PackBlobLimit() int { return object.MaxPackCount }

// TestPackBlobCountLimit: when the index asks for it, a pack is closed at
// MaxPackCount blobs however small they are, and every blob is indexed in
// the pack it went to; without the limit the same blobs fill one pack.
func TestPackBlobCountLimit(t *testing.T) {
	n := object.MaxPackCount + 10
	packsOf := func(limited bool) map[object.ID]int {
		dir := t.TempDir()
		db, err := index.Open(filepath.Join(dir, "index.db"), index.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var idx object.Index = db
		if limited {
			idx = limitedIndex{db}
		}
		repo, err := object.NewRepository(object.RepositoryOptions{Backend: object.NewLocal(dir), Index: idx,
			TempDir: filepath.Join(dir, "tmp")})
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		ctx := context.Background()
		ids := make([]object.ID, n)
		for i := range n {
			data := fmt.Appendf(nil, "small blob %d", i)
			ids[i] = object.Hash(data)
			if _, err := repo.SaveBlob(ctx, object.DataBlob, ids[i], data); err != nil {
				t.Fatal(err)
			}
		}
		if err := repo.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		counts := map[object.ID]int{}
		for _, id := range ids {
			loc, ok, err := db.Lookup(id)
			if err != nil || !ok {
				t.Fatalf("blob %s not indexed: %v", id, err)
			}
			counts[loc.Pack]++
		}
		return counts
	}
	counts := packsOf(true)
	if len(counts) != 2 {
		t.Fatalf("%d small blobs went to %d packs, want 2", n, len(counts))
	}
	for p, c := range counts {
		if c != object.MaxPackCount && c != 10 {
			t.Errorf("pack %s holds %d blobs, want %d or 10", p, c, object.MaxPackCount)
		}
	}
	if counts := packsOf(false); len(counts) != 1 {
		t.Errorf("without a limit, %d small blobs went to %d packs, want 1", n, len(counts))
	}
}
