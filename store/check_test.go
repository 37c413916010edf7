package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// checkFlipByte inverts one byte of a pack file in place.
func checkFlipByte(t testing.TB, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// flipBlob flips a byte in the middle of a blob's stored bytes and returns
// a function that flips it back.
func flipBlob(t testing.TB, e *testEnv, id object.ID) (pack object.ID, undo func()) {
	t.Helper()
	loc, ok := indexedBlobs(t, e.s)[id]
	if !ok {
		t.Fatalf("blob %s not indexed", id.Short())
	}
	path := filepath.Join(e.cfg.BasePath, filepath.FromSlash(object.PackName(loc.Pack)))
	off := int64(loc.Offset) + int64(loc.Length)/2
	checkFlipByte(t, path, off)
	return loc.Pack, func() { checkFlipByte(t, path, off) }
}

// problemFor returns the problems about blob.
func problemsFor(rep *CheckReport, blob object.ID) []Problem {
	var out []Problem
	for _, p := range rep.Problems {
		if p.Blob == blob.String() {
			out = append(out, p)
		}
	}
	return out
}

func versionsOf(p Problem) []string {
	var out []string
	for _, v := range p.Snapshots {
		out = append(out, v.Snapshot)
	}
	slices.Sort(out)
	return out
}

// TestCheckNamesEveryVersion: three versions share a subtree whose data
// blob is damaged; check names all three (not only the first one walked),
// each path in each, and no version that lacks the blob. The same holds
// for a damaged tree blob, named by its directory.
func TestCheckNamesEveryVersion(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.path("src")
	data := randomBytes(91, 64<<10)
	writeTree(t, src, map[string][]byte{
		"shared/lib/data.bin": data,
		"shared/copy.bin":     data, // the same blob at a second path
		"shared/lib/ok.txt":   []byte("fine"),
		"a.txt":               []byte("one"),
	})
	var damaged []object.ID // the versions that hold the shared subtree
	for i, content := range []string{"one", "two", "three"} {
		writeFile(t, src, "a.txt", []byte(content))
		if i == 2 {
			writeFile(t, src, "b.txt", []byte("new"))
		}
		damaged = append(damaged, e.save(t, src, "demo").Snapshot)
	}
	if err := os.RemoveAll(filepath.Join(src, "shared")); err != nil {
		t.Fatal(err)
	}
	clean := []object.ID{e.save(t, src, "demo").Snapshot}
	other := e.path("other")
	smallProject(t, other, 5, 64)
	clean = append(clean, e.save(t, other, "other").Snapshot)
	checkClean(t, e.s)

	info, err := e.s.ResolveSnapshot(damaged[0].String())
	if err != nil {
		t.Fatal(err)
	}
	file, err := snapshot.Find(ctx, e.s.repo, info.snap.Tree, "shared/lib/data.bin")
	if err != nil {
		t.Fatal(err)
	}
	lib, err := snapshot.Find(ctx, e.s.repo, info.snap.Tree, "shared/lib")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, id := range damaged {
		want = append(want, id.String())
	}
	slices.Sort(want)

	for _, tc := range []struct {
		name     string
		blob     object.ID
		readData bool
		kind     string
		paths    []string // per damaged version
		notPaths []string
	}{
		{"data blob", file.Content[0], true, "corrupt-blob", []string{"/shared/lib/data.bin", "/shared/copy.bin"}, []string{"/shared/lib/ok.txt"}},
		{"tree blob", lib.Subtree, true, "corrupt-blob", []string{"/shared/lib/"}, []string{"/shared/copy.bin", "/shared/lib/data.bin"}},
		{"tree blob without read-data", lib.Subtree, false, "bad-tree", []string{"/shared/lib/"}, []string{"/shared/copy.bin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, undo := flipBlob(t, e, tc.blob)
			defer undo()
			rep, err := e.s.Check(ctx, CheckOptions{ReadData: tc.readData})
			if !errors.Is(err, ErrCheckFailed) {
				t.Fatalf("Check = %v, want ErrCheckFailed", err)
			}
			probs := problemsFor(rep, tc.blob)
			if len(probs) != 1 || probs[0].Kind != tc.kind {
				t.Fatalf("problems about %s: %+v, want one %s", tc.blob.Short(), probs, tc.kind)
			}
			p := probs[0]
			if got := versionsOf(p); !slices.Equal(got, want) {
				t.Errorf("versions named: %v\nwant every version holding the blob: %v", got, want)
			}
			for _, id := range clean {
				if slices.Contains(versionsOf(p), id.String()) {
					t.Errorf("version %s, which lacks the blob, is named", id.Short())
				}
				for _, path := range p.Paths {
					if strings.HasSuffix(path, "@"+id.Short()) {
						t.Errorf("path %s of a version that lacks the blob", path)
					}
				}
			}
			if !slices.Equal(p.Projects, []string{"demo"}) {
				t.Errorf("projects %v, want [demo]", p.Projects)
			}
			for _, id := range damaged {
				for _, path := range tc.paths {
					if w := "demo:" + path + "@" + id.Short(); !slices.Contains(p.Paths, w) {
						t.Errorf("paths %v lack %s", p.Paths, w)
					}
				}
				for _, path := range tc.notPaths {
					if w := "demo:" + path + "@" + id.Short(); slices.Contains(p.Paths, w) {
						t.Errorf("paths name %s, which does not use the blob", w)
					}
				}
			}
			wantCount := int64(len(damaged) * len(tc.paths))
			if p.PathCount != wantCount || int64(len(p.Paths)) != wantCount {
				t.Errorf("path count %d, %d listed; want %d", p.PathCount, len(p.Paths), wantCount)
			}
			for _, v := range p.Snapshots {
				if v.Project != "demo" || v.Paths != int64(len(tc.paths)) {
					t.Errorf("version %+v, want project demo with %d paths", v, len(tc.paths))
				}
			}
			// the text names every version too
			for _, id := range damaged {
				if s := p.String(); !strings.Contains(s, "demo@"+id.Short()) {
					t.Errorf("String() does not name version %s:\n%s", id.Short(), s)
				}
			}
		})
	}
	checkClean(t, e.s)
}

// TestProblemStringSaysHowManyMore: the text output caps the paths it
// prints but says how many it left out.
func TestProblemStringSaysHowManyMore(t *testing.T) {
	p := Problem{Kind: "corrupt-blob", Message: "hash mismatch", PathCount: 1500,
		Snapshots: []AffectedVersion{{Snapshot: strings.Repeat("ab", 32), Project: "demo", Paths: 1500}}}
	for i := range MaxPathsPerVersion {
		p.Paths = append(p.Paths, fmt.Sprintf("demo:/f%04d@abababab", i))
	}
	s := p.String()
	if n := strings.Count(s, "used by "); n != printedPaths {
		t.Errorf("printed %d paths, want %d", n, printedPaths)
	}
	if !strings.Contains(s, fmt.Sprintf("and %d more path(s)", 1500-printedPaths)) {
		t.Errorf("String() does not say how many paths it left out:\n%s", s)
	}
	if !strings.Contains(s, "demo@abababab (1500 path(s))") {
		t.Errorf("String() does not name the version:\n%s", s)
	}
}

// heapGrowth runs fn and returns how far the heap grew above what it was
// before, sampling runtime.ReadMemStats meanwhile.
func heapGrowth(fn func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	peak.Store(base)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	<-done
	return peak.Load() - base
}

// saveDeepChain records a version whose tree is depth directories "d",
// one inside the other, with the file "f" holding content at the bottom:
// trees built bottom-up with snapshot.EncodeTree, as a blob-protocol
// client would upload them (the walk and tar limits do not apply).
func saveDeepChain(t testing.TB, e *testEnv, project string, depth int, content []byte) (*SaveResult, object.ID) {
	t.Helper()
	ctx := context.Background()
	data := object.Hash(content)
	res, err := e.s.saveWith(ctx, &SaveOptions{Project: project}, "test", func(w *object.Writer, _ snapshot.StoreOptions) (*snapshot.StoreResult, error) {
		if _, err := w.SaveBlob(ctx, object.DataBlob, data, content); err != nil {
			return nil, err
		}
		mtime := t0.UnixNano()
		nodes := []snapshot.Node{{Name: "f", Type: snapshot.File, Mode: 0o644, MTime: mtime, Size: uint64(len(content)), Content: []object.ID{data}}}
		var tree object.ID
		for i := 0; ; i++ {
			enc := snapshot.EncodeTree(nodes)
			tree = object.Hash(enc)
			if _, err := w.SaveBlob(ctx, object.TreeBlob, tree, enc); err != nil {
				return nil, err
			}
			if i == depth {
				break
			}
			nodes = []snapshot.Node{{Name: "d", Type: snapshot.Dir, Mode: 0o755, MTime: mtime, Subtree: tree}}
		}
		return &snapshot.StoreResult{Tree: tree, RootMode: 0o755, RootMTime: mtime,
			Stats: snapshot.StoreStats{FilesNew: 1, Dirs: int64(depth), Size: int64(len(content))}}, nil
	})
	if err != nil {
		t.Fatalf("save a %d-deep tree: %v", depth, err)
	}
	return res, data
}

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
