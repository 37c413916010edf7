package object_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/silo-dev/silo/crypt"
	"github.com/silo-dev/silo/object"
)

func newSealer(t *testing.T) *object.Sealer {
	t.Helper()
	m, err := crypt.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	return object.NewSealer(&m)
}

// packFiles returns every pack file's bytes under dir.
func packFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	filepath.WalkDir(filepath.Join(dir, "packs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, rerr := os.ReadFile(p)
			if rerr != nil {
				t.Fatal(rerr)
			}
			out[p] = b
		}
		return nil
	})
	return out
}

// An encrypted repository's packs show neither contents nor the tree's
// names, its ids are keyed, and everything reads back.
func TestSealedRepositoryRoundTrip(t *testing.T) {
	ctx := context.Background()
	seal := newSealer(t)
	r := newRepoIn(t, t.TempDir(), 1<<20, seal)
	text := bytes.Repeat([]byte("MARKER-plaintext-7f3a "), 400) // compressible: stored as zstd
	random := seededBytes(7, 200<<10)                           // stored raw
	tree := []byte(`{"name":"SECRETNAME-91c2.txt"}`)
	ids := []object.ID{r.save(t, object.DataBlob, text), r.save(t, object.DataBlob, random), r.save(t, object.TreeBlob, tree)}
	r.flush(t)
	if ids[0] == object.Hash(text) {
		t.Fatal("an encrypted repository's id is the plain BLAKE3 of the content")
	}
	if other := newSealer(t); other.ID(text) == ids[0] {
		t.Fatal("two master keys give one id")
	}
	packs := packFiles(t, r.dir)
	if len(packs) < 2 || len(packs) > 3 {
		t.Fatalf("%d packs, want a tree pack and one or two data packs", len(packs))
	}
	for p, b := range packs {
		for _, secret := range [][]byte{[]byte("MARKER-plaintext"), []byte("SECRETNAME"), random[:64], ids[0][:]} {
			if bytes.Contains(b, secret) {
				t.Errorf("%s holds %q in the clear", p, secret[:10])
			}
		}
		if !strings.HasSuffix(string(b), "SILOPKE1") {
			t.Errorf("%s does not end with the sealed magic", p)
		}
	}
	for i, want := range [][]byte{text, random, tree} {
		got, err := r.repo.LoadBlob(ctx, ids[i], nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("blob %d: %v (%d bytes, want %d)", i, err, len(got), len(want))
		}
	}
	// the packs' tables read with the key; without it they are refused
	loc, _, _ := r.repo.Lookup(ids[0])
	blobs, _, err := r.repo.ReadPackTable(ctx, loc.Pack)
	if err != nil || !slices.ContainsFunc(blobs, func(b object.Blob) bool { return b.ID == ids[0] }) {
		t.Fatalf("sealed table: %v, %d blobs without %s", err, len(blobs), ids[0].Short())
	}
	if _, _, err := object.ReadPackTable(ctx, r.be, loc.Pack); !errors.Is(err, object.ErrSealed) {
		t.Errorf("a sealed pack read as plain: %v, want ErrSealed", err)
	}
	// another key opens nothing: neither the table nor a blob
	wrong := newRepoIn(t, r.dir, 1<<20, newSealer(t))
	if _, _, err := wrong.repo.ReadPackTable(ctx, loc.Pack); !errors.Is(err, object.ErrCorrupt) {
		t.Errorf("another key opened the table: %v", err)
	}
	if err := wrong.repo.AddPack(object.PackInfo{ID: loc.Pack, Size: 1, Data: true, Count: len(blobs)}, blobs); err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.repo.LoadAt(ctx, loc, nil); !errors.Is(err, object.ErrCorrupt) {
		t.Errorf("another key opened a blob: %v", err)
	}
	// a plain repository over the same packs refuses them
	plain := newRepoIn(t, r.dir, 1<<20, nil)
	if _, _, err := plain.repo.ReadPackTable(ctx, loc.Pack); !errors.Is(err, object.ErrSealed) {
		t.Errorf("a plain repository read a sealed table: %v", err)
	}
	// and a sealed one refuses a plain pack (a downgrade by someone without the key)
	pr := newPackRepo(t, 1<<20)
	pid := pr.save(t, object.DataBlob, text)
	pr.flush(t)
	ploc, _, _ := pr.repo.Lookup(pid)
	sealedOverPlain := newRepoIn(t, pr.dir, 1<<20, seal)
	if _, _, err := sealedOverPlain.repo.ReadPackTable(ctx, ploc.Pack); !errors.Is(err, object.ErrSealed) {
		t.Errorf("an encrypted repository read a plain pack: %v", err)
	}
	if err := r.repo.VerifyPack(ctx, loc.Pack, func(b object.Blob, err error) {
		if err != nil {
			t.Errorf("verify blob %s: %v", b.ID.Short(), err)
		}
	}); err != nil {
		t.Fatal(err)
	}
}

