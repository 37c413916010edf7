package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/silo-dev/silo/object"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

var (
	bBlobs     = []byte("blobs")
	bPacks     = []byte("packs")
	bSnapshots = []byte("snapshots")
	bRefs      = []byte("refs")
	bProjects  = []byte("projects")
	bNames     = []byte("names")
	// Buckets for small named records, used through Tx.Get/Put/Delete/ForEach.
	Templates = "templates"
	Pins      = "pins"
	Meta      = "meta"
	Backups   = "backups"

	allBuckets = [][]byte{bBlobs, bPacks, bSnapshots, bRefs, bProjects, bNames,
		[]byte(Templates), []byte(Pins), []byte(Meta), []byte(Backups)}
)

// Options configure Open.
type Options struct {
	ReadOnly bool
	Timeout  time.Duration // lock wait; default 1s
	Owner    string        // written to index.db.owner while held for writing
}

// DB is an open index.db.
type DB struct {
	db   *bolt.DB
	path string
	ro   bool
	ops  atomic.Int64 // blob-index operations, for trimming (see touched)
}

// trimEvery is how many blob-index reads may run between two trims of
// bbolt's memory map (see trim). Blob ids are random, so every lookup lands
// on a different leaf page, and the kernel maps the 64 KiB around every page
// it faults in (fault-around): without trims every page of index.db a store
// ever touched stays in its resident set, about 110 MiB for a 10 GiB
// project. Between trims, 128 lookups map at most about 16 MiB; mapping a
// page again costs a minor fault. Write transactions trim when they commit
// (touching the pages again during the transaction would only fault them
// back in at commit, when bbolt writes its dirty nodes out), so what a write
// maps is bounded by the number of blobs it indexes: see PackBlobLimit.
const trimEvery = 128

// Open opens or creates the index at path.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout == 0 {
		opts.Timeout = time.Second
	}
	if opts.ReadOnly {
		st, err := os.Stat(path)
		if err != nil {
			return nil, err
		}
		// A writer killed while creating index.db can leave it empty (which
		// bbolt cannot initialise read-only: EBADF) or without buckets
		// (and Tx.b panics on a missing bucket). Complete such a file with
		// a short read-write open first; a complete file is opened once.
		// (Found by TestE2ECrashDuringFirstStore.)
		if st.Size() > 0 {
			d, err := open(path, opts)
			if err != nil || d.complete() {
				return d, err
			}
			d.Close()
		}
		w, err := open(path, Options{Timeout: opts.Timeout, Owner: opts.Owner})
		if err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	return open(path, opts)
}

var pidRE = regexp.MustCompile(`pid (\d+)`)

// holder describes who holds the lock: the writer recorded in index.db.owner
// when that process is still alive, else a reader (readers record nothing).
func holder(path string) string {
	owner, _ := os.ReadFile(path + ".owner")
	msg := strings.TrimSpace(string(owner))
	if m := pidRE.FindStringSubmatch(msg); m != nil {
		if pid, err := strconv.Atoi(m[1]); err == nil && syscall.Kill(pid, 0) == nil {
			return msg
		}
	}
	return "another silo process (a reader such as restore, check or ls, or a writer that just started)"
}

// complete reports whether every bucket exists.
func (d *DB) complete() bool {
	ok := true
	d.db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				ok = false
			}
		}
		return nil
	})
	return ok
}

func open(path string, opts Options) (*DB, error) {
	db, err := bolt.Open(path, 0o644, &bolt.Options{
		Timeout:      opts.Timeout,
		ReadOnly:     opts.ReadOnly,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s holds %s", ErrLocked, holder(path), path)
		}
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	d := &DB{db: db, path: path, ro: opts.ReadOnly}
	if !opts.ReadOnly {
		err = db.Update(func(tx *bolt.Tx) error {
			for _, b := range allBuckets {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open index %s: %w", path, err)
		}
		if opts.Owner != "" {
			os.WriteFile(path+".owner", []byte(opts.Owner+"\n"), 0o644)
		}
	}
	return d, nil
}

// Path returns the file's path.
func (d *DB) Path() string { return d.path }

// Close releases the database and its lock.
func (d *DB) Close() error {
	if !d.ro {
		os.Remove(d.path + ".owner")
	}
	return d.db.Close()
}

// View runs fn in a read transaction.
func (d *DB) View(fn func(*Tx) error) error {
	return d.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx, d}) })
}

