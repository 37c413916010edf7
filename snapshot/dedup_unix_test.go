//go:build unix

package snapshot_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// longTests reports whether the heavy variants run: SILO_LONG_TESTS=1 and
// not -short.
func longTests() bool {
	return !testing.Short() && os.Getenv("SILO_LONG_TESTS") == "1"
}

// buildProject writes a small project: sources, a vendored directory, a
// few binaries across the chunk boundaries.
func buildProject(t *testing.T, root string) int64 {
	var files int64
	for i := range 40 {
		writeFile(t, filepath.Join(root, "src", "pkg"+itoa(i%5), "file"+itoa(i)+".go"),
			strings.Repeat("package pkg // line "+itoa(i)+"\n", 50+i*20))
		files++
	}
	for i := range 4 {
		writeRandom(t, filepath.Join(root, "assets", "blob"+itoa(i)+".bin"), uint64(100+i), int64(i+1)<<20+int64(i)*777)
		files++
	}
	writeRandom(t, filepath.Join(root, "assets", "large.bin"), 200, 10<<20+3)
	files++
	writeFile(t, filepath.Join(root, "empty"), "")
	files++
	symlink(t, "src/pkg0", filepath.Join(root, "current"))
	mkdir(t, filepath.Join(root, "build", "empty"))
	scrambleTimes(t, root, 3)
	return files
}

func TestStoreTwiceAddsNothing(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	n := buildProject(t, src)
	first := r.store(t, src, object.ID{})
	if first.Stats.BlobsAdded == 0 || first.Stats.BytesAdded == 0 {
		t.Fatalf("first store added nothing: %+v", first.Stats)
	}
	packs := r.packFiles(t)
	dataBlobs := r.blobCount(t, object.DataBlob)
	treeBlobs := r.blobCount(t, object.TreeBlob)

	t.Run("without parent", func(t *testing.T) {
		// every file is read again, but every blob is known: nothing is written
		res := r.store(t, src, object.ID{})
		st := res.Stats
		if res.Tree != first.Tree {
			t.Errorf("tree %s, want %s", res.Tree.Short(), first.Tree.Short())
		}
		if st.BlobsAdded != 0 || st.BytesAdded != 0 {
			t.Errorf("second store added %d blobs, %d bytes", st.BlobsAdded, st.BytesAdded)
		}
		if st.FilesNew != n || st.BytesRead != st.Size {
			t.Errorf("files new %d read %d of %d", st.FilesNew, st.BytesRead, st.Size)
		}
		if got := r.packFiles(t); !slices.Equal(got, packs) {
			t.Errorf("packs %d -> %d", len(packs), len(got))
		}
	})

	t.Run("with parent", func(t *testing.T) {
		w := watchOpens(t, src)
		res := r.store(t, src, first.Tree)
		opened := w.opened(t)
		st := res.Stats
		if res.Tree != first.Tree {
			t.Errorf("tree %s, want %s", res.Tree.Short(), first.Tree.Short())
		}
		if st.FilesUnchanged != n || st.FilesNew != 0 || st.FilesChanged != 0 {
			t.Errorf("files new/changed/unchanged %d/%d/%d, want 0/0/%d", st.FilesNew, st.FilesChanged, st.FilesUnchanged, n)
		}
		if st.BytesRead != 0 || st.BlobsAdded != 0 || st.BytesAdded != 0 {
			t.Errorf("read %d, added %d blobs, %d bytes; want nothing", st.BytesRead, st.BlobsAdded, st.BytesAdded)
		}
		if st.Size != first.Stats.Size {
			t.Errorf("size %d, want %d", st.Size, first.Stats.Size)
		}
		// the proof: inotify saw no regular file opened
		if len(opened) > 0 {
			t.Errorf("unchanged files were opened: %q", opened)
		}
		if got := r.packFiles(t); !slices.Equal(got, packs) {
			t.Errorf("packs %d -> %d", len(packs), len(got))
		}
	})

	t.Run("one file changed", func(t *testing.T) {
		p := filepath.Join(src, "src", "pkg1", "file1.go")
		writeFile(t, p, "package pkg // edited\n")
		w := watchOpens(t, src)
		res := r.store(t, src, first.Tree)
		opened := w.opened(t)
		st := res.Stats
		if st.FilesChanged != 1 || st.FilesUnchanged != n-1 || st.FilesNew != 0 {
			t.Errorf("files new/changed/unchanged %d/%d/%d, want 0/1/%d", st.FilesNew, st.FilesChanged, st.FilesUnchanged, n-1)
		}
		if st.BytesRead != int64(len("package pkg // edited\n")) {
			t.Errorf("read %d bytes", st.BytesRead)
		}
		if !slices.Equal(opened, []string{p}) {
			t.Errorf("opened %q, want only %s", opened, p)
		}
		// one new data blob, and the trees from the file up to the root
		if got := r.blobCount(t, object.DataBlob); got != dataBlobs+1 {
			t.Errorf("data blobs %d -> %d, want +1", dataBlobs, got)
		}
		if got := r.blobCount(t, object.TreeBlob); got != treeBlobs+3 {
			t.Errorf("tree blobs %d -> %d, want +3 (pkg1, src, root)", treeBlobs, got)
		}
		compareTrees(t, src, r.restore(t, res), true)
	})

	t.Run("touched file", func(t *testing.T) {
		// a new mtime alone makes the file "changed": it is read, but its
		// chunks are known, so no data blob is added
		parent := r.store(t, src, first.Tree)
		before := r.blobCount(t, object.DataBlob)
		p := filepath.Join(src, "assets", "large.bin")
		if err := os.Chtimes(p, time.Now(), time.Unix(1600000000, 123456789)); err != nil {
			t.Fatal(err)
		}
		res := r.store(t, src, parent.Tree)
		if res.Stats.FilesChanged != 1 || res.Stats.BytesRead != 10<<20+3 {
			t.Errorf("changed %d, read %d", res.Stats.FilesChanged, res.Stats.BytesRead)
		}
		if got := r.blobCount(t, object.DataBlob); got != before {
			t.Errorf("data blobs %d -> %d, want none added", before, got)
		}
		compareTrees(t, src, r.restore(t, res), true)
	})
}