// Blobs cannot be swapped: two sealed blobs of one length exchanged
// inside a pack fail authentication instead of reading as each other.
func TestSealedBlobsCannotBeSwapped(t *testing.T) {
	ctx := context.Background()
	r := newRepoIn(t, t.TempDir(), 1<<20, newSealer(t))
	a, b := seededBytes(1, 100<<10), seededBytes(2, 100<<10)
	// tree blobs: one packer, so one pack (data blobs go to packs at random)
	ida, idb := r.save(t, object.TreeBlob, a), r.save(t, object.TreeBlob, b)
	r.flush(t)
	la, _, _ := r.repo.Lookup(ida)
	lb, _, _ := r.repo.Lookup(idb)
	if la.Pack != lb.Pack || la.Length != lb.Length {
		t.Fatalf("want one pack and one length: %v %v", la, lb)
	}
	p := r.packPath(la.Pack)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sa := bytes.Clone(data[la.Offset : la.Offset+la.Length])
	copy(data[la.Offset:], data[lb.Offset:lb.Offset+lb.Length])
	copy(data[lb.Offset:], sa)
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r.repo.Forget(la.Pack)
	for _, id := range []object.ID{ida, idb} {
		if got, err := r.repo.LoadBlob(ctx, id, nil); !errors.Is(err, object.ErrCorrupt) {
			t.Errorf("swapped blob %s: %d bytes, %v; want ErrCorrupt", id.Short(), len(got), err)
		}
	}
}

// A sealed table is written twice: a damaged byte in one copy leaves the
// pack readable and salvageable; both copies damaged, Salvage still finds
// every blob an index remembered.
func TestSealedTableSecondCopy(t *testing.T) {
	ctx := context.Background()
	r := newRepoIn(t, t.TempDir(), 1<<20, newSealer(t))
	var ids []object.ID
	for i := range 5 {
		ids = append(ids, r.save(t, object.TreeBlob, seededBytes(uint64(10+i), 10<<10)))
	}
	r.flush(t)
	loc, _, _ := r.repo.Lookup(ids[0])
	p := r.packPath(loc.Pack)
	data, _ := os.ReadFile(p)
	one := (5*46 + crypt.Overhead)
	tables := len(data) - 12 - 2*one
	flip := func(off int) {
		data[off] ^= 0x40
		os.Chmod(p, 0o644)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flip(tables + 30) // inside the first copy
	blobs, _, err := r.repo.ReadPackTable(ctx, loc.Pack)
	if err != nil || len(blobs) != 5 {
		t.Fatalf("with the first copy damaged: %v, %d blobs", err, len(blobs))
	}
	good, bad, err := r.repo.Salvage(ctx, loc.Pack, nil)
	if err != nil || len(good) != 5 || bad != 0 {
		t.Fatalf("salvage with one copy damaged: %d good, %d bad, %v", len(good), bad, err)
	}
	flip(tables + one + 30) // and the second
	if _, _, err := r.repo.ReadPackTable(ctx, loc.Pack); !errors.Is(err, object.ErrCorrupt) {
		t.Fatalf("both copies damaged: %v, want ErrCorrupt", err)
	}
	var hints []object.Blob
	for _, id := range ids {
		l, _, _ := r.repo.Lookup(id)
		hints = append(hints, l.Blob)
	}
	hints[2].Offset++ // a wrong hint is not taken
	good, bad, err = r.repo.Salvage(ctx, loc.Pack, hints)
	if err != nil || len(good) != 4 || bad != 1 {
		t.Fatalf("salvage from hints: %d good, %d bad, %v; want 4 and 1", len(good), bad, err)
	}
}

// Files outside packs (records, the sealed config) bind their name.
func TestSealFile(t *testing.T) {
	s := newSealer(t)
	sealed, err := s.SealFile("backups/a.json", []byte(`{"project":"SECRET"}`))
	if err != nil || bytes.Contains(sealed, []byte("SECRET")) {
		t.Fatalf("%v; sealed %q", err, sealed)
	}
	if got, err := s.OpenFile("backups/a.json", sealed); err != nil || string(got) != `{"project":"SECRET"}` {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := s.OpenFile("backups/b.json", sealed); !errors.Is(err, object.ErrCorrupt) {
		t.Errorf("a renamed file opened: %v", err)
	}
	if _, err := newSealer(t).OpenFile("backups/a.json", sealed); !errors.Is(err, object.ErrCorrupt) {
		t.Errorf("another key opened the file: %v", err)
	}
	var plain *object.Sealer
	if got, _ := plain.SealFile("x", []byte("y")); string(got) != "y" {
		t.Error("a plain repository's SealFile changed the bytes")
	}
}

// An encrypted repository spreads data blobs over several open packs at
// random: a pack's size is not the sum of one file's consecutive chunks.
func TestSealedDataPacksAreMixed(t *testing.T) {
	r := newRepoIn(t, t.TempDir(), 64<<20, newSealer(t))
	for i := range 60 {
		r.save(t, object.DataBlob, seededBytes(uint64(100+i), 8<<10))
	}
	r.flush(t)
	if n := len(packFiles(t, r.dir)); n != 3 {
		t.Fatalf("60 blobs went to %d packs, want 3", n)
	}
	plain := newPackRepo(t, 64<<20)
	for i := range 60 {
		plain.save(t, object.DataBlob, seededBytes(uint64(100+i), 8<<10))
	}
	plain.flush(t)
	if n := len(packFiles(t, plain.dir)); n != 1 {
		t.Fatalf("a plain repository wrote %d packs, want 1", n)
	}
}
