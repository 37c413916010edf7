package object_test

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
)

// countingGets is a Backend that counts Get calls (and, lacking
// ReaderAtOpener, makes the repository read through Get, as on S3).
type countingGets struct {
	object.Backend
	gets atomic.Int64
}

func (c *countingGets) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, name, off, n)
}

// newCountingRepo is a repository in a temporary directory whose backend
// counts Gets and has no random access (as S3); opts gives the rest.
func newCountingRepo(t *testing.T, opts object.RepositoryOptions) (string, *countingGets, *object.Repository) {
	t.Helper()
	dir := t.TempDir()
	db, err := index.Open(filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	be := &countingGets{Backend: object.NewLocal(dir)}
	opts.Backend, opts.Index, opts.TempDir = be, db, filepath.Join(dir, "tmp")
	repo, err := object.NewRepository(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	return dir, be, repo
}

// TestLoadRun: a file's chunks, written one after another, load with one
// read per pack run instead of one per chunk, in order and verified; a
// damaged chunk in a run falls back to a read of its own and fails with
// its error.
func TestLoadRun(t *testing.T) {
	dir, be, repo := newCountingRepo(t, object.RepositoryOptions{PackSize: 4 << 20})
	ctx := context.Background()
	var ids []object.ID
	var want [][]byte
	for i := range 24 { // about 6 packs of 4 chunks
		b := seededBytes(uint64(i), 1<<20+i)
		id := object.Hash(b)
		if _, err := repo.SaveBlob(ctx, object.DataBlob, id, b); err != nil {
			t.Fatal(err)
		}
		ids, want = append(ids, id), append(want, b)
	}
	if err := repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	packs := map[object.ID]bool{}
	for _, id := range ids {
		loc, _, _ := repo.Lookup(id)
		packs[loc.Pack] = true
	}
	be.gets.Store(0)
	next := 0
	err := repo.LoadRun(ctx, ids, func(i int, data []byte) error {
		if i != next || !bytes.Equal(data, want[i]) {
			t.Fatalf("chunk %d (expected %d) differs", i, next)
		}
		next++
		return nil
	})
	if err != nil || next != len(ids) {
		t.Fatalf("LoadRun: %v after %d chunks", err, next)
	}
	if g := be.gets.Load(); g > int64(len(packs)) {
		t.Errorf("%d reads for %d chunks in %d packs", g, len(ids), len(packs))
	}
	t.Logf("%d chunks in %d packs: %d reads", len(ids), len(packs), be.gets.Load())

	// a flipped byte in the middle of a run: the chunks before it come,
	// then its own read fails with the damage
	loc, _, _ := repo.Lookup(ids[5])
	testutil.FlipByte(t, filepath.Join(dir, filepath.FromSlash(object.PackName(loc.Pack))), int64(loc.Offset)+100, 0xff)
	got := 0
	err = repo.LoadRun(ctx, ids, func(i int, data []byte) error { got++; return nil })
	if err == nil || got != 5 {
		t.Fatalf("a damaged chunk: %v after %d chunks", err, got)
	}
}
