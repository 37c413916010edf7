package object_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/silo-dev/silo/internal/testutil"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

type packRepo struct {
	dir  string
	be   *object.Local
	db   *index.DB
	repo *object.Repository
}

func newPackRepo(t *testing.T, packSize int64) *packRepo {
	t.Helper()
	return newRepoIn(t, t.TempDir(), packSize, nil)
}

// newRepoIn opens a repository over dir, sealed by seal (nil: plain), with
// its own index.
func newRepoIn(t *testing.T, dir string, packSize int64, seal *object.Sealer) *packRepo {
	t.Helper()
	db, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &packRepo{dir: dir, be: object.NewLocal(dir), db: db}
	r.repo, err = object.NewRepository(object.RepositoryOptions{Backend: r.be, Index: db,
		TempDir: filepath.Join(dir, "tmp"), PackSize: packSize, Sealer: seal})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.repo.Close()
		if err := db.Check(); err != nil {
			t.Errorf("index.db consistency: %v", err)
		}
		db.Close()
	})
	return r
}

func (r *packRepo) packPath(id object.ID) string {
	return filepath.Join(r.dir, filepath.FromSlash(object.PackName(id)))
}

func seededBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	rand.NewChaCha8(key).Read(b)
	return b
}

func (r *packRepo) save(t *testing.T, typ object.BlobType, plain []byte) object.ID {
	t.Helper()
	id := r.repo.ID(plain)
	if _, err := r.repo.SaveBlob(context.Background(), typ, id, plain); err != nil {
		t.Fatal(err)
	}
	return id
}

