package object_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/silo-dev/silo/object"
)

// TestReadAhead: on a backend without random access, small blobs stored
// side by side load with one GET per window; a blob across a window's
// edge, or larger than a window, still loads right; a small budget evicts
// windows without wrong answers; Forget drops a pack's windows.
func TestReadAhead(t *testing.T) {
	const window = 256 << 10
	dir, be, repo := newCountingRepo(t, object.RepositoryOptions{PackSize: 4 << 20, ReadAhead: window, ReadAheadCache: 2 * window})
	ctx := context.Background()
	var ids []object.ID
	var want [][]byte
	for i := range 200 { // about 2 MB of 10 KB blobs, and a few larger than a window
		n := 10_000 + i
		if i%50 == 49 {
			n = window + 1000
		}
		b := seededBytes(uint64(1000+i), n)
		id := object.Hash(b)
		if _, err := repo.SaveBlob(ctx, object.DataBlob, id, b); err != nil {
			t.Fatal(err)
		}
		ids, want = append(ids, id), append(want, b)
	}
	if err := repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	load := func() {
		t.Helper()
		for i, id := range ids {
			got, err := repo.LoadBlob(ctx, id, nil)
			if err != nil || !bytes.Equal(got, want[i]) {
				t.Fatalf("blob %d: %v", i, err)
			}
		}
	}
	be.gets.Store(0)
	load()
	gets := be.gets.Load()
	t.Logf("%d blobs read with %d GETs", len(ids), gets)
	if gets > 30 {
		t.Errorf("%d GETs for %d blobs side by side: the windows were not used", gets, len(ids))
	}
	// again: the budget (two windows) keeps only the last ones, and every
	// blob still reads right
	load()
	// Forget drops the windows of a pack: the next read goes to the backend
	loc, _, _ := repo.Lookup(ids[len(ids)-2])
	repo.Forget(loc.Pack)
	be.gets.Store(0)
	if _, err := repo.LoadBlob(ctx, ids[len(ids)-2], nil); err != nil || be.gets.Load() != 1 {
		t.Errorf("after Forget: %v, %d GETs", err, be.gets.Load())
	}

	// damaged on the way only: the window holds a flipped byte, the pack
	// does not (flipped back once the window is read): the blob is read
	// again from the pack and loads
	loc, _, _ = repo.Lookup(ids[10])
	repo.Forget(loc.Pack)
	path := filepath.Join(dir, filepath.FromSlash(object.PackName(loc.Pack)))
	flip := func() {
		t.Helper()
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data[int64(loc.Offset)+50] ^= 0xff
		os.Chmod(path, 0o644)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flip()
	if got, err := repo.LoadBlob(ctx, ids[9], nil); err != nil || !bytes.Equal(got, want[9]) {
		t.Fatalf("the blob before the damaged one: %v", err) // its window is read now
	}
	flip()
	if got, err := repo.LoadBlob(ctx, ids[10], nil); err != nil || !bytes.Equal(got, want[10]) {
		t.Errorf("a blob damaged in the window only: %v", err)
	}
}
