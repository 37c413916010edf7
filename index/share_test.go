package index

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/silo-dev/silo/object"
)

// Two DBs on one file behave like two processes: bbolt's file locks and
// the gate are per open file, so they conflict across DBs as across
// processes.
func TestTwoWritersShareTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	dbs := []*DB{openAt(t, path, Options{}), openAt(t, path, Options{})}
	const packs = 60
	var wg sync.WaitGroup
	errs := make(chan error, 4*packs)
	for w, db := range dbs {
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			for i := range packs {
				p := object.PackInfo{ID: id(fmt.Sprintf("p%d-%d", w, i)), Size: 1, Data: true, Count: 1}
				b := blob(fmt.Sprintf("b%d-%d", w, i), object.DataBlob, 0, 1)
				if err := db.AddPack(p, []object.Blob{b}); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() { // reader beside it: every lookup of what this side wrote before
			defer wg.Done()
			for i := range 4 * packs {
				if _, _, err := db.Lookup(id(fmt.Sprintf("b%d-%d", 1-w, i%packs))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, db := range dbs {
		for w := range 2 {
			for i := range packs {
				if _, ok, err := db.Lookup(id(fmt.Sprintf("b%d-%d", w, i))); !ok || err != nil {
					t.Fatalf("blob b%d-%d not indexed (%v, %v)", w, i, ok, err)
				}
			}
		}
	}
}

// A writer waits for another process's reads only as long as a slice or
// one read transaction lasts, even while that process reads without pause.
func TestWriterIsNotStarvedByReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	reader := openAt(t, path, Options{Slice: 20 * time.Millisecond})
	writer := openAt(t, path, Options{Timeout: 5 * time.Second})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				reader.Lookup(id("x"))
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(30 * time.Millisecond)
	for i := range 20 {
		start := time.Now()
		p := object.PackInfo{ID: id(fmt.Sprint("p", i)), Size: 1, Data: true, Count: 1}
		if err := writer.AddPack(p, []object.Blob{blob(fmt.Sprint("b", i), object.DataBlob, 0, 1)}); err != nil {
			t.Fatal(err)
		}
		// a slice is 20 ms; allow generously for a loaded machine
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("commit %d waited %v beside a busy reader", i, d)
		}
	}
}

// A process stopped in the middle of a transaction holds the file: the
// others give up after Timeout with ErrBusy, naming the file.
func TestBusyAfterTimeout(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	holder := openAt(t, path, Options{})
	other := openAt(t, path, Options{Timeout: 200 * time.Millisecond})
	inside, release := make(chan struct{}), make(chan struct{})
	go holder.View(func(*Tx) error { close(inside); <-release; return nil })
	<-inside
	start := time.Now()
	err := other.Update(func(tx *Tx) error { return tx.MarkLost(id("x"), "") })
	close(release)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Update beside a held read = %v, want ErrBusy naming %s", err, path)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("gave up after %v", d)
	}
	// once the holder lets go, writing works again
	if err := other.Update(func(tx *Tx) error { return tx.MarkLost(id("x"), "") }); err != nil {
		t.Fatal(err)
	}
}

func TestDuplicatesTakeOver(t *testing.T) {
	db, _ := openTest(t)
	p1 := object.PackInfo{ID: id("p1"), Size: 1, Data: true, Count: 1}
	p2 := object.PackInfo{ID: id("p2"), Size: 1, Data: true, Count: 2}
	a1, a2 := blob("a", object.DataBlob, 0, 10), blob("a", object.DataBlob, 10, 10)
	b := blob("b", object.DataBlob, 0, 10)
	must(t, db.AddPack(p1, []object.Blob{a1}))
	must(t, db.AddPack(p2, []object.Blob{b, a2}))
	must(t, db.View(func(tx *Tx) error {
		locs, err := tx.Locations(a1.ID)
		if err != nil || len(locs) != 2 || locs[0].Pack != p1.ID || locs[1].Pack != p2.ID {
			t.Errorf("Locations(a) = %+v, %v", locs, err)
		}
		return nil
	}))
	must(t, db.Update(func(tx *Tx) error { return tx.RemovePack(p1.ID, []object.Blob{a1}) }))
	if loc, ok, _ := db.Lookup(a1.ID); !ok || loc.Pack != p2.ID || loc.Offset != 10 {
		t.Fatalf("after its first pack went, a = %+v (%v); want the duplicate in p2", loc, ok)
	}
	// SetBlob moves the first location and keeps the old one until its pack goes
	p3 := object.PackInfo{ID: id("p3"), Size: 1, Data: true, Count: 1}
	must(t, db.Update(func(tx *Tx) error {
		if err := tx.AddPack(p3, nil); err != nil {
			return err
		}
		return tx.SetBlob(object.Location{Pack: p3.ID, Blob: blob("a", object.DataBlob, 5, 10)})
	}))
	must(t, db.Update(func(tx *Tx) error { return tx.RemovePack(p3.ID, []object.Blob{a1}) }))
	if loc, ok, _ := db.Lookup(a1.ID); !ok || loc.Pack != p2.ID {
		t.Fatalf("after p3 went, a = %+v (%v); want p2 back", loc, ok)
	}
	must(t, db.Update(func(tx *Tx) error { return tx.RemovePack(p2.ID, []object.Blob{b, a2}) }))
	if _, ok, _ := db.Lookup(a1.ID); ok {
		t.Fatal("a still indexed with no pack left")
	}
}

func TestLostUntilIndexedAgain(t *testing.T) {
	db, _ := openTest(t)
	a := blob("a", object.DataBlob, 0, 10)
	must(t, db.Update(func(tx *Tx) error { return tx.MarkLost(a.ID, "pack x unreadable") }))
	count := func() (n int) {
		db.View(func(tx *Tx) error { n = tx.LostCount(); return nil })
		return n
	}
	if count() != 1 {
		t.Fatal("MarkLost recorded nothing")
	}
	must(t, db.AddPack(object.PackInfo{ID: id("p"), Size: 1, Data: true, Count: 1}, []object.Blob{a}))
	if count() != 0 {
		t.Fatal("a blob indexed again is still recorded lost")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Damaged files are reported, with the remedy, instead of crashing.
func TestDamagedIndexIsAnError(t *testing.T) {
	good := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "index.db")
		db, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var packs []object.NewPack
		for i := range 3000 {
			packs = append(packs, object.NewPack{Info: object.PackInfo{ID: id(fmt.Sprint("p", i)), Size: 1, Count: 1},
				Blobs: []object.Blob{blob(fmt.Sprint("b", i), object.DataBlob, 0, 1)}})
		}
		must(t, db.Update(func(tx *Tx) error { return tx.AddPacks(packs) }))
		db.Close()
		return path
	}
	scan := func(path string) error {
		db, err := Open(path, Options{})
		if err != nil {
			return err
		}
		defer db.Close()
		return db.View(func(tx *Tx) error {
			if err := tx.Packs(func(object.PackInfo) error { return nil }); err != nil {
				return err
			}
			return tx.Blobs(func(object.Location) error { return nil })
		})
	}
	for name, damage := range map[string]func(t *testing.T, path string){
		"empty":        func(t *testing.T, path string) { must(t, os.Truncate(path, 0)) },
		"cut to 8 KiB": func(t *testing.T, path string) { must(t, os.Truncate(path, 8192)) },
		"cut in half": func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			must(t, os.Truncate(path, st.Size()/2))
		},
		"meta pages overwritten": func(t *testing.T, path string) { scribble(t, path, 0, 8192, 1) },
		"pages overwritten": func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			scribble(t, path, 16384, st.Size()-16384, 2)
		},
	} {
		t.Run(name, func(t *testing.T) {
			path := good(t)
			damage(t, path)
			err := scan(path)
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("scan of a damaged index = %v, want ErrDamaged", err)
			}
			if !strings.Contains(err.Error(), "silo index rebuild") || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q names neither the file nor the remedy", err)
			}
		})
	}
}

