package snapshot_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// TestReach: every tree once (a subtree shared by two roots and two
// directories is loaded once, under the first path met), data blobs in
// the nodes, name order, a missing tree handed to the visitor, and a
// chain 50,000 levels deep walked without recursion.
func TestReach(t *testing.T) {
	r := newTestRepo(t)
	ctx := context.Background()
	data := r.saveRaw(t, object.DataBlob, []byte("file content"))
	shared := r.saveRaw(t, object.TreeBlob, snapshot.EncodeTree([]snapshot.Node{
		{Name: "f.txt", Type: snapshot.File, Mode: 0o644, Size: 12, Content: []object.ID{data}}}))
	missing := object.Hash([]byte("a tree nobody stored"))
	root1 := r.saveRaw(t, object.TreeBlob, snapshot.EncodeTree([]snapshot.Node{
		{Name: "a", Type: snapshot.Dir, Mode: 0o755, Subtree: shared},
		{Name: "b", Type: snapshot.Dir, Mode: 0o755, Subtree: shared},
		{Name: "gone", Type: snapshot.Dir, Mode: 0o755, Subtree: missing},
	}))
	root2 := r.saveRaw(t, object.TreeBlob, snapshot.EncodeTree([]snapshot.Node{
		{Name: "c", Type: snapshot.Dir, Mode: 0o755, Subtree: shared}}))
	var seen []string
	var loadErr error
	var dataSeen int
	err := snapshot.Reach(ctx, r.repo, []snapshot.ReachRoot{{Tree: root1, Label: "v1"}, {Tree: root2, Label: "v2"}},
		func(tv snapshot.TreeVisit) error {
			seen = append(seen, tv.Root+":"+tv.Path)
			if tv.Err != nil {
				loadErr = tv.Err
			}
			for _, n := range tv.Nodes {
				dataSeen += len(n.Content)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(seen, " "); got != "v1: v1:a v1:gone v2:" {
		t.Errorf("visited %q", got)
	}
	if !errors.Is(loadErr, object.ErrBlobNotFound) || dataSeen != 1 {
		t.Errorf("missing tree: %v; data blobs seen %d", loadErr, dataSeen)
	}
	// a visitor's error stops the walk
	stop := errors.New("stop")
	if err := snapshot.Reach(ctx, r.repo, []snapshot.ReachRoot{{Tree: root1}}, func(snapshot.TreeVisit) error { return stop }); err != stop {
		t.Errorf("visitor error: %v", err)
	}

	// depth: a chain of directories far deeper than a goroutine stack holds recursion
	const depth = 50_000
	id := shared
	for i := 0; i < depth; i++ {
		id = r.saveRawNoFlush(t, object.TreeBlob, snapshot.EncodeTree([]snapshot.Node{{Name: "d", Type: snapshot.Dir, Mode: 0o755, Subtree: id}}))
	}
	if err := r.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	n, deepest := 0, 0
	err = snapshot.Reach(ctx, r.repo, []snapshot.ReachRoot{{Tree: id}}, func(tv snapshot.TreeVisit) error {
		n++
		deepest = max(deepest, strings.Count(tv.Path, "/")+1)
		return tv.Err
	})
	if err != nil || n != depth+1 || deepest != depth {
		t.Errorf("deep chain: %d trees, depth %d, %v", n, deepest, err)
	}
}
