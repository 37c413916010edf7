package snapshot_test

import (
	"archive/tar"
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// deepTar is a tar of one 4-byte file under depth-1 directories named
// "a": at depth 20,001 it is the hostile acceptance check's 50 KB tar
// (a 40,001-byte path).
func deepTar(t testing.TB, depth int) ([]byte, string) {
	t.Helper()
	name := strings.Repeat("a/", depth-1) + "f"
	return hostileTar(t, &tar.Header{Name: name, Size: 4}), name
}

// liveHeap is the heap still reachable after a collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestDeepTarLinearMemory imports the hostile tar of one path 20,001
// levels deep, then walks and diffs the tree, measuring the heap that is
// live at the deepest point of each: where keeping a path per level
// (what the import, Walk and Diff did) holds the sum of the paths'
// lengths, 20,001 x 20 KB on average = 400 MB. Now it is the nodes and
// one path buffer: linear in the depth.
func TestDeepTarLinearMemory(t *testing.T) {
	const depth = 20001
	const bound = 64 << 20 // the nodes, trees and buffers of 20,001 levels, with room
	data, deepPath := deepTar(t, depth)
	if len(data) > 60<<10 {
		t.Fatalf("the deep tar is %d bytes", len(data))
	}
	r := newTestRepo(t)
	ctx := context.Background()

	base := liveHeap()
	var atFile int64
	visited := false
	start := time.Now()
	res, err := snapshot.StoreTar(ctx, r.repo, bytes.NewReader(data), snapshot.StoreOptions{Pol: r.pol,
		Visit: func(p string, n *snapshot.Node) {
			if p != deepPath {
				t.Errorf("visited %d-byte path, want the %d-byte one", len(p), len(deepPath))
			}
			atFile, visited = liveHeap()-base, true
		}})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("import of a path %d levels deep: %v", depth, err)
	}
	if err := r.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if res.Stats.FilesNew != 1 || res.Stats.Size != 4 {
		t.Fatalf("stats %+v", res.Stats)
	}
	t.Logf("import: %v, %.1f MiB live at the deepest file", took, float64(atFile)/(1<<20))
	// the heap may also have shrunk since base (a collection freed what
	// the repository held then): only growth past the bound fails
	if !visited || atFile > bound {
		t.Errorf("import: %d MiB live at the deepest file, want under %d", atFile>>20, bound>>20)
	}
	if took > 10*time.Second && !raceDetector {
		t.Errorf("import took %v", took)
	}

	base = liveHeap()
	var atWalk int64
	entries := 0
	err = snapshot.Walk(ctx, r.repo, res.Tree, func(p string, n *snapshot.Node) error {
		entries++
		if n.Type == snapshot.File {
			if p != deepPath {
				t.Errorf("walk: file at a %d-byte path, want %d", len(p), len(deepPath))
			}
			atWalk = liveHeap() - base
		}
		return nil
	})
	if err != nil || entries != depth {
		t.Fatalf("walk: %d entries, %v; want %d", entries, err, depth)
	}
	t.Logf("walk: %.1f MiB live at the deepest file", float64(atWalk)/(1<<20))
	if atWalk > bound {
		t.Errorf("walk: %d MiB live at the deepest file, want under %d", atWalk>>20, bound>>20)
	}

	base = liveHeap()
	var atDiff int64
	added := 0
	err = snapshot.Diff(ctx, r.repo, object.ID{}, res.Tree, func(c snapshot.Change) error {
		added++
		if c.Kind != "added" {
			t.Errorf("diff from nothing: %s %s", c.Kind, c.Type)
		}
		if c.Type == "file" {
			if c.Path != deepPath {
				t.Errorf("diff: file at a %d-byte path, want %d", len(c.Path), len(deepPath))
			}
			atDiff = liveHeap() - base
		}
		return nil
	})
	if err != nil || added != depth {
		t.Fatalf("diff: %d changes, %v; want %d", added, err, depth)
	}
	t.Logf("diff: %.1f MiB live at the deepest file", float64(atDiff)/(1<<20))
	if atDiff > bound {
		t.Errorf("diff: %d MiB live at the deepest file, want under %d", atDiff>>20, bound>>20)
	}
}
