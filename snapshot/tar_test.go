package snapshot_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// memRepo is an in-memory blob store for decoder fuzzing.
type memRepo struct {
	mu    sync.Mutex
	blobs map[object.ID][]byte
}

func (m *memRepo) ID(plain []byte) object.ID { return object.Hash(plain) }

func (m *memRepo) SaveBlob(_ context.Context, _ object.BlobType, id object.ID, plain []byte) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if object.Hash(plain) != id {
		return 0, fmt.Errorf("blob %s: content does not match the id", id.Short())
	}
	if _, ok := m.blobs[id]; ok {
		return 0, nil
	}
	m.blobs[id] = bytes.Clone(plain)
	return int64(len(plain)), nil
}

func (m *memRepo) LoadBlob(_ context.Context, id object.ID, dst []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[id]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", id, object.ErrBlobNotFound)
	}
	return append(dst[:0], b...), nil
}

type tarEntry struct {
	name, link string
	typ        byte
	body       string
	mode       int64
}

func makeTar(entries ...tarEntry) []byte {
	tes := make([]testutil.TarEntry, len(entries))
	for i, e := range entries {
		tes[i] = testutil.TarEntry{Header: tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			ModTime: time.Unix(1700000000, 123456789)}}
		if e.typ == tar.TypeReg {
			tes[i].Body = []byte(e.body)
		}
	}
	return testutil.Tar(nil, tes...)
}

// fuzzPol is a fixed irreducible polynomial of degree 53.
var fuzzPol = func() chunk.Pol {
	p, err := chunk.ParsePolynomial("3da3358b4dc173")
	if err != nil {
		panic(err)
	}
	return p
}()

