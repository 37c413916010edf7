package snapshot_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// lookupCounter is a repository that counts LoadBlob and Locate calls.
type lookupCounter struct {
	*object.Repository
	loads, locates atomic.Int64
}

func (c *lookupCounter) LoadBlob(ctx context.Context, id object.ID, dst []byte) ([]byte, error) {
	c.loads.Add(1)
	return c.Repository.LoadBlob(ctx, id, dst)
}

func (c *lookupCounter) Locate(ids []object.ID) ([]object.Location, []bool, error) {
	c.locates.Add(1)
	return c.Repository.Locate(ids)
}

// TestStoreLocatesSiblingTrees: a re-store looks up the parent trees of a
// directory's subdirectories together, and reads a damaged one afresh.
func TestStoreLocatesSiblingTrees(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	for _, p := range []string{"a/f", "b/f", "c/f", "c/d/f"} {
		writeFile(t, filepath.Join(src, p), "content of "+p)
	}
	parent := r.store(t, src, object.ID{})
	ctx := context.Background()
	c := &lookupCounter{Repository: r.repo}
	res, err := snapshot.Store(ctx, c, src, snapshot.StoreOptions{Pol: r.pol, ParentTree: parent.Tree})
	if err != nil {
		t.Fatal(err)
	}
	// the root's tree alone is loaded by id; a, b and c are looked up in
	// one go, c/d (an only child) by id
	if res.Tree != parent.Tree || c.locates.Load() != 1 || c.loads.Load() != 2 || res.Stats.FilesUnchanged != 4 {
		t.Errorf("tree %s (parent %s), %d Locate and %d LoadBlob calls, %d files unchanged; want the parent's, 1, 2, 4",
			res.Tree.Short(), parent.Tree.Short(), c.locates.Load(), c.loads.Load(), res.Stats.FilesUnchanged)
	}

	// b's parent tree damaged: LoadAt fails, LoadBlob fails, b's file is
	// read afresh and the others are reused
	n, err := snapshot.Find(ctx, r.repo, parent.Tree, "b")
	if err != nil {
		t.Fatal(err)
	}
	loc, _, _ := r.db.Lookup(n.Subtree)
	flipByte(t, filepath.Join(r.dir, filepath.FromSlash(object.PackName(loc.Pack))), int64(loc.Offset))
	res, err = snapshot.Store(ctx, c, src, snapshot.StoreOptions{Pol: r.pol, ParentTree: parent.Tree})
	if err != nil {
		t.Fatalf("store with a damaged parent tree: %v", err)
	}
	if res.Stats.FilesUnchanged != 3 || res.Stats.FilesNew != 1 {
		t.Errorf("with b's parent tree damaged: %+v, want 3 unchanged and 1 new", res.Stats)
	}
}

// A parent tree found damaged during a re-store is not referenced again:
// the store builds the same tree from the files, and the repository,
// which noted the bad copy, writes a good one instead of deduplicating
// against it, so the new version restores.
func TestDamagedParentTreeNotReferencedAgain(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	for _, p := range []string{"a/f", "b/f", "c/f"} {
		writeFile(t, filepath.Join(src, p), "content of "+p)
	}
	parent := r.store(t, src, object.ID{})
	n, err := snapshot.Find(context.Background(), r.repo, parent.Tree, "b")
	if err != nil {
		t.Fatal(err)
	}
	loc, _, _ := r.db.Lookup(n.Subtree)
	flipByte(t, filepath.Join(r.dir, filepath.FromSlash(object.PackName(loc.Pack))), int64(loc.Offset))
	res := r.store(t, src, parent.Tree)
	if res.Stats.FilesNew != 1 || res.Stats.FilesUnchanged != 2 {
		t.Fatalf("with b's parent tree damaged: %+v, want 1 new and 2 unchanged", res.Stats)
	}
	r.restore(t, res)
}
