package snapshot_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// testRepo is a repository wired as store.Open wires one: a Local backend,
// index.db beside it and packs written through <dir>/tmp.
type testRepo struct {
	dir  string
	be   *object.Local
	db   *index.DB
	repo *object.Repository
	pol  chunk.Pol
	gets *getCounter // set by remoteLike
}

func newTestRepo(t testing.TB) *testRepo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	pol, err := chunk.RandomPolynomial()
	if err != nil {
		t.Fatal(err)
	}
	r := &testRepo{dir: dir, be: object.NewLocal(dir), pol: pol}
	if err := os.MkdirAll(filepath.Join(dir, "packs"), 0o755); err != nil {
		t.Fatal(err)
	}
	r.db, err = index.Open(filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.openRepo(t)
	t.Cleanup(func() {
		r.repo.Close()
		if err := r.db.Check(); err != nil {
			t.Errorf("index.db consistency: %v", err)
		}
		r.db.Close()
	})
	return r
}

func (r *testRepo) openRepo(t testing.TB) {
	t.Helper()
	var be object.Backend = r.be
	if r.gets != nil {
		be = r.gets
	}
	repo, err := object.NewRepository(object.RepositoryOptions{Backend: be, Index: r.db,
		TempDir: filepath.Join(r.dir, "tmp")})
	if err != nil {
		t.Fatal(err)
	}
	r.repo = repo
}

// remoteLike reopens the repository over its directory without random
// access, as on S3: reads go through Get, which counts them (r.gets).
func (r *testRepo) remoteLike(t testing.TB) {
	t.Helper()
	r.repo.Close()
	r.gets = &getCounter{Backend: r.be}
	r.openRepo(t)
}

// getCounter is a Backend without random access (it has no
// OpenReaderAt) that counts Gets and the bytes they ask for.
type getCounter struct {
	object.Backend
	gets, bytes atomic.Int64
}

func (c *getCounter) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	c.gets.Add(1)
	c.bytes.Add(n)
	return c.Backend.Get(ctx, name, off, n)
}

// store runs snapshot.Store and flushes, so everything is durable.
func (r *testRepo) store(t testing.TB, dir string, parent object.ID) *snapshot.StoreResult {
	t.Helper()
	ctx := context.Background()
	res, err := snapshot.Store(ctx, r.repo, dir, snapshot.StoreOptions{Pol: r.pol, ParentTree: parent})
	if err != nil {
		t.Fatalf("Store %s: %v", dir, err)
	}
	if err := r.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return res
}

// restore restores a whole tree into a new directory and returns it.
func (r *testRepo) restore(t testing.TB, res *snapshot.StoreResult) string {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "restored")
	_, err := snapshot.Restore(context.Background(), r.repo, res.Tree, dest,
		snapshot.RestoreOptions{RootMode: res.RootMode, RootMTime: res.RootMTime})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	return dest
}

// packFiles lists the pack files on disk.
func (r *testRepo) packFiles(t testing.TB) []string {
	t.Helper()
	var out []string
	err := r.be.List(context.Background(), "packs/", func(fi object.FileInfo) error {
		out = append(out, fi.Name)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// blobCount counts indexed blobs of one type.
func (r *testRepo) blobCount(t testing.TB, typ object.BlobType) int {
	t.Helper()
	n := 0
	err := r.db.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
			if l.Type == typ {
				n++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// saveRaw stores hand-made blob bytes under their hash and flushes.
func (r *testRepo) saveRaw(t testing.TB, typ object.BlobType, data []byte) object.ID {
	t.Helper()
	id := r.saveRawNoFlush(t, typ, data)
	if err := r.repo.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return id
}

// saveRawNoFlush saves a blob without flushing (many small saves).
func (r *testRepo) saveRawNoFlush(t testing.TB, typ object.BlobType, data []byte) object.ID {
	t.Helper()
	id := object.Hash(data)
	if _, err := r.repo.SaveBlob(context.Background(), typ, id, data); err != nil {
		t.Fatal(err)
	}
	return id
}

// ---- generating trees ----

// randReader is a deterministic pseudo-random byte stream.
func randReader(seed uint64) io.Reader {
	return rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), 's', 'i', 'l', 'o'})
}

// writeRandom writes size pseudo-random bytes to path.
func writeRandom(t testing.TB, path string, seed uint64, size int64) {
	t.Helper()
	writeFrom(t, path, io.LimitReader(randReader(seed), size))
}

func writeFrom(t testing.TB, path string, r io.Reader) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.Copy(bw, r); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path string, data string) {
	t.Helper()
	writeFrom(t, path, strings.NewReader(data))
}

func mkdir(t testing.TB, path string) {
	t.Helper()
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// ---- comparing trees ----

var cmpBufs = sync.Pool{New: func() any { return &[2][]byte{make([]byte, 1<<20), make([]byte, 1<<20)} }}

// sameContent compares two files block by block.
func sameContent(a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	bufs := cmpBufs.Get().(*[2][]byte)
	defer cmpBufs.Put(bufs)
	ba, bb := bufs[0], bufs[1]
	var off int64
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return fmt.Errorf("content differs in the block at %d", off)
		}
		off += int64(na)
		if errors.Is(ea, io.EOF) || errors.Is(ea, io.ErrUnexpectedEOF) {
			if errors.Is(eb, io.EOF) || errors.Is(eb, io.ErrUnexpectedEOF) {
				return nil
			}
			return fmt.Errorf("restored file is longer")
		}
		if ea != nil {
			return ea
		}
		if eb != nil {
			return eb
		}
	}
}

// listAll returns every path under root (relative, sorted) with, for
// regular files, their content hash, so a test can prove nothing changed.
func listAll(t testing.TB, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := filepath.ToSlash(rel) + " " + d.Type().String()
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += " " + object.Hash(b).Short()
		}
		if d.Type()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			line += " -> " + l
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
