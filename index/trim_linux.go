package index

import (
	"os"
	"reflect"
	"sync"
	"syscall"

	"github.com/silo-dev/silo/object"
	bolt "go.etcd.io/bbolt"
)

var (
	datarefOnce  sync.Once
	datarefField = -1
)

// mapping returns the address and length of bbolt's read-only memory map of
// the file. bbolt does not export it; the field is found by name once, and
// when a bbolt release renames it, trimming quietly stops (TestTrimDropsMap
// fails).
func mapping(db *bolt.DB) (uintptr, int) {
	datarefOnce.Do(func() {
		if f, ok := reflect.TypeOf(bolt.DB{}).FieldByName("dataref"); ok && f.Type.Kind() == reflect.Slice && len(f.Index) == 1 {
			datarefField = f.Index[0]
		}
	})
	if datarefField < 0 {
		return 0, 0
	}
	v := reflect.ValueOf(db).Elem().Field(datarefField)
	return v.Pointer(), v.Len()
}

// trimAbove is the map size below which trim does nothing: a smaller
// index.db fits in the resident set anyway, and every page dropped costs a
// fault when it is next read.
var trimAbove = 32 << 20

// PackBlobLimit implements object.PackLimiter: once index.db is larger
// than trimming bounds its resident pages to, a pack holds at most
// object.MaxPackCount blobs, so indexing it maps a bounded part of the file.
// A smaller index stays resident whole, and fuller packs cost fewer commits.
func (d *DB) PackBlobLimit() int {
	if st, err := os.Stat(d.path); err == nil && st.Size() > int64(trimAbove) {
		return object.MaxPackCount
	}
	return 0
}

// trim drops the pages of bbolt's memory map from this process's resident
// set. The map is shared and read-only, so the pages stay in the page cache
// and the next access maps them again: nothing is lost, but the resident set
// no longer grows with the index. It must run inside a transaction, which
// keeps bbolt from remapping meanwhile (a read transaction holds bbolt's
// mmap lock; only the writer, outside its callback, remaps). That bbolt
// (v1.4.3) remaps only in Open and in a write transaction's Commit is what
// makes this safe: re-check it, and the dataref field, when upgrading.
func (d *DB) trim() {
	addr, n := mapping(d.db)
	if n <= trimAbove {
		return // the whole map is smaller than what trimming bounds it to
	}
	syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(n), syscall.MADV_DONTNEED)
}