func (r *packRepo) flush(t *testing.T) {
	t.Helper()
	if err := r.repo.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRepositorySaveLoad(t *testing.T) {
	r := newPackRepo(t, 0)
	ctx := context.Background()
	text := bytes.Repeat([]byte("a line of very compressible text\n"), 3000)
	random := seededBytes(1, 300<<10)
	tiny := []byte("tiny")
	ids := map[object.ID][]byte{}
	for _, b := range [][]byte{text, random, tiny, {}} {
		id := r.save(t, object.DataBlob, b)
		ids[id] = b
		// known or pending blobs are not stored twice
		if n, err := r.repo.SaveBlob(ctx, object.DataBlob, id, b); err != nil || n != 0 {
			t.Errorf("second SaveBlob = %d, %v; want 0, nil", n, err)
		}
		if ok, _ := r.repo.Has(id); !ok {
			t.Error("Has(pending) = false")
		}
	}
	treeID := r.save(t, object.TreeBlob, []byte("SLT1\x00"))
	r.flush(t)
	if ents, _ := os.ReadDir(filepath.Join(r.dir, "tmp")); len(ents) != 0 {
		t.Errorf("temp files left after Flush: %d", len(ents))
	}
	for id, want := range ids {
		got, err := r.repo.LoadBlob(ctx, id, nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("LoadBlob(%s) = %d bytes, %v", id.Short(), len(got), err)
		}
	}
	loc := func(id object.ID) object.Location {
		l, ok, err := r.db.Lookup(id)
		if err != nil || !ok {
			t.Fatalf("Lookup(%s): %v %v", id.Short(), ok, err)
		}
		return l
	}
	// compression policy: text is zstd, random and tiny blobs are raw
	if c := loc(object.Hash(text)).Comp; c != object.Zstd {
		t.Errorf("text stored with %d", c)
	}
	if l := loc(object.Hash(text)); int(l.Length) > len(text)/10 {
		t.Errorf("text stored in %d bytes of %d", l.Length, len(text))
	}
	if c := loc(object.Hash(random)).Comp; c != object.Raw {
		t.Errorf("random stored with %d", c)
	}
	if c := loc(object.Hash(tiny)).Comp; c != object.Raw {
		t.Errorf("tiny stored with %d", c)
	}
	// data and tree blobs live in separate packs, and each pack's table
	// agrees with the index
	dataPack, treePack := loc(object.Hash(text)).Pack, loc(treeID).Pack
	if dataPack == treePack {
		t.Fatal("tree blob in a data pack")
	}
	for _, p := range []object.ID{dataPack, treePack} {
		blobs, _, err := object.ReadPackTable(ctx, r.be, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blobs {
			if b.Type.IsData() != (p == dataPack) {
				t.Errorf("pack %s holds a %s blob", p.Short(), b.Type)
			}
			if l := loc(b.ID); l.Blob != b || l.Pack != p {
				t.Errorf("index %+v, table %+v", l, b)
			}
		}
		info, err := os.Stat(r.packPath(p))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(r.packPath(p))
		if object.Hash(raw) != p || int64(len(raw)) != info.Size() {
			t.Errorf("pack %s is not named by its hash", p.Short())
		}
	}
	// a second repository over the same files reads everything back
	r2, err := object.NewRepository(object.RepositoryOptions{Backend: object.NewLocal(r.dir), Index: r.db})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	for id, want := range ids {
		if got, err := r2.LoadBlob(ctx, id, nil); err != nil || !bytes.Equal(got, want) {
			t.Errorf("fresh repository LoadBlob(%s): %v", id.Short(), err)
		}
	}
	if _, err := r2.LoadBlob(ctx, object.Hash([]byte("never saved")), nil); !errors.Is(err, object.ErrBlobNotFound) {
		t.Errorf("LoadBlob(unknown) = %v, want ErrBlobNotFound", err)
	}
}

func TestRepositoryConcurrentSaves(t *testing.T) {
	r := newPackRepo(t, 1<<20) // small packs: many rotations
	ctx := context.Background()
	const workers, each = 8, 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	var added int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				// half the blobs are shared between workers
				seed := uint64(w*1000 + i)
				if i%2 == 0 {
					seed = uint64(i)
				}
				b := seededBytes(seed, 50<<10)
				n, err := r.repo.SaveBlob(ctx, object.DataBlob, object.Hash(b), b)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				added += n
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.flush(t)
	distinct := workers*each/2 + each/2
	n := 0
	r.db.View(func(tx *index.Tx) error { n = tx.BlobCount(); return nil })
	if n != distinct {
		t.Errorf("%d blobs indexed, want %d", n, distinct)
	}
	if added != int64(distinct)*50<<10 {
		t.Errorf("added %d bytes, want %d", added, int64(distinct)*50<<10)
	}
	packs := 0
	r.be.List(ctx, "packs/", func(object.FileInfo) error { packs++; return nil })
	if packs < 8 {
		t.Errorf("%d packs for %d KiB with 1 MiB packs", packs, distinct*50)
	}
	// every blob is stored in exactly one pack
	seen := map[object.ID]int{}
	r.be.List(ctx, "packs/", func(fi object.FileInfo) error {
		id, _ := object.ParseID(filepath.Base(fi.Name))
		blobs, _, err := object.ReadPackTable(ctx, r.be, id)
		if err != nil {
			t.Error(err)
		}
		for _, b := range blobs {
			seen[b.ID]++
		}
		return nil
	})
	for id, c := range seen {
		if c != 1 {
			t.Errorf("blob %s stored %d times", id.Short(), c)
		}
	}
}

func TestRepositoryCloseAbandonsOpenPacks(t *testing.T) {
	r := newPackRepo(t, 0)
	r.save(t, object.DataBlob, []byte("never flushed"))
	r.repo.Close()
	if ents, _ := os.ReadDir(filepath.Join(r.dir, "tmp")); len(ents) != 0 {
		t.Errorf("Close left %d temp files", len(ents))
	}
	if _, err := os.Stat(filepath.Join(r.dir, "packs")); !os.IsNotExist(err) {
		t.Errorf("Close wrote packs: %v", err)
	}
	if _, ok, _ := r.db.Lookup(object.Hash([]byte("never flushed"))); ok {
		t.Error("abandoned blob indexed")
	}
}

func TestLoadBlobDetectsCorruption(t *testing.T) {
	r := newPackRepo(t, 0)
	ctx := context.Background()
	text := bytes.Repeat([]byte("zstd compressed blob "), 5000)
	random := seededBytes(2, 200<<10)
	ids := []object.ID{r.save(t, object.DataBlob, text), r.save(t, object.DataBlob, random), r.save(t, object.DataBlob, []byte("neighbour"))}
	r.flush(t)
	for i, id := range ids[:2] {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			loc, _, _ := r.db.Lookup(id)
			path := r.packPath(loc.Pack)
			for _, off := range []int64{int64(loc.Offset), int64(loc.Offset) + int64(loc.Length)/2, int64(loc.Offset) + int64(loc.Length) - 1} {
				flipPackByte(t, path, off)
				_, err := r.repo.LoadBlob(ctx, id, nil)
				if !errors.Is(err, object.ErrCorrupt) {
					t.Errorf("byte %d flipped: LoadBlob = %v, want ErrCorrupt", off, err)
				} else if !strings.Contains(err.Error(), id.String()) || !strings.Contains(err.Error(), loc.Pack.String()) {
					t.Errorf("error %q does not name blob and pack", err)
				}
				// a neighbour in the same pack still loads
				if got, err := r.repo.LoadBlob(ctx, ids[2], nil); err != nil || string(got) != "neighbour" {
					t.Errorf("neighbour: %q, %v", got, err)
				}
				flipPackByte(t, path, off)
			}
			if _, err := r.repo.LoadBlob(ctx, id, nil); err != nil {
				t.Errorf("after undoing the flip: %v", err)
			}
		})
	}

	t.Run("truncated pack", func(t *testing.T) {
		loc, _, _ := r.db.Lookup(ids[0])
		path := r.packPath(loc.Pack)
		orig, _ := os.ReadFile(path)
		defer os.WriteFile(path, orig, 0o644)
		if err := os.Truncate(path, int64(loc.Offset)+10); err != nil {
			t.Fatal(err)
		}
		if _, err := r.repo.LoadBlob(ctx, ids[0], nil); err == nil {
			t.Error("LoadBlob from a truncated pack succeeded")
		}
		if _, _, err := object.ReadPackTable(ctx, r.be, loc.Pack); err == nil {
			t.Error("ReadPackTable of a truncated pack succeeded")
		}
	})
}

