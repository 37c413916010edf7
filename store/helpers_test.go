package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store/config"
	"github.com/silo-dev/silo/store/storetest"
)

// longTests reports whether the heavy variants run (SILO_LONG_TESTS=1).
func longTests() bool { return testutil.Long() }

// testClock is an injected clock that moves only when told to.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *testClock { return &testClock{t: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// t0 is the start of every injected clock: a fixed instant in the past, so
// that file times (wall clock) are always younger than anything the clock
// says.
var t0 = time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC)

// testEnv is a repository in a temporary directory with its configuration.
type testEnv struct {
	dir   string // holds repo/, cache/, backup/ and the test's source trees
	cfg   *config.Config
	clock *testClock
	s     *Store
}

// testConfig returns a configuration rooted in dir: repository dir/repo,
// small packs so that tests see several, backups to dir/backup.
func testConfig(dir string) *config.Config {
	cfg := config.Default()
	cfg.BasePath = filepath.Join(dir, "repo")
	cfg.CacheDir = filepath.Join(dir, "xdg-cache")
	cfg.Backup.Destination = filepath.Join(dir, "backup")
	cfg.PackSize = 1 << 20
	return cfg
}

// newEnv creates a repository. mods change the configuration first.
func newEnv(t testing.TB, mods ...func(*config.Config)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{dir: dir, cfg: testConfig(dir), clock: newClock(t0)}
	for _, m := range mods {
		m(e.cfg)
	}
	e.s = e.open(t)
	t.Cleanup(func() { e.close(t) })
	return e
}

// open opens the environment's repository (creating it when missing).
func (e *testEnv) open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Config: e.cfg, Create: true, Now: e.clock.Now, LockTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", e.cfg.BasePath, err)
	}
	return s
}