// TestInsertOneByteAddsFewChunks: content-defined chunking means a byte
// inserted at the start of a big file changes only the chunks around it.
func TestInsertOneByteAddsFewChunks(t *testing.T) {
	size := int64(40 << 20)
	if longTests() {
		size = 100 << 20
	}
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	p := filepath.Join(src, "big.bin")
	writeRandom(t, p, 77, size)
	first := r.store(t, src, object.ID{})
	if first.Stats.BytesAdded < size {
		t.Fatalf("random data compressed? added %d of %d", first.Stats.BytesAdded, size)
	}
	blobsBefore := r.blobCount(t, object.DataBlob)

	check := func(name string, parent object.ID) *snapshot.StoreResult {
		t.Helper()
		res := r.store(t, src, parent)
		st := res.Stats
		added := r.blobCount(t, object.DataBlob) - blobsBefore
		t.Logf("%s: %d new data blobs, %d bytes added for a %d-byte file", name, added, st.BytesAdded, size)
		if st.BytesRead < size {
			t.Errorf("%s: read %d, want the whole file", name, st.BytesRead)
		}
		if added < 1 || added > 3 {
			t.Errorf("%s: %d new data blobs, want 1..3", name, added)
		}
		if st.BytesAdded > 2*chunk.MaxSize || st.BytesAdded > size/4 {
			t.Errorf("%s: %d bytes added for a %d-byte file", name, st.BytesAdded, size)
		}
		blobsBefore += added
		return res
	}

	// insert one byte at the start (a new file replaces the old one)
	tmp := p + ".new"
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	writeFrom(t, tmp, io.MultiReader(strings.NewReader("!"), f))
	f.Close()
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	size++
	res := check("insert at the start", first.Tree)
	compareTrees(t, src, r.restore(t, res), true)

	// overwrite one byte in the middle, in place
	fw, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.WriteAt([]byte{'?'}, size/2); err != nil {
		t.Fatal(err)
	}
	fw.Close()
	res = check("overwrite in the middle", res.Tree)

	// append a little
	fa, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fa.WriteString("appended tail"); err != nil {
		t.Fatal(err)
	}
	fa.Close()
	size += int64(len("appended tail"))
	res = check("append", res.Tree)
	compareTrees(t, src, r.restore(t, res), true)
}

func TestIdenticalFilesStoredOnce(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	const size = 3<<20 + 1234
	dirs := []string{"a", "b", "c/deep/er", "d"}
	for _, d := range dirs {
		writeRandom(t, filepath.Join(src, d, "same.bin"), 5, size)
		writeFile(t, filepath.Join(src, d, "same.txt"), "small and identical\n")
	}
	// a copy under another name in the same directory too
	writeRandom(t, filepath.Join(src, "a", "copy-of-same.bin"), 5, size)
	scrambleTimes(t, src, 1)
	res := r.store(t, src, object.ID{})

	ctx := context.Background()
	var content [][]object.ID
	err := snapshot.Walk(ctx, r.repo, res.Tree, func(p string, n *snapshot.Node) error {
		if strings.HasSuffix(p, ".bin") {
			content = append(content, n.Content)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(content) != len(dirs)+1 {
		t.Fatalf("found %d copies", len(content))
	}
	for _, c := range content[1:] {
		if !slices.Equal(c, content[0]) {
			t.Fatal("identical files got different chunk lists")
		}
	}
	// one set of chunks plus the small file's one chunk
	if got, want := r.blobCount(t, object.DataBlob), len(content[0])+1; got != want {
		t.Errorf("%d data blobs, want %d", got, want)
	}
	var dataBytes int64
	for _, p := range r.packFiles(t) {
		id, _ := object.ParseID(filepath.Base(p))
		blobs, size, err := object.ReadPackTable(ctx, r.be, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(blobs) > 0 && blobs[0].Type == object.DataBlob {
			dataBytes += size
		}
	}
	if dataBytes > size+size/8 {
		t.Errorf("data packs hold %d bytes for %d copies of a %d-byte file", dataBytes, len(content), size)
	}
	if res.Stats.BytesRead != int64(len(content))*size+int64(len(dirs))*int64(len("small and identical\n")) {
		t.Errorf("read %d", res.Stats.BytesRead)
	}
	compareTrees(t, src, r.restore(t, res), true)
}
