//go:build unix

package snapshot_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// A stored tree exported with WriteTar and imported with StoreTar keeps
// every name, type, mode, mtime, content and link target.
func TestWriteTarStoreTarRoundTrip(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	for i, n := range oddNames {
		writeFile(t, filepath.Join(src, "names", n), strings.Repeat(n, i+1))
	}
	writeRandom(t, filepath.Join(src, "big", "random"), 1, chunk.MaxSize+100)
	writeFile(t, filepath.Join(src, "modes", "setuid"), "x")
	chmod(t, filepath.Join(src, "modes", "setuid"), 0o4755)
	mkdir(t, filepath.Join(src, "empty-dir"))
	chmod(t, filepath.Join(src, "empty-dir"), 0o700)
	symlink(t, "../names/"+oddNames[0], filepath.Join(src, "links", "rel"))
	symlink(t, strings.Repeat("long/", 60)+"target", filepath.Join(src, "links", "long"))
	scrambleTimes(t, src, 9)
	res := r.store(t, src, object.ID{})
	ctx := context.Background()
	var tarBuf bytes.Buffer
	if err := snapshot.WriteTar(ctx, r.repo, res.Tree, &tarBuf); err != nil {
		t.Fatalf("WriteTar: %v", err)
	}
	res2, err := snapshot.StoreTar(ctx, r.repo, bytes.NewReader(tarBuf.Bytes()), snapshot.StoreOptions{Pol: r.pol})
	if err != nil {
		t.Fatalf("StoreTar: %v", err)
	}
	if err := r.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	list := func(tree object.ID) []string {
		var out []string
		err := snapshot.Walk(ctx, r.repo, tree, func(p string, n *snapshot.Node) error {
			out = append(out, fmt.Sprintf("%q %v %04o %d %d %x %q", p, n.Type, n.Mode, n.MTime, n.Size, n.Content, n.Target))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b := list(res.Tree), list(res2.Tree)
	if !slices.Equal(a, b) {
		for i := range max(len(a), len(b)) {
			var x, y string
			if i < len(a) {
				x = a[i]
			}
			if i < len(b) {
				y = b[i]
			}
			if x != y {
				t.Errorf("stored   %s\nimported %s", x, y)
			}
		}
	}
}