func flipPackByte(t *testing.T, path string, off int64) { testutil.FlipByte(t, path, off, 0x01) }

func TestReadPackTableDetectsCorruption(t *testing.T) {
	r := newPackRepo(t, 0)
	ctx := context.Background()
	var ids []object.ID
	for i := range 5 {
		ids = append(ids, r.save(t, object.DataBlob, seededBytes(uint64(i), 1000+i)))
	}
	r.flush(t)
	loc, _, _ := r.db.Lookup(ids[0])
	path := r.packPath(loc.Pack)
	info, _ := os.Stat(path)
	size := info.Size()
	tableStart := size - 12 - 32 - 5*46
	for name, off := range map[string]int64{
		"first entry id":    tableStart,
		"an entry's length": tableStart + 2*46 + 38,
		"last entry type":   tableStart + 4*46 + 32,
		"checksum":          size - 12 - 1,
	} {
		t.Run(name, func(t *testing.T) {
			flipPackByte(t, path, off)
			defer flipPackByte(t, path, off)
			_, _, err := object.ReadPackTable(ctx, r.be, loc.Pack)
			if !errors.Is(err, object.ErrCorrupt) {
				t.Errorf("ReadPackTable = %v, want ErrCorrupt", err)
			}
			if err != nil && !strings.Contains(err.Error(), loc.Pack.String()) {
				t.Errorf("error %q does not name the pack", err)
			}
			err = r.repo.VerifyPack(ctx, loc.Pack, func(object.Blob, error) {})
			if !errors.Is(err, object.ErrCorrupt) {
				t.Errorf("VerifyPack = %v, want ErrCorrupt", err)
			}
		})
	}
	t.Run("trailer", func(t *testing.T) {
		for _, off := range []int64{size - 1, size - 12} {
			flipPackByte(t, path, off)
			_, _, err := object.ReadPackTable(ctx, r.be, loc.Pack)
			if !errors.Is(err, object.ErrBadPack) && !errors.Is(err, object.ErrCorrupt) {
				t.Errorf("byte %d: ReadPackTable = %v", off, err)
			}
			flipPackByte(t, path, off)
		}
	})
	if _, _, err := object.ReadPackTable(ctx, r.be, loc.Pack); err != nil {
		t.Fatalf("after undoing the flips: %v", err)
	}
	if err := r.repo.VerifyPack(ctx, loc.Pack, func(b object.Blob, err error) {
		if err != nil {
			t.Errorf("blob %s: %v", b.ID.Short(), err)
		}
	}); err != nil {
		t.Fatal(err)
	}
}

// limitedIndex is the real index asking for packs of at most MaxPackCount
// blobs, as index.DB does once index.db is large.
type limitedIndex struct{ *index.DB }

func (limitedIndex) PackBlobLimit() int { return object.MaxPackCount }

// TestPackBlobCountLimit: when the index asks for it, a pack is closed at
// MaxPackCount blobs however small they are, and every blob is indexed in
// the pack it went to; without the limit the same blobs fill one pack.
func TestPackBlobCountLimit(t *testing.T) {
	n := object.MaxPackCount + 10
	packsOf := func(limited bool) map[object.ID]int {
		dir := t.TempDir()
		db, err := index.Open(filepath.Join(dir, "index.db"), index.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var idx object.Index = db
		if limited {
			idx = limitedIndex{db}
		}
		repo, err := object.NewRepository(object.RepositoryOptions{Backend: object.NewLocal(dir), Index: idx,
			TempDir: filepath.Join(dir, "tmp")})
		if err != nil {
			t.Fatal(err)
		}
		defer repo.Close()
		ctx := context.Background()
		ids := make([]object.ID, n)
		for i := range n {
			data := fmt.Appendf(nil, "small blob %d", i)
			ids[i] = object.Hash(data)
			if _, err := repo.SaveBlob(ctx, object.DataBlob, ids[i], data); err != nil {
				t.Fatal(err)
			}
		}
		if err := repo.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		counts := map[object.ID]int{}
		for _, id := range ids {
			loc, ok, err := db.Lookup(id)
			if err != nil || !ok {
				t.Fatalf("blob %s not indexed: %v", id, err)
			}
			counts[loc.Pack]++
		}
		return counts
	}
	counts := packsOf(true)
	if len(counts) != 2 {
		t.Fatalf("%d small blobs went to %d packs, want 2", n, len(counts))
	}
	for p, c := range counts {
		if c != object.MaxPackCount && c != 10 {
			t.Errorf("pack %s holds %d blobs, want %d or 10", p, c, object.MaxPackCount)
		}
	}
	if counts := packsOf(false); len(counts) != 1 {
		t.Errorf("without a limit, %d small blobs went to %d packs, want 1", n, len(counts))
	}
}