// scribble overwrites n bytes at off with random bytes.
func scribble(t *testing.T, path string, off, n int64, seed uint64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewPCG(seed, seed))
	buf := make([]byte, n)
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	if _, err := f.WriteAt(buf, off); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	// a file of the first schema (no info bucket, the unused buckets) is upgraded
	raw, err := bolt.Open(path, 0o644, nil)
	if err != nil {
		t.Fatal(err)
	}
	must(t, raw.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{"blobs", "packs", "snapshots", "refs", "projects", "names", "templates", "pins", "meta", "backups"} {
			if _, err := tx.CreateBucket([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	}))
	raw.Close()
	db := openAt(t, path, Options{})
	must(t, db.view(func(tx *bolt.Tx) error {
		if tx.Bucket([]byte("pins")) != nil || tx.Bucket(bDups) == nil {
			t.Error("upgrade kept the unused buckets or lacks the new ones")
		}
		if v := string(tx.Bucket(bInfo).Get([]byte("schema"))); v != fmt.Sprint(Schema) {
			t.Errorf("schema = %q", v)
		}
		return nil
	}))
	must(t, db.update(func(tx *bolt.Tx) error { return tx.Bucket(bInfo).Put([]byte("schema"), []byte("99")) }))
	if _, err := Open(path, Options{}); !errors.Is(err, ErrSchema) {
		t.Fatalf("Open of a newer schema = %v, want ErrSchema", err)
	}
}

func TestCreateIsAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	var wg sync.WaitGroup
	dbs := make([]*DB, 4)
	for i := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i] = openAt(t, path, Options{})
		}()
	}
	wg.Wait()
	// what one wrote, all see: nobody replaced the file under another
	must(t, dbs[0].AddPack(object.PackInfo{ID: id("p"), Size: 1, Count: 1}, []object.Blob{blob("a", object.DataBlob, 0, 1)}))
	for i, db := range dbs {
		if _, ok, err := db.Lookup(id("a")); !ok || err != nil {
			t.Errorf("db %d does not see the pack (%v, %v)", i, ok, err)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".index-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// Between transactions a process holds no lock, even with a read handle
// mapped: a process stopped there (SIGSTOP, Ctrl-Z) keeps nobody out.
func TestIdleReaderHoldsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "index.db")
	reader := openAt(t, path, Options{Slice: time.Hour}) // the handle stays mapped
	writer := openAt(t, path, Options{Timeout: 500 * time.Millisecond})
	if _, _, err := reader.Lookup(id("x")); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		p := object.PackInfo{ID: id(fmt.Sprint("p", i)), Size: 1, Data: true, Count: 1}
		if err := writer.AddPack(p, []object.Blob{blob(fmt.Sprint("b", i), object.DataBlob, 0, 1)}); err != nil {
			t.Fatalf("commit %d beside an idle reader: %v", i, err)
		}
		// and the idle reader's next transaction sees every commit
		if _, ok, err := reader.Lookup(id(fmt.Sprint("b", i))); !ok || err != nil {
			t.Fatalf("reader misses commit %d: %v %v", i, ok, err)
		}
	}
}

// Removing packs that hold copies of each other's blobs in one go leaves
// no entry pointing at a removed pack; an entry left pointing at a pack
// that is not recorded does not count.
func TestRemovePacksTogether(t *testing.T) {
	db, _ := openTest(t)
	p1 := object.PackInfo{ID: id("p1"), Size: 1, Data: true, Count: 1}
	p2 := object.PackInfo{ID: id("p2"), Size: 1, Data: true, Count: 1}
	a1, a2 := blob("a", object.DataBlob, 0, 10), blob("a", object.DataBlob, 10, 10)
	must(t, db.AddPack(p1, []object.Blob{a1}))
	must(t, db.AddPack(p2, []object.Blob{a2})) // a duplicate in p2
	// p2's list names only the entries whose first location it is (none)
	must(t, db.Update(func(tx *Tx) error {
		return tx.RemovePacks(map[object.ID][]object.Blob{p1.ID: {a1}, p2.ID: nil})
	}))
	if _, ok, _ := db.Lookup(a1.ID); ok {
		t.Fatal("a blob moved to a copy in another pack removed with its own")
	}
	err := db.View(func(tx *Tx) error {
		return tx.Blobs(func(l object.Location) error {
			t.Errorf("entry left behind: %+v", l)
			return nil
		})
	})
	must(t, err)
	// a dangling entry (the index damaged) is not a blob that is there
	must(t, db.Update(func(tx *Tx) error { return tx.SetBlob(object.Location{Pack: id("nowhere"), Blob: a1}) }))
	if _, ok, _ := db.Lookup(a1.ID); ok {
		t.Fatal("Lookup found a blob in a pack the index does not record")
	}
}
