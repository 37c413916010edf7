package object_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/object/backendtest"
	"github.com/silo-dev/silo/object/errorfs"
)

// virtualFS serves the paths under a root that does not exist (virtual)
// from a real directory, and names its files by their virtual paths: any
// operation that bypasses the FS (os.Open of a path it got from Local or
// from a File's name) meets a missing directory and fails.
type virtualFS struct {
	virtual, real string
}

func newVirtualFS(t *testing.T) (*virtualFS, string) {
	virtual := filepath.Join("/nonexistent-silo-virtual-root", filepath.Base(t.TempDir()))
	if _, err := os.Stat(virtual); err == nil {
		t.Fatalf("%s exists", virtual)
	}
	return &virtualFS{virtual: virtual, real: t.TempDir()}, virtual
}

func (v *virtualFS) toReal(p string) string {
	if rest, ok := strings.CutPrefix(p, v.virtual); ok {
		return v.real + rest
	}
	return "/refused-real-path" + p // a path this FS never handed out
}

func (v *virtualFS) toVirtual(p string) string {
	if rest, ok := strings.CutPrefix(p, v.real); ok {
		return v.virtual + rest
	}
	return p
}

type virtualFile struct {
	object.File
	name string
}

func (f virtualFile) Name() string { return f.name }

func (v *virtualFS) CreateTemp(dir, pattern string) (object.File, error) {
	f, err := object.OSFS.CreateTemp(v.toReal(dir), pattern)
	if err != nil {
		return nil, err
	}
	return virtualFile{f, v.toVirtual(f.Name())}, nil
}

func (v *virtualFS) Open(name string) (object.File, error) {
	f, err := object.OSFS.Open(v.toReal(name))
	if err != nil {
		return nil, err
	}
	return virtualFile{f, name}, nil
}

func (v *virtualFS) Rename(a, b string) error { return object.OSFS.Rename(v.toReal(a), v.toReal(b)) }
func (v *virtualFS) Remove(name string) error { return object.OSFS.Remove(v.toReal(name)) }
func (v *virtualFS) Link(a, b string) error {
	return object.OSFS.(object.Linker).Link(v.toReal(a), v.toReal(b))
}
func (v *virtualFS) SyncDir(dir string) error { return object.OSFS.SyncDir(v.toReal(dir)) }
func (v *virtualFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	return object.OSFS.ReadDir(v.toReal(dir))
}
func (v *virtualFS) MkdirAll(dir string, perm fs.FileMode) error {
	return object.OSFS.MkdirAll(v.toReal(dir), perm)
}
func (v *virtualFS) Stat(name string) (fs.FileInfo, error)  { return object.OSFS.Stat(v.toReal(name)) }
func (v *virtualFS) Lstat(name string) (fs.FileInfo, error) { return object.OSFS.Lstat(v.toReal(name)) }

// TestLocalFSConformance runs the backend suite on a Local whose root
// exists only through its FS: every operation of Local goes through it.
func TestLocalFSConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) object.Backend {
		v, root := newVirtualFS(t)
		return object.NewLocalFS(root, v)
	})
}

