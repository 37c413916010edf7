package object_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// prefetchS3 is a repository on a loopback S3 server (gofakes3) that
// counts the object GETs it answers and their bytes, and fails them while
// failing is set.
type prefetchS3 struct {
	f       *fakeS3
	bucket  string
	repo    *object.Repository
	gets    atomic.Int64
	bytes   atomic.Int64
	failing atomic.Bool
}

func newPrefetchS3(t *testing.T) *prefetchS3 {
	t.Helper()
	p := &prefetchS3{f: newFakeS3(t)}
	p.bucket = p.f.newBucket(t)
	p.f.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/packs/") {
			p.gets.Add(1)
			if p.failing.Load() {
				http.Error(w, "injected", http.StatusForbidden)
				return
			}
			w = &countingResponse{ResponseWriter: w, n: &p.bytes}
		}
		p.f.s3.ServeHTTP(w, r)
	})
	be := p.f.open(t, "s3://"+p.bucket, p.f.options())
	db, err := index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p.repo, err = object.NewRepository(object.RepositoryOptions{Backend: be, Index: db, TempDir: t.TempDir(), PackSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.repo.Close() })
	return p
}

type countingResponse struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingResponse) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// flip changes one byte of the pack at off in the bucket.
func (p *prefetchS3) flip(t *testing.T, pack object.ID, off int64) {
	t.Helper()
	key := object.PackName(pack)
	obj, err := p.f.mem.GetObject(p.bucket, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(obj.Contents)
	obj.Contents.Close()
	if err != nil {
		t.Fatal(err)
	}
	data[off] ^= 0xff
	if _, err := p.f.mem.PutObject(p.bucket, key, map[string]string{}, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
}

// savePrefetchBlobs saves n incompressible blobs of about 10 KB side by
// side.
func savePrefetchBlobs(t *testing.T, repo *object.Repository, n int) ([]object.ID, [][]byte) {
	t.Helper()
	ctx := context.Background()
	var ids []object.ID
	var want [][]byte
	for i := range n {
		b := seededBytes(uint64(5000+i), 10_000+i)
		id := object.Hash(b)
		if _, err := repo.SaveBlob(ctx, object.DataBlob, id, b); err != nil {
			t.Fatal(err)
		}
		ids, want = append(ids, id), append(want, b)
	}
	if err := repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return ids, want
}

// TestPrefetch: on a backend without random access, Prefetch reads the
// neighbouring blobs asked for with one ranged Get per run of neighbours
// (not one per blob, and no bytes far from them); loads of those blobs
// then ask the backend nothing, in any order and from several goroutines;
// after Release they read from the backend again.
func TestPrefetch(t *testing.T) {
	s3 := newPrefetchS3(t)
	repo := s3.repo
	ids, want := savePrefetchBlobs(t, repo, 300) // about 3 MB, one pack
	if !repo.ReadsAhead() {
		t.Fatal("ReadsAhead is false on S3")
	}
	ctx := context.Background()

	// every third blob from 30 to 270: one run, gaps of two blobs
	var pick []object.ID
	var pickWant [][]byte
	var stored int64
	for i := 30; i < 270; i += 3 {
		pick, pickWant = append(pick, ids[i]), append(pickWant, want[i])
		loc, _, _ := repo.Lookup(ids[i])
		stored += int64(loc.Length)
	}
	s3.gets.Store(0)
	p, err := repo.Prefetch(ctx, pick)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := len(pick) - 1 - w; k >= 0; k -= 4 {
				got, err := repo.LoadBlob(ctx, pick[k], nil)
				if err != nil || !bytes.Equal(got, pickWant[k]) {
					t.Errorf("blob %d: %v", k, err)
				}
			}
		}()
	}
	wg.Wait()
	// LoadRun of neighbours inside the prefetched range
	n := 0
	if err := repo.LoadRun(ctx, pick[10:20], func(i int, data []byte) error {
		if !bytes.Equal(data, pickWant[10+i]) {
			t.Errorf("LoadRun chunk %d differs", i)
		}
		n++
		return nil
	}); err != nil || n != 10 {
		t.Fatalf("LoadRun: %v after %d", err, n)
	}
	if g := s3.gets.Load(); g != 1 {
		t.Errorf("%d Gets for %d neighbouring blobs prefetched and loaded; want 1", g, len(pick))
	}
	if b := s3.bytes.Load(); b > stored*3 {
		t.Errorf("prefetch read %d bytes for %d stored bytes a third of the run", b, stored)
	}
	if p.Size() != s3.bytes.Load() {
		t.Errorf("Size %d, read %d", p.Size(), s3.bytes.Load())
	}
	p.Release()
	p.Release() // twice is harmless
	s3.gets.Store(0)
	if _, err := repo.LoadBlob(ctx, pick[0], nil); err != nil || s3.gets.Load() != 1 {
		t.Errorf("after Release: %v, %d Gets", err, s3.gets.Load())
	}

	// a run of neighbours held by two Prefetches (no one range holds it
	// all) loads blob by blob from them: the two ranges are all the
	// server is asked for
	s3.gets.Store(0)
	p1, err := repo.Prefetch(ctx, ids[100:120])
	if err != nil {
		t.Fatal(err)
	}
	p2, err := repo.Prefetch(ctx, ids[120:140])
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.LoadRun(ctx, ids[100:140], func(i int, data []byte) error {
		if !bytes.Equal(data, want[100+i]) {
			t.Errorf("LoadRun across Prefetches: chunk %d differs", i)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if g := s3.gets.Load(); g != 2 {
		t.Errorf("two Prefetches and a LoadRun of what they hold: %d GETs, want 2", g)
	}
	p1.Release()
	p2.Release()

	// blobs far apart take a Get each, at most prefetchGets at once, and
	// an id not indexed is left to its load
	s3.gets.Store(0)
	far := []object.ID{ids[0], ids[150], ids[299], object.Hash([]byte("not stored"))}
	p, err = repo.Prefetch(ctx, far)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{0, 150, 299} {
		if got, err := repo.LoadBlob(ctx, ids[k], nil); err != nil || !bytes.Equal(got, want[k]) {
			t.Errorf("blob %d: %v", k, err)
		}
	}
	if g := s3.gets.Load(); g != 3 {
		t.Errorf("%d Gets for 3 blobs far apart; want 3", g)
	}
	p.Release()
}

// TestPrefetchFailures: a range that fails to read is not used (the load
// reads on its own and succeeds, or reports the failure); damage in
// prefetched bytes is found as without read-ahead; Forget drops a pack's
// ranges; a cancelled Prefetch leaves nothing behind.
func TestPrefetchFailures(t *testing.T) {
	s3 := newPrefetchS3(t)
	repo := s3.repo
	ids, want := savePrefetchBlobs(t, repo, 100)
	ctx := context.Background()

	// the server fails while the prefetch reads, then recovers
	s3.failing.Store(true)
	p, err := repo.Prefetch(ctx, ids[:50])
	if err != nil {
		t.Fatal(err)
	}
	s3.gets.Store(0)
	if _, err := repo.LoadBlob(ctx, ids[3], nil); err == nil {
		t.Errorf("load while the server fails: no error")
	}
	s3.failing.Store(false)
	// a later Prefetch of the same blobs, while the failed one is still
	// held, reads them again rather than sharing the failed range
	s3.gets.Store(0)
	again, err := repo.Prefetch(ctx, ids[:50])
	if err != nil {
		t.Fatal(err)
	}
	if again.Size() == 0 {
		t.Errorf("a Prefetch after a failed one shares the failed range (Size 0)")
	}
	for k := range 50 {
		if got, err := repo.LoadBlob(ctx, ids[k], nil); err != nil || !bytes.Equal(got, want[k]) {
			t.Fatalf("blob %d after a failed prefetch: %v", k, err)
		}
	}
	if g := s3.gets.Load(); g > 2 {
		t.Errorf("%d GETs for 50 neighbouring blobs prefetched again after a failure; want at most 2", g)
	}
	again.Release()
	p.Release()
	if ranges, locs := repo.PrefetchedRanges(); ranges != 0 || locs != 0 {
		t.Errorf("after Release: %d ranges, %d locations held", ranges, locs)
	}

	// damage: a flipped byte in a prefetched blob is ErrCorrupt, its
	// neighbours load
	loc, _, _ := repo.Lookup(ids[60])
	s3.flip(t, loc.Pack, int64(loc.Offset)+50)
	p, err = repo.Prefetch(ctx, ids[55:65])
	if err != nil {
		t.Fatal(err)
	}
	for k := 55; k < 65; k++ {
		got, err := repo.LoadBlob(ctx, ids[k], nil)
		if k == 60 {
			if !errors.Is(err, object.ErrCorrupt) {
				t.Errorf("damaged blob: %v, want ErrCorrupt", err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, want[k]) {
			t.Errorf("blob %d beside a damaged one: %v", k, err)
		}
	}
	// Forget: the pack's prefetched bytes are no longer used
	repo.Forget(loc.Pack)
	s3.gets.Store(0)
	if _, err := repo.LoadBlob(ctx, ids[56], nil); err != nil || s3.gets.Load() != 1 {
		t.Errorf("after Forget: %v, %d Gets", err, s3.gets.Load())
	}
	p.Release()

	// damaged on the way only: the prefetched bytes are damaged, the pack
	// is not (the byte is flipped back once they are read): the blob is
	// read again from the pack, loads, and the bytes kept are dropped
	loc, _, _ = repo.Lookup(ids[94])
	s3.flip(t, loc.Pack, int64(loc.Offset)+50)
	p, err = repo.Prefetch(ctx, ids[92:97])
	if err != nil {
		t.Fatal(err)
	}
	if got, err := repo.LoadBlob(ctx, ids[92], nil); err != nil || !bytes.Equal(got, want[92]) {
		t.Fatalf("blob before the damaged one: %v", err) // the range is read now
	}
	s3.flip(t, loc.Pack, int64(loc.Offset)+50)
	if got, err := repo.LoadBlob(ctx, ids[94], nil); err != nil || !bytes.Equal(got, want[94]) {
		t.Errorf("a blob damaged in the prefetched bytes only: %v", err)
	}
	p.Release()

	// a cancelled context: Prefetch's reads stop, loads still work
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	p, err = repo.Prefetch(cctx, ids[70:90])
	if err != nil {
		t.Fatal(err)
	}
	if got, err := repo.LoadBlob(ctx, ids[75], nil); err != nil || !bytes.Equal(got, want[75]) {
		t.Errorf("blob after a cancelled prefetch: %v", err)
	}
	p.Release()
	if ranges, locs := repo.PrefetchedRanges(); ranges != 0 || locs != 0 {
		t.Errorf("after a cancelled Prefetch's Release: %d ranges, %d locations held", ranges, locs)
	}
}

// TestPrefetchLocal: with random access (the local backend) Prefetch reads
// nothing and holds nothing.
func TestPrefetchLocal(t *testing.T) {
	repo := newPackRepo(t, 4<<20).repo
	ids, _ := savePrefetchBlobs(t, repo, 10)
	if repo.ReadsAhead() {
		t.Error("ReadsAhead on a local repository")
	}
	p, err := repo.Prefetch(context.Background(), ids)
	if err != nil || p.Size() != 0 {
		t.Errorf("Prefetch on a local repository: %v, %d bytes", err, p.Size())
	}
	p.Release()
}
