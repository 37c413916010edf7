package index

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/silo-dev/silo/object"
)

// residentKiB returns how much of the memory map of path is in this
// process's resident set, from /proc/self/smaps.
func residentKiB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	in, kib := false, 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if strings.Contains(fields[0], "-") && len(fields) >= 5 {
			in = len(fields) >= 6 && fields[5] == path
			continue
		}
		if in && fields[0] == "Rss:" {
			n, _ := strconv.Atoi(fields[1])
			kib += n
		}
	}
	return kib
}

// fillBlobs indexes n blobs in packs of 1000.
func fillBlobs(t *testing.T, db *DB, n int) []object.ID {
	t.Helper()
	var ids []object.ID
	for p := 0; p < n; p += 1000 {
		var blobs []object.Blob
		for i := p; i < p+1000 && i < n; i++ {
			b := blob(fmt.Sprint("blob", i), object.DataBlob, uint32(i), 100)
			blobs = append(blobs, b)
			ids = append(ids, b.ID)
		}
		pack := object.PackInfo{ID: id(fmt.Sprint("pack", p)), Size: 1 << 20, Count: len(blobs), Data: true}
		if err := db.AddPack(pack, blobs); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// TestTrimDropsMap: reading the whole blob index leaves only a few pages of
// index.db's memory map resident (it is trimmed as it goes), every entry
// read after a trim is intact, and without trimming the same reads leave
// the index resident: the measurement can fail. Lookups are trimmed too and
// read back intact.
func TestTrimDropsMap(t *testing.T) {
	db, path := openTest(t)
	ids := fillBlobs(t, db, 60000)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	read := func() int {
		t.Helper()
		for _, i := range ids[:5000] {
			if _, ok, err := db.Lookup(i); err != nil || !ok {
				t.Fatalf("lookup %s: %v %v", i, ok, err)
			}
		}
		n := 0
		err := db.View(func(tx *Tx) error {
			return tx.Blobs(func(l object.Location) error {
				n++
				if l.Length != 100 || l.Pack.IsZero() {
					return fmt.Errorf("blob %s read back as %+v", l.ID, l)
				}
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != len(ids) {
			t.Fatalf("read %d blobs, indexed %d", n, len(ids))
		}
		return residentKiB(t, path)
	}

	old := trimAbove
	t.Cleanup(func() { trimAbove = old })
	trimAbove = 1 << 62 // never trim
	untrimmed := read()
	trimAbove = 0
	trimmed := read()
	t.Logf("index.db %d KiB; resident after reading every blob: %d KiB untrimmed, %d KiB trimmed", st.Size()>>10, untrimmed, trimmed)
	if untrimmed < int(st.Size()>>10)/2 {
		t.Fatalf("untrimmed reads left only %d KiB of a %d KiB index resident: the measurement is broken", untrimmed, st.Size()>>10)
	}
	// a scan of trimEvery entries between trims maps a few windows of 64 KiB
	if limit := 1024; trimmed > limit {
		t.Fatalf("trimmed reads left %d KiB resident, want at most %d", trimmed, limit)
	}
	if trimmed*4 > untrimmed {
		t.Fatalf("trimming kept %d KiB of %d KiB resident", trimmed, untrimmed)
	}
}

// TestPackBlobLimit: a small index asks for no pack limit; once index.db is
// larger than trimming bounds it to, packs are limited to MaxPackCount.
func TestPackBlobLimit(t *testing.T) {
	db, path := openTest(t)
	fillBlobs(t, db, 3000)
	if n := db.PackBlobLimit(); n != 0 {
		t.Fatalf("small index: PackBlobLimit = %d, want 0", n)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	old := trimAbove
	t.Cleanup(func() { trimAbove = old })
	trimAbove = int(st.Size()) - 1
	if n := db.PackBlobLimit(); n != object.MaxPackCount {
		t.Fatalf("index over the trim size: PackBlobLimit = %d, want %d", n, object.MaxPackCount)
	}
}