// TestLocalFSRepository writes, flushes and reads packs of a Repository
// over a Local whose root exists only through its FS: the packs'
// temporary files go through the backend's FS too. RemoveTemporary and
// PutFile are exercised on the way.
func TestLocalFSRepository(t *testing.T) {
	v, root := newVirtualFS(t)
	be := object.NewLocalFS(root, v)
	db, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	repo, err := object.NewRepository(object.RepositoryOptions{Backend: be, Index: db, TempDir: be.TempDir(), PackSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	ctx := context.Background()
	var ids []object.ID
	for i := range 20 {
		b := seededBytes(uint64(i), 20<<10)
		id := object.Hash(b)
		ids = append(ids, id)
		if _, err := repo.SaveBlob(ctx, object.DataBlob, id, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		got, err := repo.LoadBlob(ctx, id, nil)
		if err != nil || !bytes.Equal(got, seededBytes(uint64(i), 20<<10)) {
			t.Fatalf("blob %d: %v", i, err)
		}
	}
	packs := 0
	if err := be.List(ctx, "packs/", func(object.FileInfo) error { packs++; return nil }); err != nil {
		t.Fatal(err)
	}
	if packs < 2 {
		t.Fatalf("%d packs, want several", packs)
	}
	// an old temporary file is swept, through the FS
	old := filepath.Join(v.real, "packs", ".tmp-old")
	if err := os.WriteFile(old, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-2 * time.Hour)
	os.Chtimes(old, past, past)
	be.RemoveTemporary(time.Hour)
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("old temporary file kept: %v", err)
	}
}

// recorder notes the kinds of operation it sees.
type recorder struct {
	mu    sync.Mutex
	kinds map[errorfs.OpKind]int
}

func (r *recorder) MaybeError(op errorfs.Op) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kinds == nil {
		r.kinds = map[errorfs.OpKind]int{}
	}
	r.kinds[op.Kind]++
	return nil
}

// TestErrorFSSeesEveryKind drives Local through every operation and
// checks the wrapper saw each kind the seam promises.
func TestErrorFSSeesEveryKind(t *testing.T) {
	rec := &recorder{}
	be := object.NewLocalFS(t.TempDir(), errorfs.Wrap(object.OSFS, rec))
	ctx := context.Background()
	data := []byte("pack bytes")
	if err := be.Put(ctx, "packs/ab/x", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	rc, err := be.Get(ctx, "packs/ab/x", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get: %q, %v", got, err)
	}
	rc.Close()
	if err := be.List(ctx, "", func(object.FileInfo) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := be.Delete(ctx, "packs/ab/x"); err != nil {
		t.Fatal(err)
	}
	for k := errorfs.OpCreate; k <= errorfs.OpSyncDir; k++ {
		if rec.kinds[k] == 0 {
			t.Errorf("no %s operation went through the FS", k)
		}
	}
}

// TestLocalPutFaultAtEveryOp fails each operation of a Put in turn (EIO
// once; then ENOSPC on that write and every later one): the Put fails with an error naming a
// file under the root, the name is absent or whole (never partial), no
// temporary file is left unless removing it was what failed, and the same
// Put succeeds once the fault is gone.
func TestLocalPutFaultAtEveryOp(t *testing.T) {
	ctx := context.Background()
	data := seededBytes(9, 300<<10)
	count := errorfs.FailNth(0, nil, nil, false)
	if err := object.NewLocalFS(t.TempDir(), errorfs.Wrap(object.OSFS, count)).
		Put(ctx, "packs/ab/name", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	total := count.Seen()
	if total < 8 {
		t.Fatalf("a put made %d operations", total)
	}
	for _, mode := range []struct {
		err    error
		match  errorfs.Predicate
		sticky bool
	}{{syscall.EIO, errorfs.Any, false}, {syscall.ENOSPC, errorfs.Writes, true}} {
		for n := int64(1); n <= total; n++ {
			root := t.TempDir()
			inj := errorfs.FailNth(n, mode.err, mode.match, mode.sticky)
			be := object.NewLocalFS(root, errorfs.Wrap(object.OSFS, inj))
			err := be.Put(ctx, "packs/ab/name", bytes.NewReader(data), int64(len(data)))
			if err == nil {
				// a failed stat of the name only means "not there yet";
				// fewer writes than operations: the N-th never came
				if inj.Hits() > 0 && mode.sticky {
					t.Fatalf("%v at %d: the put succeeded", mode.err, n)
				}
			} else {
				if !errors.Is(err, mode.err) || !strings.Contains(err.Error(), root) {
					t.Fatalf("%v at operation %d: error %v, want one naming a file under %s", mode.err, n, err, root)
				}
			}
			got, rerr := os.ReadFile(filepath.Join(root, "packs", "ab", "name"))
			if rerr == nil && !bytes.Equal(got, data) {
				t.Fatalf("%v at operation %d: a partial file of %d bytes under the name", mode.err, n, len(got))
			}
			if err == nil && rerr != nil {
				t.Fatalf("%v at operation %d: put succeeded, file missing: %v", mode.err, n, rerr)
			}
			temps, _ := filepath.Glob(filepath.Join(root, "packs", "ab", ".tmp-*"))
			if len(temps) > 0 && mode.sticky {
				t.Fatalf("%v at operation %d: temporary files left: %v", mode.err, n, temps)
			}
			// healthy again: the same put works and reads back
			be = object.NewLocal(root)
			if err := be.Put(ctx, "packs/ab/name", bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatalf("put after the fault: %v", err)
			}
			if got, err := os.ReadFile(filepath.Join(root, "packs", "ab", "name")); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%v at operation %d: after a healthy put: %d bytes, %v", mode.err, n, len(got), err)
			}
		}
	}
}

// TestRepositoryDiskFullAtEveryWrite fills the disk at each write of
// saving and flushing blobs into several packs. Flush fails naming a
// file; every blob the index holds then loads (no entry points at a pack
// that is not whole), and a healthy repository over the same directory
// and index stores them all again.
func TestRepositoryDiskFullAtEveryWrite(t *testing.T) {
	ctx := context.Background()
	blobs := make([][]byte, 12)
	for i := range blobs {
		blobs[i] = seededBytes(uint64(100+i), 24<<10)
	}
	run := func(t *testing.T, dir string, fsys object.FS) error {
		db, err := index.Open(filepath.Join(dir, "index.db"), index.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		be := object.NewLocalFS(filepath.Join(dir, "repo"), fsys)
		repo, err := object.NewRepository(object.RepositoryOptions{Backend: be, Index: db,
			TempDir: filepath.Join(dir, "repo", "tmp"), PackSize: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		for _, b := range blobs {
			if _, err = repo.SaveBlob(ctx, object.DataBlob, object.Hash(b), b); err != nil {
				break
			}
		}
		if ferr := repo.Flush(ctx); err == nil {
			err = ferr
		}
		// whatever happened, what the index holds is readable
		for _, b := range blobs {
			id := object.Hash(b)
			if ok, herr := repo.Has(id); herr != nil || !ok {
				continue
			}
			if got, lerr := repo.LoadBlob(ctx, id, nil); lerr != nil || !bytes.Equal(got, b) {
				t.Fatalf("indexed blob %s does not load: %v", id.Short(), lerr)
			}
		}
		return err
	}
	count := errorfs.FailNth(0, nil, errorfs.Writes, false)
	if err := run(t, t.TempDir(), errorfs.Wrap(object.OSFS, count)); err != nil {
		t.Fatal(err)
	}
	total := count.Seen()
	failed := 0
	for n := int64(1); n <= total; n++ {
		dir := t.TempDir()
		inj := errorfs.FailNth(n, syscall.ENOSPC, errorfs.Writes, true)
		err := run(t, dir, errorfs.Wrap(object.OSFS, inj))
		if inj.Hits() > 0 && err == nil {
			t.Fatalf("disk full at write %d of %d: flush succeeded", n, total)
		}
		if err != nil {
			failed++
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("disk full at write %d: %v, want ENOSPC naming a file under %s", n, err, dir)
			}
		}
		if err := run(t, dir, object.OSFS); err != nil {
			t.Fatalf("disk full at write %d, then a healthy store: %v", n, err)
		}
	}
	if failed == 0 {
		t.Fatal("no injected failure reached the repository")
	}
}

// TestErrorFSInjectors checks the injectors themselves: Nth fails the
// N-th picked operation (and later ones when sticky), Every fails all it
// picks, and an injected error looks like the system's.
func TestErrorFSInjectors(t *testing.T) {
	ops := []errorfs.Op{{Kind: errorfs.OpStat}, {Kind: errorfs.OpWrite}, {Kind: errorfs.OpRemove}, {Kind: errorfs.OpWrite}, {Kind: errorfs.OpSync}}
	fails := func(inj errorfs.Injector) (out []int) {
		for i, op := range ops {
			if inj.MaybeError(op) != nil {
				out = append(out, i)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		inj  errorfs.Injector
		want []int
	}{
		{"second write once", errorfs.FailNth(2, syscall.EIO, errorfs.Writes, false), []int{3}},
		{"first write on", errorfs.FailNth(1, syscall.ENOSPC, errorfs.Writes, true), []int{1, 3, 4}},
		{"third of any", errorfs.FailNth(3, syscall.EIO, nil, false), []int{2}},
		{"never", errorfs.FailNth(0, syscall.EIO, nil, true), nil},
		{"every mutation", errorfs.FailEvery(syscall.EROFS, errorfs.Mutations), []int{1, 2, 3, 4}},
	} {
		if got := fails(tc.inj); !equalInts(got, tc.want) {
			t.Errorf("%s: failed %v, want %v", tc.name, got, tc.want)
		}
	}

	dir := t.TempDir()
	fsys := errorfs.Wrap(object.OSFS, errorfs.FailEvery(syscall.EROFS, errorfs.Mutations))
	_, err := fsys.CreateTemp(dir, "x-*")
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != dir || !errors.Is(err, syscall.EROFS) {
		t.Fatalf("create on a read-only fs: %#v", err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("a failed create made files: %v %v", ents, err)
	}
	err = fsys.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "b"))
	var le *os.LinkError
	if !errors.As(err, &le) || !errors.Is(err, syscall.EROFS) {
		t.Fatalf("rename on a read-only fs: %#v", err)
	}
	// reads pass
	if _, err := fsys.ReadDir(dir); err != nil {
		t.Fatal(err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRepositoryFailedSaveIsForgotten fails the creation of a pack once:
// that save fails, and the next save of the same blob writes it (it was
// taken for saved, so a later store referred to a blob never written).
func TestRepositoryFailedSaveIsForgotten(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := index.Open(filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	inj := errorfs.FailNth(1, syscall.ENOSPC, func(op errorfs.Op) bool { return op.Kind == errorfs.OpCreate }, false)
	be := object.NewLocalFS(filepath.Join(dir, "repo"), errorfs.Wrap(object.OSFS, inj))
	repo, err := object.NewRepository(object.RepositoryOptions{Backend: be, Index: db, TempDir: be.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	b := seededBytes(5, 10<<10)
	id := object.Hash(b)
	if _, err := repo.SaveBlob(ctx, object.DataBlob, id, b); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("save on a full disk: %v", err)
	}
	if ok, _ := repo.Has(id); ok {
		t.Fatal("a blob whose save failed counts as held")
	}
	if n, err := repo.SaveBlob(ctx, object.DataBlob, id, b); err != nil || n == 0 {
		t.Fatalf("save again: %d bytes, %v; want it written", n, err)
	}
	if err := repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := repo.LoadBlob(ctx, id, nil); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("load: %v", err)
	}
}

// TestRepositoryCancelledRotateFailsOthers: a writer whose context is
// cancelled as it fills a pack drops that pack, which holds another
// writer's blob; the other writer's Flush must fail rather than report
// the blob durable, and the blob is saved afresh next time.
func TestRepositoryCancelledRotateFailsOthers(t *testing.T) {
	ctx := context.Background()
	dropped := 0
	for range 40 {
		r := newPackRepo(t, 1<<10)
		a := r.repo.NewWriter(object.WriterOptions{})
		ab := seededBytes(1, 500)
		aid := object.Hash(ab)
		if _, err := a.SaveBlob(ctx, object.DataBlob, aid, ab); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		bb := seededBytes(2, 700)
		_, berr := r.repo.NewWriter(object.WriterOptions{}).SaveBlob(cctx, object.DataBlob, object.Hash(bb), bb)
		err := a.Flush(ctx)
		if berr == nil {
			// the full pack went to be written before the cancel was seen
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		dropped++
		if err == nil {
			if _, lerr := r.repo.LoadBlob(ctx, aid, nil); lerr != nil {
				t.Fatalf("flush reported the blob durable, but it was dropped with the pack: %v", lerr)
			}
		}
		if n, err := a.SaveBlob(ctx, object.DataBlob, aid, ab); err != nil || n == 0 {
			t.Fatalf("save of the dropped blob again: %d, %v; want it written", n, err)
		}
	}
	if dropped == 0 {
		t.Skip("the cancel never won the race")
	}
}
