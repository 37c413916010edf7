package snapshot_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
	start := time.Now()
	res, err := snapshot.StoreTar(ctx, r.repo, bytes.NewReader(data), snapshot.StoreOptions{Pol: r.pol,
		Visit: func(p string, n *snapshot.Node) {
			if p != deepPath {
				t.Errorf("visited %d-byte path, want the %d-byte one", len(p), len(deepPath))
			}
			atFile = liveHeap() - base
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
	if atFile <= 0 || atFile > bound {
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

// TestDeepTarRestores restores deep imports and reads them back level by
// level (no path of that length can be opened whole): a path of 6,001
// bytes, past PATH_MAX, and the hostile 20,001 levels. Restore holds a
// descriptor per level it is in, so the deepest one is tried only where
// RLIMIT_NOFILE allows 20,001.
func TestDeepTarRestores(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	for _, depth := range []int{3001, 20001} {
		if uint64(depth)+64 > lim.Cur {
			t.Logf("depth %d: not restored: restore holds a descriptor per level, RLIMIT_NOFILE is %d", depth, lim.Cur)
			continue
		}
		data, _ := deepTar(t, depth)
		r := newTestRepo(t)
		ctx := context.Background()
		res, err := snapshot.StoreTar(ctx, r.repo, bytes.NewReader(data), snapshot.StoreOptions{Pol: r.pol})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.repo.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(t.TempDir(), "restored")
		_, err = snapshot.Restore(ctx, r.repo, res.Tree, dest, snapshot.RestoreOptions{})
		if err != nil {
			t.Fatalf("restore of depth %d: %.300s", depth, err)
		}
		checkDeep(t, dest, depth)
	}
}

// checkDeep reads a restored deep tree by descending one directory at a
// time: depth-1 directories "a", each holding only the next, and the file
// f with its content, mode and mtime.
func checkDeep(t *testing.T, dest string, depth int) {
	t.Helper()
	fd, err := unix.Open(dest, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for level := 1; level < depth; level++ {
		d := os.NewFile(uintptr(fd), "level")
		names, err := d.Readdirnames(-1)
		if err != nil || len(names) != 1 || names[0] != "a" {
			d.Close()
			t.Fatalf("level %d holds %q, %v; want only a", level, names, err)
		}
		next, err := unix.Openat(fd, "a", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		d.Close()
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		fd = next
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstatat(fd, "f", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatalf("the deepest file: %v", err)
	}
	if st.Mode&0o777 != 0o644 || st.Mtim.Sec != 1700000000 || st.Size != 4 {
		t.Errorf("the deepest file: mode %o, mtime %d, size %d", st.Mode&0o777, st.Mtim.Sec, st.Size)
	}
	ffd, err := unix.Openat(fd, "f", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(ffd), "f")
	defer f.Close()
	if got, err := io.ReadAll(f); err != nil || string(got) != "xxxx" {
		t.Errorf("the deepest file holds %q, %v", got, err)
	}
}