// close runs bbolt's consistency check and closes the store (if open).
func (e *testEnv) close(t testing.TB) {
	t.Helper()
	if e.s == nil || e.s.closed {
		return
	}
	if err := e.s.db.Check(); err != nil {
		t.Errorf("index.db consistency: %v", err)
	}
	if err := e.s.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// path returns a path under the environment's directory.
func (e *testEnv) path(elem ...string) string {
	return filepath.Join(append([]string{e.dir}, elem...)...)
}

// save stores dir as a new version of project and fails the test on error.
func (e *testEnv) save(t testing.TB, dir, project string, mods ...func(*SaveOptions)) *SaveResult {
	t.Helper()
	opts := SaveOptions{Project: project}
	for _, m := range mods {
		m(&opts)
	}
	res, err := e.s.Save(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("save %s as %s: %v", dir, project, err)
	}
	return res
}

// checkClean runs Check with ReadData and fails on any problem.
func checkClean(t testing.TB, s *Store) *CheckReport {
	t.Helper()
	rep, err := s.Check(context.Background(), CheckOptions{ReadData: true})
	if err != nil {
		var msgs []string
		if rep != nil {
			for _, p := range rep.Problems {
				msgs = append(msgs, p.String())
			}
		}
		t.Fatalf("check --read-data: %v\n%s", err, strings.Join(msgs, "\n"))
	}
	return rep
}

// ---- content ----

func rng(seed uint64) *rand.ChaCha8 {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	key[31] = 0x5a
	return rand.NewChaCha8(key)
}

var words = strings.Fields("func return package import struct interface error string select defer go chan map range const var type nil true false project snapshot chunk")

// textBytes returns n bytes of source-like text (compressible) determined by
// seed.
func textBytes(seed uint64, n int) []byte {
	r := rng(seed)
	var b bytes.Buffer
	var x [8]byte
	for b.Len() < n {
		r.Read(x[:])
		for _, c := range x[:5] {
			b.WriteString(words[int(c)%len(words)])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d\n", x[5])
	}
	return b.Bytes()[:n]
}

// writeFile writes data at root/rel, creating directories.
func writeFile(t testing.TB, root, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeTree writes files (slash path -> content) under root.
func writeTree(t testing.TB, root string, files map[string][]byte) {
	t.Helper()
	for rel, data := range files {
		writeFile(t, root, rel, data)
	}
}

// smallProject writes a project of a few files under root: some text
// (compressible), some random bytes, a symlink and an empty directory;
// seed varies every file.
func smallProject(t testing.TB, root string, seed uint64, kib int) {
	t.Helper()
	writeTree(t, root, map[string][]byte{
		"README.md":        fmt.Appendf(nil, "# project %d\n", seed),
		"src/main.go":      textBytes(seed*10+1, kib<<10/2),
		"src/util/util.go": textBytes(seed*10+2, 3000),
		"assets/blob.bin":  testutil.RandomBytes(seed*10+3, kib<<10/2),
		"empty.txt":        nil,
	})
	if err := os.MkdirAll(filepath.Join(root, "empty-dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("src/main.go", filepath.Join(root, "link")); err != nil && !errors.Is(err, fs.ErrExist) {
		t.Fatal(err)
	}
}

// ---- manifests ----

// manifest is a tree's exact state (see storetest.Manifest).
type manifest = storetest.Manifest

func takeManifest(t testing.TB, root string) manifest { return storetest.Take(t, root) }

// restoreMatches restores ref from s into a new directory and compares it
// with want.
func restoreMatches(t testing.TB, s *Store, ref string, want manifest) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "restore")
	if _, _, err := s.Restore(context.Background(), ref, dest, RestoreOptions{}); err != nil {
		t.Fatalf("restore %s: %v", ref, err)
	}
	if d := want.Diff(takeManifest(t, dest)); len(d) > 0 {
		t.Fatalf("restore of %s differs:\n  %s", ref, strings.Join(d, "\n  "))
	}
	os.RemoveAll(dest)
}

// ---- repository internals the tests measure ----

// packBytes sums the sizes of the pack files on disk (not the index).
func packBytes(t testing.TB, s *Store) (n int64, count int) {
	t.Helper()
	err := s.be.List(context.Background(), "packs/", func(fi object.FileInfo) error {
		if _, ok := object.ParsePackName(fi.Name); ok {
			n += fi.Size
			count++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, count
}

// packFiles lists the pack names on disk with their sizes.
func packFiles(t testing.TB, s *Store) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := s.be.List(context.Background(), "packs/", func(fi object.FileInfo) error {
		if _, ok := object.ParsePackName(fi.Name); ok {
			out[fi.Name] = fi.Size
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// indexedBlobs returns every blob location in the index.
func indexedBlobs(t testing.TB, s *Store) map[object.ID]object.Location {
	t.Helper()
	out := map[object.ID]object.Location{}
	err := s.db.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error { out[l.ID] = l; return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// reachable returns the blobs (snapshot, trees, data) that the given
// snapshots refer to.
func reachable(t testing.TB, s *Store, snaps []object.ID) map[object.ID]bool {
	t.Helper()
	ctx := context.Background()
	out := map[object.ID]bool{}
	var walk func(tree object.ID)
	walk = func(tree object.ID) {
		if out[tree] {
			return
		}
		out[tree] = true
		trees, data, err := s.children(ctx, tree)
		if err != nil {
			t.Fatalf("tree %s: %v", tree, err)
		}
		for _, d := range data {
			out[d] = true
		}
		for _, c := range trees {
			walk(c)
		}
	}
	for _, id := range snaps {
		out[id] = true
		var tree object.ID
		err := s.db.View(func(tx *index.Tx) error {
			sn, err := catalog.LoadSnapshot(tx, id)
			if err == nil {
				tree = sn.Tree
			}
			return err
		})
		if err != nil {
			t.Fatalf("snapshot %s: %v", id, err)
		}
		walk(tree)
	}
	return out
}

// versionIDs returns a project's version ids, newest first.
func versionIDs(t testing.TB, s *Store, ref string) []object.ID {
	t.Helper()
	p, err := s.Get(ref)
	if err != nil {
		t.Fatalf("get %s: %v", ref, err)
	}
	var out []object.ID
	for _, v := range p.Versions {
		id, err := object.ParseID(v.ID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

// catalogueDump is the whole catalogue as List and Get see it, for
// before/after comparisons.
func catalogueDump(t testing.TB, s *Store) map[string]Project {
	t.Helper()
	list, err := s.List(Filter{Status: "all"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]Project{}
	for _, it := range list {
		p, err := s.Get(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[p.ID] = *p
	}
	return out
}

// copyRepo copies a repository directory (cp -a semantics for what a
// repository holds: regular files and directories).
func copyRepo(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}
