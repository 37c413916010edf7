package store

// Fault injection under the local backend (object.NewLocalFS with an
// errorfs wrapper): a disk that fills at operation N of a store, and a
// read-only mount. index.db is bbolt's own file and stays outside the
// seam; everything in the backend (packs, their temp files, config,
// records, leases) goes through it.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/object/errorfs"
)

// faultRepo is a repository holding one version of project p, and a
// changed source tree whose store the tests break.
type faultRepo struct {
	dir     string // template repository, copied per run
	src     string // the changed tree
	v1      object.ID
	v1Files manifest
}

func makeFaultRepo(t *testing.T) *faultRepo {
	t.Helper()
	base := t.TempDir()
	cfg := testConfig(base)
	s, err := Open(context.Background(), Options{Config: cfg, Create: true, Now: newClock(t0).Now})
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(base, "src")
	smallProject(t, src, 1, 64)
	res, err := s.Save(context.Background(), src, SaveOptions{Project: "p"})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	r := &faultRepo{dir: cfg.BasePath, src: src, v1: res.Snapshot, v1Files: takeManifest(t, src)}
	// the second version: a changed file, a new one (new chunks, new
	// trees, a snapshot and a meta record to write)
	writeFile(t, src, "src/main.go", textBytes(77, 40<<10))
	writeFile(t, src, "assets/new.bin", testutil.RandomBytes(78, 300<<10))
	return r
}

// open copies the template repository and opens the copy on fsys.
func (r *faultRepo) open(t *testing.T, fsys object.FS) (*Store, string, error) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir)
	copyRepo(t, r.dir, cfg.BasePath)
	s, err := Open(context.Background(), Options{Config: cfg, Now: newClock(t0.Add(3600e9)).Now,
		Backend: object.NewLocalFS(cfg.BasePath, fsys)})
	return s, cfg.BasePath, err
}

// reopenHealthy opens repo on the real file system, two hours on.
func reopenHealthy(t *testing.T, repo string) *Store {
	t.Helper()
	cfg := testConfig(filepath.Dir(repo))
	s, err := Open(context.Background(), Options{Config: cfg, Now: newClock(t0.Add(7200e9)).Now})
	if err != nil {
		t.Fatalf("reopen on a healthy disk: %v", err)
	}
	return s
}

// reopenIntact opens repo on the real file system and proves the store
// that failed there lost nothing and recorded nothing: project p has
// exactly its first version, which restores, and check --read-data is
// clean.
func (r *faultRepo) reopenIntact(t *testing.T, repo string) {
	t.Helper()
	s := reopenHealthy(t, repo)
	defer s.Close()
	if got := versionIDs(t, s, "p"); len(got) != 1 || got[0] != r.v1 {
		t.Fatalf("versions after the failed store: %v, want only %s", got, r.v1.Short())
	}
	checkClean(t, s)
	restoreMatches(t, s, r.v1.String(), r.v1Files)
	if err := s.db.Check(); err != nil {
		t.Fatalf("index.db consistency: %v", err)
	}
}

// reopenStored opens repo on the real file system after a store that
// succeeded although write n failed: both versions are there, the new one
// restores as the source tree is, and check --read-data is clean.
func (r *faultRepo) reopenStored(t *testing.T, repo string, n int64) {
	t.Helper()
	s := reopenHealthy(t, repo)
	defer s.Close()
	got := versionIDs(t, s, "p")
	if len(got) != 2 || got[1] != r.v1 {
		t.Fatalf("disk full at write %d, the store succeeded, but the versions are %v", n, got)
	}
	checkClean(t, s)
	restoreMatches(t, s, got[0].String(), takeManifest(t, r.src))
}