// FuzzStoreTar: a tar stream never panics the importer; whatever it
// accepts is a valid tree with every blob present, and exporting it with
// WriteTar and importing that again gives the same tree.
func FuzzStoreTar(f *testing.F) {
	f.Add(makeTar(
		tarEntry{name: "./", typ: tar.TypeDir, mode: 0o750},
		tarEntry{name: "dir/", typ: tar.TypeDir},
		tarEntry{name: "dir/file.txt", typ: tar.TypeReg, body: "hello"},
		tarEntry{name: "dir/empty", typ: tar.TypeReg},
		tarEntry{name: "link", typ: tar.TypeSymlink, link: "dir/file.txt"},
		tarEntry{name: "hard", typ: tar.TypeLink, link: "dir/file.txt"},
		tarEntry{name: "implicit/parent/ü.md", typ: tar.TypeReg, body: "# x", mode: 0o4755},
	))
	f.Add(makeTar(tarEntry{name: "../escape", typ: tar.TypeReg, body: "x"}))
	f.Add(makeTar(tarEntry{name: "/abs", typ: tar.TypeReg, body: "x"}))
	f.Add(makeTar(tarEntry{name: "l", typ: tar.TypeSymlink, link: "/tmp"}, tarEntry{name: "l/x", typ: tar.TypeReg, body: "x"}))
	f.Add(makeTar(tarEntry{name: "f", typ: tar.TypeReg, body: "x"}, tarEntry{name: "f/", typ: tar.TypeDir}))
	f.Add(makeTar(tarEntry{name: "d/", typ: tar.TypeDir}, tarEntry{name: "d", typ: tar.TypeReg, body: "x"}))
	f.Add(makeTar(tarEntry{name: "h", typ: tar.TypeLink, link: "missing"}))
	f.Add(makeTar(tarEntry{name: "fifo", typ: tar.TypeFifo}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		repo := &memRepo{blobs: map[object.ID][]byte{}}
		const maxEntries = 10000
		res, err := snapshot.StoreTar(ctx, repo, bytes.NewReader(data), snapshot.StoreOptions{Pol: fuzzPol, Limit: 1 << 20, MaxEntries: maxEntries})
		if err != nil {
			if !errors.Is(err, snapshot.ErrBadTar) && !errors.Is(err, snapshot.ErrUnsafePath) && !errors.Is(err, snapshot.ErrLimit) &&
				!errors.Is(err, snapshot.ErrEntryLimit) && !errors.Is(err, snapshot.ErrPathLimit) {
				t.Fatalf("error %v wraps no snapshot sentinel", err)
			}
			return
		}
		// what is accepted keeps every bound: restorable names, paths,
		// depth, entry count and size
		var entries, size int64
		err = snapshot.Walk(ctx, repo, res.Tree, func(p string, n *snapshot.Node) error {
			entries++
			if n.Type == snapshot.File {
				size += int64(n.Size)
			}
			if err := snapshot.CheckName(n.Name); err != nil {
				return fmt.Errorf("accepted %q: %w", p, err)
			}
			if len(p) > snapshot.DefaultMaxPath || strings.Count(p, "/")+1 > snapshot.DefaultMaxDepth {
				return fmt.Errorf("accepted a path of %d bytes, %d levels", len(p), strings.Count(p, "/")+1)
			}
			var sum int
			for _, id := range n.Content {
				b, err := repo.LoadBlob(ctx, id, nil)
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				sum += len(b)
			}
			if n.Type == snapshot.File && uint64(sum) != n.Size {
				return fmt.Errorf("%s: chunks hold %d bytes, node says %d", p, sum, n.Size)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if entries > maxEntries || size > 1<<20 || size != res.Stats.Size {
			t.Fatalf("accepted %d entries of %d bytes (stats say %d bytes)", entries, size, res.Stats.Size)
		}
		var exp bytes.Buffer
		if err := snapshot.WriteTar(ctx, repo, res.Tree, &exp); err != nil {
			t.Fatalf("WriteTar of an imported tree: %v", err)
		}
		res2, err := snapshot.StoreTar(ctx, repo, bytes.NewReader(exp.Bytes()), snapshot.StoreOptions{Pol: fuzzPol})
		if err != nil {
			t.Fatalf("re-import of WriteTar output: %v", err)
		}
		if res2.Tree != res.Tree {
			var a, b []string
			snapshot.Walk(ctx, repo, res.Tree, func(p string, n *snapshot.Node) error {
				a = append(a, fmt.Sprintf("%s %v %o %d %q", p, n.Type, n.Mode, n.MTime, n.Target))
				return nil
			})
			snapshot.Walk(ctx, repo, res2.Tree, func(p string, n *snapshot.Node) error {
				b = append(b, fmt.Sprintf("%s %v %o %d %q", p, n.Type, n.Mode, n.MTime, n.Target))
				return nil
			})
			t.Fatalf("export and re-import changed the tree:\n%q\n%q", a, b)
		}
	})
}

func paxRecord(k, v string) string {
	body := " " + k + "=" + v + "\n"
	n := len(body) + 1
	for len(fmt.Sprint(n))+len(body) != n {
		n++
	}
	return fmt.Sprint(n) + body
}

// sparseBomb returns a tar of a few KiB holding one PAX (GNU 1.0) sparse
// file that claims realSize bytes, all holes. archive/tar's writer cannot
// write sparse files, so a comment record of the same length is swapped
// for the sparse records.
func sparseBomb(t *testing.T, realSize int64) []byte {
	recs := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", "bomb-file") + paxRecord("GNU.sparse.realsize", fmt.Sprint(realSize))
	var comment string
	for l := 1; len(paxRecord("comment", comment)) < len(recs); l++ {
		comment = strings.Repeat("x", l)
	}
	pad := paxRecord("comment", comment)
	if len(pad) != len(recs) {
		t.Fatalf("cannot pad %d bytes of records with a %d-byte comment", len(recs), len(pad))
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	sparseMap := make([]byte, 512)
	copy(sparseMap, "0\n") // no data fragments: all of it is a hole
	hdr := &tar.Header{Name: "bomb", Typeflag: tar.TypeReg, Mode: 0o644, Size: 512, ModTime: time.Unix(1700000000, 0),
		PAXRecords: map[string]string{"comment": comment}, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	tw.Write(sparseMap)
	tw.Close()
	b := buf.Bytes()
	i := bytes.Index(b, []byte(pad))
	if i < 0 {
		t.Fatal("comment record not found")
	}
	copy(b[i:], recs)
	return b
}

func TestStoreTarSparseBombStopsAtLimit(t *testing.T) {
	ctx := context.Background()
	// the bomb really expands: a 1 MiB claim imports as 1 MiB of zeros
	repo := &memRepo{blobs: map[object.ID][]byte{}}
	res, err := snapshot.StoreTar(ctx, repo, bytes.NewReader(sparseBomb(t, 1<<20)), snapshot.StoreOptions{Pol: fuzzPol})
	if err != nil || res.Stats.Size != 1<<20 {
		t.Fatalf("1 MiB sparse file: %v, %+v", err, res)
	}
	// 1 TiB of holes in a 3 KiB tar stops at the 4 MiB limit at once
	start := time.Now()
	_, err = snapshot.StoreTar(ctx, repo, bytes.NewReader(sparseBomb(t, 1<<40)), snapshot.StoreOptions{Pol: fuzzPol, Limit: 4 << 20})
	if !errors.Is(err, snapshot.ErrLimit) {
		t.Fatalf("StoreTar = %v, want ErrLimit", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to notice the limit", d)
	}
	// with no limit at all, a sparse entry over 1 GiB is refused at once
	// (and a cancelled context would stop it too)
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = snapshot.StoreTar(cctx, repo, bytes.NewReader(sparseBomb(t, 1<<40)), snapshot.StoreOptions{Pol: fuzzPol})
	if !errors.Is(err, snapshot.ErrBadTar) || !strings.Contains(err.Error(), "sparse") {
		t.Errorf("StoreTar of a 1 TiB sparse entry with no limit = %v, want ErrBadTar naming the sparse file", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v to notice the deadline", d)
	}
}

// TestWriteTarNamesUseSlash: a tar export names its entries with '/', on
// Windows too, whatever separator the stored directory was read with, and
// keeps a link target's '/' as stored.
func TestWriteTarNamesUseSlash(t *testing.T) {
	r := newTestRepo(t)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a", "b", "c.txt"), "deep\n")
	writeFile(t, filepath.Join(src, "top.txt"), "top\n")
	mkdir(t, filepath.Join(src, "a", "empty"))
	res := r.store(t, src, object.ID{})
	data := r.saveRaw(t, object.DataBlob, []byte("x"))
	inner := r.saveRaw(t, object.TreeBlob, rawTree(
		rawEntry{name: "f", typ: snapshot.File, content: []object.ID{data}, size: 1},
		rawEntry{name: "link", typ: snapshot.Symlink, mode: 0o777, target: "../up/there"}))
	linked := r.saveRaw(t, object.TreeBlob, rawTree(rawEntry{name: "d", typ: snapshot.Dir, mode: 0o755, subtree: inner}))

	for _, tc := range []struct {
		tree object.ID
		want []string
	}{
		{res.Tree, []string{"a/", "a/b/", "a/b/c.txt", "a/empty/", "top.txt"}},
		{linked, []string{"d/", "d/f", "d/link -> ../up/there"}},
	} {
		var buf bytes.Buffer
		if err := snapshot.WriteTar(ctx, r.repo, tc.tree, &buf); err != nil {
			t.Fatal(err)
		}
		var got []string
		tr := tar.NewReader(&buf)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			name := hdr.Name
			if hdr.Typeflag == tar.TypeSymlink {
				name += " -> " + hdr.Linkname
			}
			got = append(got, name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("tar entries %q, want %q", got, tc.want)
		}
	}
}
