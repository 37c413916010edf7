package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// checkFlipByte inverts one byte of a pack file in place.
func checkFlipByte(t testing.TB, path string, off int64) { testutil.FlipByte(t, path, off, 0xff) }

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
	data := testutil.RandomBytes(91, 64<<10)
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
