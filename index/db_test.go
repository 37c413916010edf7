package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/object"
)

// openTest opens a fresh index in a temp dir; cleanup runs bbolt's
// consistency check before closing it.
func openTest(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "index.db")
	return openAt(t, path, Options{}), path
}

func openAt(t *testing.T, path string, opts Options) *DB {
	t.Helper()
	db, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Check(); err != nil {
			t.Errorf("bbolt consistency check: %v", err)
		}
		db.Close()
	})
	return db
}

func id(s string) object.ID { return object.Hash([]byte(s)) }

func blob(name string, typ object.BlobType, off, n uint32) object.Blob {
	return object.Blob{ID: id(name), Type: typ, Comp: object.Zstd, Offset: off, Length: n, RawLength: 3 * n}
}

func TestAddPackLookup(t *testing.T) {
	db, _ := openTest(t)
	p1 := object.PackInfo{ID: id("pack1"), Size: 1234, Data: true, Count: 2}
	a, b := blob("a", object.DataBlob, 0, 100), blob("b", object.DataBlob, 100, 200)
	if err := db.AddPack(p1, []object.Blob{a, b}); err != nil {
		t.Fatal(err)
	}
	loc, ok, err := db.Lookup(a.ID)
	if err != nil || !ok {
		t.Fatalf("Lookup(a) = %v, %v", ok, err)
	}
	if want := (object.Location{Pack: p1.ID, Blob: a}); loc != want {
		t.Errorf("Lookup(a) = %+v, want %+v", loc, want)
	}
	if _, ok, err := db.Lookup(id("nope")); ok || err != nil {
		t.Errorf("Lookup(unknown) = %v, %v; want false, nil", ok, err)
	}

	// a second pack holding b again: b keeps its first location
	p2 := object.PackInfo{ID: id("pack2"), Size: 99, Data: false, Count: 2}
	b2, c := blob("b", object.DataBlob, 0, 200), blob("c", object.TreeBlob, 200, 50)
	if err := db.AddPack(p2, []object.Blob{b2, c}); err != nil {
		t.Fatal(err)
	}
	if loc, _, _ := db.Lookup(b.ID); loc.Pack != p1.ID || loc.Offset != 100 {
		t.Errorf("b moved to %s@%d, want it to stay in pack1@100", loc.Pack.Short(), loc.Offset)
	}
	if loc, _, _ := db.Lookup(c.ID); loc.Pack != p2.ID || loc.Type != object.TreeBlob {
		t.Errorf("c = %+v", loc)
	}
	err = db.View(func(tx *Tx) error {
		if n := tx.BlobCount(); n != 3 {
			t.Errorf("BlobCount = %d, want 3", n)
		}
		got, ok, err := tx.Pack(p1.ID)
		if err != nil || !ok || got != p1 {
			t.Errorf("Pack(p1) = %+v, %v, %v; want %+v", got, ok, err, p1)
		}
		got, ok, err = tx.Pack(p2.ID)
		if err != nil || !ok || got != p2 {
			t.Errorf("Pack(p2) = %+v, %v, %v; want %+v", got, ok, err, p2)
		}
		var packs []object.ID
		if err := tx.Packs(func(p object.PackInfo) error { packs = append(packs, p.ID); return nil }); err != nil {
			return err
		}
		if len(packs) != 2 {
			t.Errorf("Packs listed %d, want 2", len(packs))
		}
		byPack := map[object.ID]int{}
		if err := tx.Blobs(func(l object.Location) error { byPack[l.Pack]++; return nil }); err != nil {
			return err
		}
		if byPack[p1.ID] != 2 || byPack[p2.ID] != 1 {
			t.Errorf("blobs per pack = %v", byPack)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// removing pack1 drops a (only there) and moves b to its copy in pack2
	err = db.Update(func(tx *Tx) error { return tx.RemovePack(p1.ID, []object.Blob{a, b}) })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.Lookup(a.ID); ok {
		t.Errorf("blob a still indexed after its pack was removed")
	}
	if loc, ok, _ := db.Lookup(b.ID); !ok || loc.Pack != p2.ID {
		t.Errorf("b = %+v (%v) after pack1 went; want its copy in pack2", loc, ok)
	}
	if _, ok, _ := db.Lookup(c.ID); !ok {
		t.Error("blob c of pack2 was dropped with pack1")
	}
	db.View(func(tx *Tx) error {
		if _, ok, _ := tx.Pack(p1.ID); ok {
			t.Error("pack1 record survives RemovePack")
		}
		return nil
	})
	// RemovePack only deletes entries that point at the removed pack
	err = db.Update(func(tx *Tx) error { return tx.RemovePack(id("pack3"), []object.Blob{c}) })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := db.Lookup(c.ID); !ok {
		t.Error("RemovePack of another pack deleted c")
	}
}

func TestPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := object.PackInfo{ID: id("p"), Size: 10, Data: true, Count: 1}
	a := blob("a", object.DataBlob, 0, 10)
	if err := db.AddPack(p, []object.Blob{a}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error { return tx.Put(Templates, "k", []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = openAt(t, path, Options{ReadOnly: true})
	if loc, ok, err := db.Lookup(a.ID); err != nil || !ok || loc.Pack != p.ID {
		t.Fatalf("after reopen Lookup = %+v, %v, %v", loc, ok, err)
	}
	db.View(func(tx *Tx) error {
		if v := tx.Get(Templates, "k"); string(v) != "v" {
			t.Errorf("Templates k = %q", v)
		}
		return nil
	})
	if err := db.Update(func(tx *Tx) error { return tx.Put(Templates, "k", nil) }); err == nil {
		t.Error("write to a read-only index succeeded")
	}
}

func TestUpdateRollsBack(t *testing.T) {
	db, _ := openTest(t)
	p := object.PackInfo{ID: id("p"), Size: 10, Data: true, Count: 1}
	a := blob("a", object.DataBlob, 0, 10)
	boom := errors.New("boom")
	err := db.Update(func(tx *Tx) error {
		if err := tx.AddPack(p, []object.Blob{a}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want boom", err)
	}
	if _, ok, _ := db.Lookup(a.ID); ok {
		t.Error("AddPack survived a failed Update")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic in Update was swallowed")
			}
		}()
		db.Update(func(tx *Tx) error {
			tx.AddPack(p, []object.Blob{a})
			panic("boom")
		})
	}()
	if _, ok, _ := db.Lookup(a.ID); ok {
		t.Error("AddPack survived a panicking Update")
	}
}

func putSnap(t *testing.T, db *DB, project string, at time.Time, name string) object.ID {
	t.Helper()
	sid := id(name)
	err := db.Update(func(tx *Tx) error {
		return tx.PutSnapshot(SnapshotRef{ID: sid, ProjectID: project, Time: at}, []byte(`{"n":"`+name+`"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func versions(db *DB, project string, limit int) []object.ID {
	var out []object.ID
	db.View(func(tx *Tx) error {
		tx.Versions(project, func(id object.ID, _ time.Time) bool {
			out = append(out, id)
			return limit <= 0 || len(out) < limit
		})
		return nil
	})
	return out
}

func TestVersionsNewestFirst(t *testing.T) {
	db, _ := openTest(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// neighbours whose keys sort right before and after "p\x00..."
	putSnap(t, db, "o", base.Add(time.Hour), "o1")
	putSnap(t, db, "pa", base.Add(-time.Hour), "pa1")
	putSnap(t, db, "p-", base, "p-1")
	// inserted out of order, one nanosecond apart at the end
	s2 := putSnap(t, db, "p", base.Add(2*time.Minute), "p2")
	s1 := putSnap(t, db, "p", base.Add(time.Minute), "p1")
	s4 := putSnap(t, db, "p", base.Add(3*time.Minute+1), "p4")
	s3 := putSnap(t, db, "p", base.Add(3*time.Minute), "p3")
	if got, want := versions(db, "p", 0), []object.ID{s4, s3, s2, s1}; !slices.Equal(got, want) {
		t.Errorf("Versions(p) = %v, want %v", shorts(got), shorts(want))
	}
	if got := versions(db, "p", 2); !slices.Equal(got, []object.ID{s4, s3}) {
		t.Errorf("Versions(p) stopping after 2 = %v", shorts(got))
	}
	if got := versions(db, "nope", 0); len(got) != 0 {
		t.Errorf("Versions(nope) = %v", shorts(got))
	}
	// the last project in the bucket (Seek runs off the end)
	z1 := putSnap(t, db, "zz", base, "z1")
	z2 := putSnap(t, db, "zz", base.Add(time.Second), "z2")
	if got := versions(db, "zz", 0); !slices.Equal(got, []object.ID{z2, z1}) {
		t.Errorf("Versions(zz) = %v", shorts(got))
	}
	var at []time.Time
	db.View(func(tx *Tx) error {
		tx.Versions("p", func(_ object.ID, t time.Time) bool { at = append(at, t); return true })
		return nil
	})
	if len(at) != 4 || !at[0].Equal(base.Add(3*time.Minute+1)) {
		t.Errorf("times = %v", at)
	}

	// records come back intact, and deleting one drops its version
	err := db.Update(func(tx *Tx) error {
		ref, data, ok, err := tx.Snapshot(s3)
		if err != nil || !ok {
			return fmt.Errorf("Snapshot(s3) = %v, %v", ok, err)
		}
		if ref.ProjectID != "p" || !ref.Time.Equal(base.Add(3*time.Minute)) || string(data) != `{"n":"p3"}` {
			t.Errorf("Snapshot(s3) = %+v %q", ref, data)
		}
		return tx.DeleteSnapshot(s3)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := versions(db, "p", 0); !slices.Equal(got, []object.ID{s4, s2, s1}) {
		t.Errorf("after delete Versions(p) = %v", shorts(got))
	}
	n := 0
	db.View(func(tx *Tx) error {
		_, _, ok, _ := tx.Snapshot(s3)
		if ok {
			t.Error("deleted snapshot record still there")
		}
		return tx.Snapshots(func(SnapshotRef, []byte) error { n++; return nil })
	})
	if n != 8 {
		t.Errorf("Snapshots listed %d records, want 8", n)
	}
}

func shorts(ids []object.ID) []string {
	var s []string
	for _, id := range ids {
		s = append(s, id.Short())
	}
	return s
}

func TestSnapshotsByPrefix(t *testing.T) {
	db, _ := openTest(t)
	at := time.Unix(1700000000, 0)
	var ids []object.ID
	for i := range 50 {
		ids = append(ids, putSnap(t, db, "p", at.Add(time.Duration(i)), fmt.Sprint("s", i)))
	}
	db.View(func(tx *Tx) error {
		for _, want := range ids {
			full := want.String()
			for _, n := range []int{64, 12, 6} {
				got := tx.SnapshotsByPrefix(full[:n])
				if !slices.Contains(got, want) {
					t.Errorf("prefix %s misses %s", full[:n], want.Short())
				}
				for _, g := range got {
					if !strings.HasPrefix(g.String(), full[:n]) {
						t.Errorf("prefix %s returned %s", full[:n], g)
					}
				}
			}
			if got := tx.SnapshotsByPrefix(full); len(got) != 1 {
				t.Errorf("full id matched %d", len(got))
			}
		}
		if got := tx.SnapshotsByPrefix(""); len(got) != len(ids) {
			t.Errorf("empty prefix matched %d, want %d", len(got), len(ids))
		}
		// every one-digit prefix together covers all ids exactly once
		total := 0
		for _, c := range "0123456789abcdef" {
			total += len(tx.SnapshotsByPrefix(string(c)))
		}
		if total != len(ids) {
			t.Errorf("one-digit prefixes matched %d ids, want %d", total, len(ids))
		}
		if got := tx.SnapshotsByPrefix(ids[0].String() + "0"); len(got) != 0 {
			t.Errorf("65-digit prefix matched %d", len(got))
		}
		return nil
	})
}

func TestCatalogueAndNamedBuckets(t *testing.T) {
	db, _ := openTest(t)
	err := db.Update(func(tx *Tx) error {
		for _, p := range []string{"b", "a", "c"} {
			if err := tx.PutProject(p, []byte("rec-"+p)); err != nil {
				return err
			}
		}
		if err := tx.SetName("alpha", "a"); err != nil {
			return err
		}
		if err := tx.Put(Templates, "t1", []byte("x")); err != nil {
			return err
		}
		return tx.MarkLost(id("gone"), "test")
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	db.View(func(tx *Tx) error {
		var order []string
		tx.Projects(func(id string, data []byte) error {
			order = append(order, id)
			if string(data) != "rec-"+id {
				t.Errorf("project %s = %q", id, data)
			}
			return nil
		})
		if !slices.Equal(order, []string{"a", "b", "c"}) {
			t.Errorf("Projects order %v", order)
		}
		if n := tx.ProjectCount(); n != 3 {
			t.Errorf("ProjectCount = %d", n)
		}
		if got := tx.ProjectIDByName("alpha"); got != "a" {
			t.Errorf("ProjectIDByName = %q", got)
		}
		if got := tx.ProjectIDByName("beta"); got != "" {
			t.Errorf("unknown name maps to %q", got)
		}
		buf = tx.Project("b")
		return nil
	})
	// bytes returned by a transaction stay valid after it ends
	if string(buf) != "rec-b" {
		t.Errorf("Project(b) after the tx = %q", buf)
	}
	err = db.Update(func(tx *Tx) error {
		if err := tx.DeleteProject("b"); err != nil {
			return err
		}
		if err := tx.DeleteName("alpha"); err != nil {
			return err
		}
		return tx.ClearCatalogue()
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *Tx) error {
		if tx.ProjectCount() != 0 || tx.Project("a") != nil || tx.Get(Templates, "t1") != nil {
			t.Error("ClearCatalogue left records")
		}
		if tx.LostCount() != 1 {
			t.Error("ClearCatalogue dropped the lost blobs")
		}
		return nil
	})
}

func TestClearBlobs(t *testing.T) {
	db, _ := openTest(t)
	p := object.PackInfo{ID: id("p"), Size: 10, Data: true, Count: 1}
	a := blob("a", object.DataBlob, 0, 10)
	if err := db.AddPack(p, []object.Blob{a}); err != nil {
		t.Fatal(err)
	}
	putSnap(t, db, "proj", time.Now(), "s")
	if err := db.Update(func(tx *Tx) error { return tx.ClearBlobs() }); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *Tx) error {
		if tx.BlobCount() != 0 {
			t.Error("blobs left after ClearBlobs")
		}
		if _, ok, _ := tx.Pack(p.ID); ok {
			t.Error("pack left after ClearBlobs")
		}
		n := 0
		tx.Snapshots(func(SnapshotRef, []byte) error { n++; return nil })
		if n != 1 {
			t.Error("ClearBlobs dropped snapshots")
		}
		return nil
	})
}

func TestReadOnlyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	if _, err := Open(path, Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only Open of a missing file succeeded")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("read-only Open created the file: %v", err)
	}
}

func TestCorruptRecordsAreErrors(t *testing.T) {
	k := make([]byte, 32)
	huge := binary.AppendUvarint(nil, 1<<64-1)
	for name, v := range map[string][]byte{
		"empty":            nil,
		"short":            {3, 'a'},
		"huge name length": append(bytes.Clone(huge), make([]byte, 16)...),
		"length past end":  append(binary.AppendUvarint(nil, 20), make([]byte, 10)...),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := decodeSnapshotRecord(k, v)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("decodeSnapshotRecord = %v, want ErrCorrupt", err)
			}
		})
	}
	if _, err := decodeLoc(k, make([]byte, locSize-1)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("decodeLoc(short) = %v", err)
	}
	if _, err := decodePack(k, make([]byte, 12)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("decodePack(short) = %v", err)
	}
}

// TestPackBlobLimit: a small index asks for no pack limit; once index.db is
// larger than limitAbove, packs are limited to MaxPackCount blobs.
func TestPackBlobLimit(t *testing.T) {
	db, path := openTest(t)
	blobs := make([]object.Blob, 3000)
	for i := range blobs {
		blobs[i] = object.Blob{ID: object.Hash(fmt.Appendf(nil, "blob %d", i)), Type: object.DataBlob, Length: 10, RawLength: 10}
	}
	if err := db.AddPack(object.PackInfo{ID: object.Hash([]byte("pack")), Size: 1 << 20}, blobs); err != nil {
		t.Fatal(err)
	}
	if n := db.PackBlobLimit(); n != 0 {
		t.Fatalf("small index: PackBlobLimit = %d, want 0", n)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	old := limitAbove
	t.Cleanup(func() { limitAbove = old })
	limitAbove = st.Size() - 1
	if n := db.PackBlobLimit(); n != object.MaxPackCount {
		t.Fatalf("index over %d bytes: PackBlobLimit = %d, want %d", limitAbove, n, object.MaxPackCount)
	}
}
