package snapshot_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// treeSaveCounter is a repository that counts the tree blobs saved to it.
type treeSaveCounter struct {
	*object.Repository
	trees atomic.Int64
}

func (c *treeSaveCounter) SaveBlob(ctx context.Context, t object.BlobType, id object.ID, plain []byte) (int64, error) {
	if t == object.TreeBlob {
		c.trees.Add(1)
	}
	return c.Repository.SaveBlob(ctx, t, id, plain)
}

// TestUnchangedTreesNotSavedAgain: a re-store does not save the trees of
// unchanged directories again (it has just read them), unless Reusable
// says some blobs of the parent may not be reused.
func TestUnchangedTreesNotSavedAgain(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a/b/c.txt"), "c")
	writeFile(t, filepath.Join(src, "a/d.txt"), "d")
	writeFile(t, filepath.Join(src, "e/f.txt"), "f")
	parent := r.store(t, src, object.ID{})
	ctx := context.Background()
	c := &treeSaveCounter{Repository: r.repo}
	res, err := snapshot.Store(ctx, c, src, snapshot.StoreOptions{Pol: r.pol, ParentTree: parent.Tree})
	if err != nil {
		t.Fatal(err)
	}
	if res.Tree != parent.Tree || c.trees.Load() != 0 || res.Stats.Dirs != 4 {
		t.Errorf("unchanged re-store: tree %s (parent %s), %d trees saved, %d dirs", res.Tree.Short(), parent.Tree.Short(), c.trees.Load(), res.Stats.Dirs)
	}

	// one change: the trees on its path are saved, the others not
	writeFile(t, filepath.Join(src, "a/b/c.txt"), "changed")
	c.trees.Store(0)
	res, err = snapshot.Store(ctx, c, src, snapshot.StoreOptions{Pol: r.pol, ParentTree: parent.Tree})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if c.trees.Load() != 3 {
		t.Errorf("after changing a/b/c.txt: %d trees saved, want 3 (a/b, a, the root)", c.trees.Load())
	}
	got := r.restore(t, res)
	for _, p := range []string{"a/b/c.txt", "a/d.txt", "e/f.txt"} {
		if err := sameContent(filepath.Join(src, p), filepath.Join(got, p)); err != nil {
			t.Errorf("restored %s: %v", p, err)
		}
	}

	// with Reusable set, every tree goes through SaveBlob (which decides)
	c.trees.Store(0)
	if _, err := snapshot.Store(ctx, c, src, snapshot.StoreOptions{Pol: r.pol, ParentTree: res.Tree,
		Reusable: func([]object.ID) bool { return true }}); err != nil {
		t.Fatal(err)
	}
	if c.trees.Load() != 4 {
		t.Errorf("with Reusable: %d trees saved, want 4", c.trees.Load())
	}
}
