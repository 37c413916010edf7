//go:build unix

package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// openDeep opens the directory depth levels of "d" below root, one level
// at a time (the path is longer than PATH_MAX), holding one descriptor.
func openDeep(root string, depth int) (int, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	for i := range depth {
		next, err := unix.Openat(fd, "d", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("level %d: %w", i+1, err)
		}
		fd = next
	}
	return fd, nil
}

// dirNames lists a directory given by descriptor without moving its offset.
func dirNames(fd int) ([]string, error) {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), ".")
	defer f.Close()
	return f.Readdirnames(-1)
}

// removeDeep removes a tree of any depth holding one descriptor at a time
// (os.RemoveAll holds one per level and runs out of them).
func removeDeep(root string) error {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	var names []string // the path from root to fd
	for {
		ents, err := dirNames(fd)
		if err != nil {
			unix.Close(fd)
			return err
		}
		descended := false
		for _, n := range ents {
			if err := unix.Unlinkat(fd, n, 0); err == nil {
				continue
			}
			child, err := unix.Openat(fd, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				unix.Close(fd)
				return err
			}
			unix.Close(fd)
			fd, names, descended = child, append(names, n), true
			break
		}
		if descended {
			continue
		}
		if len(names) == 0 {
			unix.Close(fd)
			return os.Remove(root)
		}
		parent, err := unix.Openat(fd, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return err
		}
		if err := unix.Unlinkat(parent, names[len(names)-1], unix.AT_REMOVEDIR); err != nil {
			unix.Close(parent)
			return err
		}
		fd, names = parent, names[:len(names)-1]
	}
}

// deepDest is a restore destination removed with removeDeep before the
// test's temporary directory is.
func deepDest(t *testing.T) string {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "deep")
	t.Cleanup(func() {
		if err := removeDeep(dest); err != nil {
			t.Errorf("remove %s: %v", dest, err)
		}
	})
	return dest
}

// TestDeepTreeCheckRestoreMemory: a version 20,000 directories deep
// checks and restores within bounded memory (no path string per level)
// and within the descriptor limit; with its data blob damaged, check
// names the full path and a restore that continues leaves the file out.
func TestDeepTreeCheckRestoreMemory(t *testing.T) {
	const depth = 20000
	limit := uint64(100 << 20)
	if raceDetector {
		limit *= 3 // the old code grew by over 400 MiB without the detector
	}
	e := newEnv(t)
	ctx := context.Background()
	content := []byte("at the bottom\n")
	res, data := saveDeepChain(t, e, "deep", depth, content)

	var rep *CheckReport
	var err error
	grew := heapGrowth(func() { rep, err = e.s.Check(ctx, CheckOptions{ReadData: true}) })
	if err != nil {
		t.Fatalf("check of a %d-deep tree: %v", depth, err)
	}
	if rep.Trees != depth+1 {
		t.Errorf("check walked %d trees, want %d", rep.Trees, depth+1)
	}
	if grew > limit {
		t.Errorf("check of a %d-deep tree grew the heap by %d MiB", depth, grew>>20)
	}
	t.Logf("check: heap +%d KiB", grew>>10)

	dest := deepDest(t)
	grew = heapGrowth(func() { _, _, err = e.s.Restore(ctx, "deep", dest, RestoreOptions{}) })
	if err != nil {
		t.Fatalf("restore of a %d-deep tree: %v", depth, err)
	}
	if grew > limit {
		t.Errorf("restore of a %d-deep tree grew the heap by %d MiB", depth, grew>>20)
	}
	t.Logf("restore: heap +%d KiB", grew>>10)
	fd, err := openDeep(dest, depth)
	if err != nil {
		t.Fatalf("restored tree: %v", err)
	}
	ffd, err := unix.Openat(fd, "f", unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	unix.Close(fd)
	if err != nil {
		t.Fatalf("the file at the bottom: %v", err)
	}
	f := os.NewFile(uintptr(ffd), "f")
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(got) != string(content) {
		t.Errorf("the file at the bottom holds %q (%v), want %q", got, err, content)
	}

	// damage the file's blob: check names the path 20,000 levels down
	_, undo := flipBlob(t, e, data)
	defer undo()
	grew = heapGrowth(func() { rep, err = e.s.Check(ctx, CheckOptions{ReadData: true}) })
	if !errors.Is(err, ErrCheckFailed) {
		t.Fatalf("check of a damaged deep tree = %v", err)
	}
	if grew > limit {
		t.Errorf("check of a damaged %d-deep tree grew the heap by %d MiB", depth, grew>>20)
	}
	wantPath := "/" + strings.Repeat("d/", depth) + "f"
	probs := problemsFor(rep, data)
	if len(probs) != 1 || len(probs[0].Paths) != 1 || probs[0].Paths[0] != "deep:"+wantPath+"@"+res.Snapshot.Short() {
		t.Fatalf("problems about the damaged blob: %d, want one naming the %d-deep path", len(probs), depth)
	}
	dest2 := deepDest(t)
	var st *snapshot.RestoreStats
	grew = heapGrowth(func() { st, _, err = e.s.Restore(ctx, "deep", dest2, RestoreOptions{ContinueOnError: true}) })
	if !errors.Is(err, object.ErrCorrupt) || st == nil || len(st.Skipped) != 1 || st.Skipped[0].Path != wantPath[1:] {
		t.Fatalf("restore --continue-on-error of the damaged deep tree = %v, stats %v", err, st != nil)
	}
	if grew > limit {
		t.Errorf("restore of a damaged %d-deep tree grew the heap by %d MiB", depth, grew>>20)
	}
	fd, err = openDeep(dest2, depth)
	if err != nil {
		t.Fatalf("restored tree: %v", err)
	}
	names, err := dirNames(fd)
	unix.Close(fd)
	if err != nil || len(names) != 0 {
		t.Errorf("the bottom directory holds %v (%v), want nothing in place of the damaged file", names, err)
	}
}