// Update runs fn in a write transaction, committed durably when fn returns
// nil and rolled back otherwise.
func (d *DB) Update(fn func(*Tx) error) error {
	err := d.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx, d}) })
	d.db.View(func(*bolt.Tx) error { d.trim(); return nil })
	return err
}

// Lookup finds a blob.
func (d *DB) Lookup(id object.ID) (loc object.Location, ok bool, err error) {
	err = d.View(func(tx *Tx) error {
		loc, ok, err = tx.Lookup(id)
		return err
	})
	return loc, ok, err
}

// AddPack records a durable pack and its blobs.
func (d *DB) AddPack(p object.PackInfo, blobs []object.Blob) error {
	return d.Update(func(tx *Tx) error { return tx.AddPack(p, blobs) })
}

// Tx is a transaction.
type Tx struct {
	tx *bolt.Tx
	d  *DB
}

// touched counts n blob-index reads and trims the memory map every
// trimEvery of them. It runs inside the transaction, as trim requires.
func (t *Tx) touched(n int) {
	if t.d.ops.Add(int64(n))%trimEvery < int64(n) {
		t.d.trim()
	}
}

func (t *Tx) b(name []byte) *bolt.Bucket {
	b := t.tx.Bucket(name)
	if b == nil {
		panic(fmt.Sprintf("index: bucket %s missing", name))
	}
	return b
}

const locSize = 32 + 1 + 1 + 4 + 4 + 4

func encodeLoc(pack object.ID, b object.Blob) []byte {
	v := make([]byte, 0, locSize)
	v = append(v, pack[:]...)
	v = append(v, byte(b.Type), byte(b.Comp))
	v = binary.LittleEndian.AppendUint32(v, b.Offset)
	v = binary.LittleEndian.AppendUint32(v, b.Length)
	v = binary.LittleEndian.AppendUint32(v, b.RawLength)
	return v
}

func decodeLoc(k, v []byte) (object.Location, error) {
	var l object.Location
	if len(k) != 32 || len(v) != locSize {
		return l, fmt.Errorf("%w: blob entry of %d bytes", ErrCorrupt, len(v))
	}
	copy(l.ID[:], k)
	copy(l.Pack[:], v)
	l.Type = object.BlobType(v[32])
	l.Comp = object.Compression(v[33])
	l.Offset = binary.LittleEndian.Uint32(v[34:])
	l.Length = binary.LittleEndian.Uint32(v[38:])
	l.RawLength = binary.LittleEndian.Uint32(v[42:])
	return l, nil
}

// Lookup finds a blob.
func (t *Tx) Lookup(id object.ID) (object.Location, bool, error) {
	t.touched(1)
	v := t.b(bBlobs).Get(id[:])
	if v == nil {
		return object.Location{}, false, nil
	}
	l, err := decodeLoc(id[:], v)
	return l, err == nil, err
}

// AddPack records a pack and points its blobs at it. A blob already indexed
// elsewhere keeps its first location.
func (t *Tx) AddPack(p object.PackInfo, blobs []object.Blob) error {
	return t.AddPacks([]object.NewPack{{Info: p, Blobs: blobs}})
}

// AddPacks records several packs in one go. The blob entries are inserted
// in key order: bbolt keeps a transaction's new keys in sorted in-memory
// nodes until commit, so inserting tens of thousands of random keys would
// move memory quadratically.
func (t *Tx) AddPacks(packs []object.NewPack) error {
	type entry struct {
		pack object.ID
		b    object.Blob
	}
	n := 0
	for _, p := range packs {
		n += len(p.Blobs)
	}
	all := make([]entry, 0, n)
	for _, p := range packs {
		for _, b := range p.Blobs {
			all = append(all, entry{p.Info.ID, b})
		}
	}
	slices.SortStableFunc(all, func(a, b entry) int { return bytes.Compare(a.b.ID[:], b.b.ID[:]) })
	bb := t.b(bBlobs)
	for _, e := range all {
		if bb.Get(e.b.ID[:]) != nil {
			continue // a blob keeps its first location
		}
		if err := bb.Put(e.b.ID[:], encodeLoc(e.pack, e.b)); err != nil {
			return err
		}
	}
	pb := t.b(bPacks)
	for _, p := range packs {
		if err := pb.Put(p.Info.ID[:], encodePack(p.Info)); err != nil {
			return err
		}
	}
	return nil
}