// countOps counts the operations of the kinds ops an open of r and a
// store of its source into project "p" make, none failing.
func (r *faultRepo) countOps(t *testing.T, ops errorfs.Predicate) int64 {
	t.Helper()
	count := errorfs.FailNth(0, nil, ops, false)
	s, _, err := r.open(t, errorfs.Wrap(object.OSFS, count))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(context.Background(), r.src, SaveOptions{Project: "p"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	return count.Seen()
}

// TestSaveDiskFullAtEveryWrite fills the disk (ENOSPC on that write and
// every later one) at each write the store of a second version makes. The
// store fails naming the file it could not write, records no version, and
// once space is back the repository checks clean and the first version
// restores.
func TestSaveDiskFullAtEveryWrite(t *testing.T) {
	r := makeFaultRepo(t)
	ctx := context.Background()
	total := r.countOps(t, errorfs.Writes) // a healthy run counts the writes
	if total < 10 {
		t.Fatalf("a store made only %d writes through the backend's FS: the seam misses some", total)
	}
	t.Logf("a store makes %d writes", total)

	failed := 0
	for n := int64(1); n <= total; n++ {
		inj := errorfs.FailNth(n, syscall.ENOSPC, errorfs.Writes, true)
		s, repo, err := r.open(t, errorfs.Wrap(object.OSFS, inj))
		if err == nil {
			_, err = s.Save(ctx, r.src, SaveOptions{Project: "p"})
			s.Close()
		}
		if inj.Hits() == 0 {
			// the writes differ a little from run to run (pack workers,
			// leases): this run ended before the N-th
			if err != nil {
				t.Fatalf("disk full at write %d, never reached: %v", n, err)
			}
			continue
		}
		if err == nil {
			// the disk filled after the commit (the lease's removal is
			// the last write): the version is recorded and whole
			r.reopenStored(t, repo, n)
			continue
		}
		failed++
		msg := err.Error()
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("disk full at write %d: error does not wrap ENOSPC: %v", n, err)
		}
		if !strings.Contains(msg, repo+string(os.PathSeparator)) {
			t.Fatalf("disk full at write %d: error names no file of the repository %s: %v", n, repo, err)
		}
		r.reopenIntact(t, repo)
	}
	if failed < int(total)/2 {
		t.Fatalf("only %d of %d injected failures reached the store", failed, total)
	}
}

// TestSaveReadOnlyFS stores into a repository whose file system refuses
// every change (EROFS): the store fails saying so and naming the file,
// the catalogue still reads, and nothing is lost.
func TestSaveReadOnlyFS(t *testing.T) {
	r := makeFaultRepo(t)
	ctx := context.Background()
	inj := errorfs.FailEvery(syscall.EROFS, errorfs.Mutations)
	s, repo, err := r.open(t, errorfs.Wrap(object.OSFS, inj))
	if err != nil {
		t.Fatalf("open on a read-only file system: %v", err)
	}
	_, err = s.Save(ctx, r.src, SaveOptions{Project: "p"})
	if err == nil {
		t.Fatal("a store onto a read-only file system succeeded")
	}
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), repo+string(os.PathSeparator)) {
		t.Fatalf("store onto a read-only file system: want EROFS naming a file under %s, got: %v", repo, err)
	}
	if inj.Hits() == 0 {
		t.Fatal("no write reached the file system")
	}
	// reads that need no session work; a restore needs a lease, which a
	// read-only mount cannot hold: it restores or says why, never half
	if snaps, err := s.Snapshots("p"); err != nil || len(snaps) != 1 {
		t.Fatalf("versions on a read-only file system: %v, %v", snaps, err)
	}
	dest := filepath.Join(t.TempDir(), "restore")
	if _, _, err := s.Restore(ctx, r.v1.String(), dest, RestoreOptions{}); err == nil {
		if d := r.v1Files.Diff(takeManifest(t, dest)); len(d) > 0 {
			t.Fatalf("restore on a read-only file system differs:\n  %s", strings.Join(d, "\n  "))
		}
	} else if !errors.Is(err, syscall.EROFS) {
		t.Fatalf("restore on a read-only file system: %v", err)
	}
	s.Close()
	r.reopenIntact(t, repo)
}

// TestSaveIOErrorAtEveryOp fails one operation of a store (EIO, once),
// any kind, reads and stats too: the store either fails, recording
// nothing and losing nothing, or succeeds with a whole version. Every
// operation is tried with SILO_LONG_TESTS=1; otherwise every third.
func TestSaveIOErrorAtEveryOp(t *testing.T) {
	r := makeFaultRepo(t)
	ctx := context.Background()
	total := r.countOps(t, errorfs.Any)
	step := int64(3)
	if longTests() {
		step = 1
	}
	t.Logf("open and store make %d file operations", total)
	failed := 0
	for n := int64(1); n <= total; n += step {
		inj := errorfs.FailNth(n, syscall.EIO, errorfs.Any, false)
		s, repo, err := r.open(t, errorfs.Wrap(object.OSFS, inj))
		if err == nil {
			_, err = s.Save(ctx, r.src, SaveOptions{Project: "p"})
			s.Close()
		}
		switch {
		case err == nil && inj.Hits() > 0:
			r.reopenStored(t, repo, n)
		case err == nil:
		case !errors.Is(err, syscall.EIO):
			t.Fatalf("EIO at operation %d: error does not wrap EIO: %v", n, err)
		default:
			failed++
			r.reopenIntact(t, repo)
		}
	}
	if failed == 0 {
		t.Fatal("no injected error failed a store")
	}
}
