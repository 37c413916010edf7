package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

func uploadBlob(t *testing.T, u *Uploads, data []byte) object.ID {
	t.Helper()
	id := object.Hash(data)
	if _, err := u.Put(context.Background(), object.DataBlob, id, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return id
}

func isMissing(t *testing.T, u *Uploads, id object.ID) bool {
	t.Helper()
	m, err := u.Missing(context.Background(), []object.ID{id})
	if err != nil {
		t.Fatal(err)
	}
	return len(m) == 1
}

func collectNow(t *testing.T, s *Store) {
	t.Helper()
	if err := s.repo.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(context.Background(), GCOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestUploadsPinBlobsUntilCommit: blobs uploaded (or reported present)
// survive a collection until they are committed or their pins expire.
func TestUploadsPinBlobsUntilCommit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.s.NewUploads(time.Minute)
	defer u.Close()
	data := testutil.RandomBytes(1, 100<<10)
	id := uploadBlob(t, u, data)
	collectNow(t, e.s)
	if isMissing(t, u, id) {
		t.Fatal("an uploaded blob was collected before its commit")
	}
	tree := snapshot.EncodeTree([]snapshot.Node{{Name: "f.bin", Type: snapshot.File, Mode: 0o644, Size: uint64(len(data)), Content: []object.ID{id}}})
	treeID := object.Hash(tree)
	if _, err := u.Put(ctx, object.TreeBlob, treeID, bytes.NewReader(tree)); err != nil {
		t.Fatal(err)
	}
	res, err := u.Commit(ctx, CommitOptions{SaveOptions: SaveOptions{Project: "pinned"}, Tree: treeID, RootMTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Files() != 1 || res.Stats.Size != int64(len(data)) || !res.Created {
		t.Fatalf("commit: %+v", res)
	}

	// a generation lives one to two TTLs; a collection condemns the orphan
	// while one that may have reported it lives, and deletes it once every
	// generation alive at that moment has ended
	orphan := uploadBlob(t, u, testutil.RandomBytes(2, 50<<10))
	e.clock.Advance(61 * time.Second)
	isMissing(t, u, id) // rotates: the orphan's generation becomes the previous one
	collectNow(t, e.s)
	if ok, _ := e.s.repo.Has(orphan); !ok {
		t.Fatal("a blob was collected within its generation's TTL")
	}
	for range 2 {
		e.clock.Advance(61 * time.Second)
		isMissing(t, u, id) // rotates again: the generations of the plan's time end
	}
	collectNow(t, e.s)
	if ok, _ := e.s.repo.Has(orphan); ok {
		t.Fatal("an orphan blob outlived its generations")
	}

	// a blob reported present is pinned for the client too
	other := e.s.NewUploads(time.Hour)
	kept := uploadBlob(t, other, testutil.RandomBytes(3, 10<<10))
	other.Close()
	u2 := e.s.NewUploads(time.Hour)
	defer u2.Close()
	if isMissing(t, u2, kept) {
		t.Fatal("blob reported missing")
	}
	collectNow(t, e.s)
	if isMissing(t, u2, kept) {
		t.Fatal("a blob reported present was collected")
	}
	// the committed version is intact
	dest := e.path("restored")
	if _, _, err := e.s.Restore(ctx, "pinned", dest, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dest, "f.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("restored file: %v", err)
	}
	checkClean(t, e.s)
}

// TestUploadsRefuse: digest mismatches, oversize and bad types store nothing.
func TestUploadsRefuse(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.s.NewUploads(0)
	defer u.Close()
	data := []byte("chunk")
	id := object.Hash(data)
	if _, err := u.Put(ctx, object.DataBlob, id, bytes.NewReader([]byte("other"))); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("mismatch: %v", err)
	}
	if _, err := u.Put(ctx, object.SnapshotBlob, id, bytes.NewReader(data)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("snapshot blob upload: %v", err)
	}
	big := make([]byte, MaxDataBlob+1)
	if _, err := u.Put(ctx, object.DataBlob, object.Hash(big), bytes.NewReader(big)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("oversize: %v", err)
	}
	if _, err := u.Put(ctx, object.TreeBlob, id, bytes.NewReader(data)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("undecodable tree: %v", err)
	}
	if !isMissing(t, u, id) {
		t.Fatal("a refused blob was stored")
	}
	var mbe *MissingBlobsError
	if _, err := u.Commit(ctx, CommitOptions{SaveOptions: SaveOptions{Project: "x"}, Tree: id}); !errors.As(err, &mbe) || mbe.Count != 1 {
		t.Fatalf("commit of a missing tree: %v", err)
	}
	if _, err := e.s.Get("x"); !errors.Is(err, ErrProjectNotFound) {
		t.Fatalf("a failed commit created the project: %v", err)
	}
}

// TestFileReaderSeeks reads random ranges of a multi-chunk file.
func TestFileReaderSeeks(t *testing.T) {
	e := newEnv(t)
	src := e.path("src")
	// over the 8 MiB maximum chunk, so at least two chunks whatever the
	// repository's random polynomial (6 MiB once came out as one chunk)
	data := testutil.RandomBytes(9, 9<<20+333)
	writeFile(t, src, "dir/big.bin", data)
	writeFile(t, src, "empty", nil)
	e.save(t, src, "seeky")
	info, err := e.s.ResolveSnapshot("seeky")
	if err != nil {
		t.Fatal(err)
	}
	f, fi, err := e.s.OpenFile(context.Background(), info, "dir/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size != int64(len(data)) || f.Size() != fi.Size || f.Chunks() < 2 {
		t.Fatalf("file info %+v, %d chunks", fi, f.Chunks())
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		off := r.Int64N(int64(len(data)) + 10)
		n := r.IntN(3 << 20)
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, n)
		got, err := io.ReadFull(f, buf)
		want := data[min(off, int64(len(data))):min(off+int64(n), int64(len(data)))]
		if !bytes.Equal(buf[:got], want) {
			t.Fatalf("read %d at %d: wrong bytes (%d, %v)", n, off, got, err)
		}
	}
	// a chunk that fails to load leaves nothing behind in the reader: the
	// largest chunk, read first, reads right again after a smaller one
	// (decoded into its buffer) failed
	n, err := snapshot.Find(context.Background(), e.s.repo, info.snap.Tree, "dir/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	starts, sizes := make([]int64, len(n.Content)), make([]int64, len(n.Content))
	big := 0
	for i, id := range n.Content {
		loc, _, _ := e.s.repo.Lookup(id)
		sizes[i] = int64(loc.RawLength)
		if i > 0 {
			starts[i] = starts[i-1] + sizes[i-1]
		}
		if sizes[i] > sizes[big] {
			big = i
		}
	}
	small := (big + 1) % len(n.Content)
	readAt := func(off int64) ([]byte, error) {
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		_, err := io.ReadFull(f, buf)
		return buf, err
	}
	if got, err := readAt(starts[big]); err != nil || !bytes.Equal(got, data[starts[big]:starts[big]+64]) {
		t.Fatalf("the largest chunk: %v", err)
	}
	flipBlob(t, e, n.Content[small])
	if _, err := readAt(starts[small]); !errors.Is(err, object.ErrCorrupt) {
		t.Fatalf("a damaged chunk: %v", err)
	}
	if got, err := readAt(starts[big]); err != nil || !bytes.Equal(got, data[starts[big]:starts[big]+64]) {
		t.Fatalf("the largest chunk after a damaged one failed to load: wrong bytes (%v)", err)
	}
	if pos, err := f.Seek(-10, io.SeekEnd); err != nil || pos != int64(len(data))-10 {
		t.Fatalf("seek from the end: %d %v", pos, err)
	}
	if _, err := f.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("negative seek accepted")
	}
	ef, efi, err := e.s.OpenFile(context.Background(), info, "empty")
	if err != nil || efi.Size != 0 {
		t.Fatal(err)
	}
	if n, err := ef.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("empty file read: %d %v", n, err)
	}
	if _, _, err := e.s.OpenFile(context.Background(), info, "dir"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("directory: %v", err)
	}
	if _, _, err := e.s.OpenFile(context.Background(), info, "nope"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Fatalf("missing path: %v", err)
	}
}