// SetBlob points a blob at a location (used by repack).
func (t *Tx) SetBlob(l object.Location) error {
	return t.b(bBlobs).Put(l.ID[:], encodeLoc(l.Pack, l.Blob))
}

// DeleteBlob removes a blob's entry.
func (t *Tx) DeleteBlob(id object.ID) error { return t.b(bBlobs).Delete(id[:]) }

func encodePack(p object.PackInfo) []byte {
	v := make([]byte, 0, 13)
	d := byte(0)
	if p.Data {
		d = 1
	}
	v = append(v, d)
	v = binary.LittleEndian.AppendUint64(v, uint64(p.Size))
	v = binary.LittleEndian.AppendUint32(v, uint32(p.Count))
	return v
}

func decodePack(k, v []byte) (object.PackInfo, error) {
	var p object.PackInfo
	if len(k) != 32 || len(v) != 13 {
		return p, fmt.Errorf("%w: pack entry", ErrCorrupt)
	}
	copy(p.ID[:], k)
	p.Data = v[0] == 1
	p.Size = int64(binary.LittleEndian.Uint64(v[1:]))
	p.Count = int(binary.LittleEndian.Uint32(v[9:]))
	return p, nil
}

// Pack returns one pack's record.
func (t *Tx) Pack(id object.ID) (object.PackInfo, bool, error) {
	v := t.b(bPacks).Get(id[:])
	if v == nil {
		return object.PackInfo{}, false, nil
	}
	p, err := decodePack(id[:], v)
	return p, err == nil, err
}

// Packs calls fn for every pack.
func (t *Tx) Packs(fn func(object.PackInfo) error) error {
	return t.b(bPacks).ForEach(func(k, v []byte) error {
		p, err := decodePack(k, v)
		if err != nil {
			return err
		}
		return fn(p)
	})
}

// Blobs calls fn for every indexed blob.
func (t *Tx) Blobs(fn func(object.Location) error) error {
	return t.b(bBlobs).ForEach(func(k, v []byte) error {
		t.touched(1)
		l, err := decodeLoc(k, v)
		if err != nil {
			return err
		}
		return fn(l)
	})
}

// BlobCount returns the number of indexed blobs. It reads every page of
// the blob index.
func (t *Tx) BlobCount() int { return t.b(bBlobs).Stats().KeyN }

// RemovePack deletes a pack's record and every blob entry that points at it.
func (t *Tx) RemovePack(id object.ID, blobs []object.Blob) error {
	bb := t.b(bBlobs)
	for _, b := range blobs {
		v := bb.Get(b.ID[:])
		if v != nil && len(v) == locSize && object.ID(v[:32]) == id {
			if err := bb.Delete(b.ID[:]); err != nil {
				return err
			}
		}
	}
	return t.b(bPacks).Delete(id[:])
}

// ClearBlobs empties the blob index and pack table (before a rebuild).
func (t *Tx) ClearBlobs() error {
	for _, name := range [][]byte{bBlobs, bPacks} {
		if err := t.tx.DeleteBucket(name); err != nil {
			return err
		}
		if _, err := t.tx.CreateBucket(name); err != nil {
			return err
		}
	}
	return nil
}

// ClearCatalogue empties snapshots, refs, projects and names (before a rebuild).
func (t *Tx) ClearCatalogue() error {
	for _, name := range [][]byte{bSnapshots, bRefs, bProjects, bNames, []byte(Templates)} {
		if err := t.tx.DeleteBucket(name); err != nil {
			return err
		}
		if _, err := t.tx.CreateBucket(name); err != nil {
			return err
		}
	}
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// Get returns a copy of the value of key in a named bucket (Templates, Pins, Meta, Backups).
func (t *Tx) Get(bucket, key string) []byte { return clone(t.b([]byte(bucket)).Get([]byte(key))) }

// Put sets key in a named bucket.
func (t *Tx) Put(bucket, key string, val []byte) error {
	return t.b([]byte(bucket)).Put([]byte(key), val)
}

// Delete removes key from a named bucket.
func (t *Tx) Delete(bucket, key string) error { return t.b([]byte(bucket)).Delete([]byte(key)) }

// ForEach calls fn for every key of a named bucket, in key order.
func (t *Tx) ForEach(bucket string, fn func(key string, val []byte) error) error {
	return t.b([]byte(bucket)).ForEach(func(k, v []byte) error { return fn(string(k), clone(v)) })
}
