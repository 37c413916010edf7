package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/silo-dev/silo/object"
	bolt "go.etcd.io/bbolt"
)

var (
	bBlobs     = []byte("blobs")
	bPacks     = []byte("packs")
	bSnapshots = []byte("snapshots")
	bRefs      = []byte("refs")
	bProjects  = []byte("projects")
	bNames     = []byte("names")
	bDups      = []byte("dups")
	bLost      = []byte("lost")
	bInfo      = []byte("info")
	// packs removed from the index (gc, a pack gone): the time their file
	// was deleted, empty until then. Created when first written (files of
	// schema 2 from before it lack it).
	bRemoved = []byte("removed")
	// Named buckets, used through Tx.Get/Put/Delete/ForEach: template
	// records by name; the tombstones of hard-deleted projects by id (so
	// that nothing brings them back); forgotten snapshots by id.
	Templates = "templates"
	Purged    = "purged"
	Forgotten = "forgotten"

	allBuckets = [][]byte{bBlobs, bPacks, bSnapshots, bRefs, bProjects, bNames, bDups, bLost, bInfo,
		[]byte(Templates), []byte(Purged), []byte(Forgotten)}
	// buckets of earlier schemas that nothing uses: dropped on upgrade
	oldBuckets = [][]byte{[]byte("pins"), []byte("meta"), []byte("backups")}
)

// Schema is the version of index.db's layout this code reads and writes,
// kept in the info bucket. A file without one is schema 1 (before the
// version was recorded); a newer schema is refused.
const Schema = 2

// Options configure Open.
type Options struct {
	// ReadOnly never writes (a repository on a read-only filesystem):
	// Update fails with ErrReadOnly, and a missing file is an error.
	ReadOnly bool
	// Timeout bounds how long a transaction waits for other processes'
	// transactions (default 30s); past it the transaction fails with
	// ErrBusy.
	Timeout time.Duration
	// Recover opens a damaged file without failing: its transactions fail
	// with ErrDamaged, and Replace can put a rebuilt file in its place.
	Recover bool
	// Slice is how long this process's read transactions may keep the
	// gate without a pause (a writer elsewhere waits at most this long
	// for them), and how long a read handle stays mapped (default 50 ms).
	Slice time.Duration
}

// DB is index.db, shared with other processes: it holds no lock between
// transactions (see handle.go).
type DB struct {
	path       string
	opts       Options
	gate, wait *os.File // index.db.lock and index.db.wait (nil on a read-only filesystem without them)

	wmu     sync.Mutex // one write transaction at a time in this process
	mu      sync.Mutex
	cond    *sync.Cond
	cur     *handle // the read handle new transactions use, or nil
	open    int     // handles not yet closed
	opening bool    // a read handle is being opened
	shared  int     // read transactions holding the gate
	held    time.Time
	taking  bool // the gate is being taken shared
	cycling bool // the gate is let go for a writer's turn
	writing bool // a write transaction runs or waits
	closed  bool
}

// Open opens index.db at path, creating it (atomically, so no other
// process ever sees it half made) when it is missing. A file that is not
// an intact bbolt file fails with ErrDamaged before anything maps it.
func Open(path string, opts Options) (*DB, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Slice <= 0 {
		opts.Slice = 50 * time.Millisecond
	}
	d := &DB{path: path, opts: opts}
	d.cond = sync.NewCond(&d.mu)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if opts.ReadOnly {
			return nil, fmt.Errorf("open index %s: %w", path, err)
		}
		if err := create(path); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	damaged := validate(path)
	if damaged != nil && !opts.Recover {
		return nil, damaged
	}
	var err error
	if d.gate, err = lockFile(path+".lock", opts.ReadOnly); err != nil {
		return nil, err
	}
	if d.wait, err = lockFile(path+".wait", opts.ReadOnly); err != nil {
		d.closeFiles()
		return nil, err
	}
	if damaged != nil {
		return d, nil
	}
	if err := d.upgrade(); err != nil {
		if errors.Is(err, ErrDamaged) && opts.Recover {
			return d, nil
		}
		d.closeFiles()
		return nil, err
	}
	return d, nil
}

// lockFile opens (creating when it can) one of the files the DB locks. On
// a read-only filesystem a missing one is no error: nobody writes there.
func lockFile(path string, readOnly bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err == nil || !readOnly {
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		return f, nil
	}
	if f, err = os.Open(path); err == nil {
		return f, nil
	}
	return nil, nil
}

func (d *DB) closeFiles() {
	for _, f := range []*os.File{d.gate, d.wait} {
		if f != nil {
			f.Close()
		}
	}
}

// create makes an empty index with every bucket beside path and links it
// into place; when another process did so first, its file stays.
func create(path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".index-*.db")
	if err != nil {
		return fmt.Errorf("create index %s: %w", path, err)
	}
	name := tmp.Name()
	tmp.Close()
	defer os.Remove(name)
	db, err := bolt.Open(name, 0o644, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("create index %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return ensureBuckets(tx) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = object.SyncFile(name)
	}
	if err == nil {
		if err = os.Link(name, path); errors.Is(err, os.ErrExist) {
			err = nil
		}
	}
	if err == nil {
		err = object.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("create index %s: %w", path, err)
	}
	return nil
}

// ensureBuckets creates every bucket, drops the unused ones of earlier
// schemas and records the schema.
func ensureBuckets(tx *bolt.Tx) error {
	for _, b := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	for _, b := range oldBuckets {
		if tx.Bucket(b) != nil {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
	}
	return tx.Bucket(bInfo).Put([]byte("schema"), []byte(strconv.Itoa(Schema)))
}

// upgrade checks the schema and brings an older file up to it.
func (d *DB) upgrade() error {
	var schema int
	complete := true
	err := d.view(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				complete = false
			}
		}
		schema = 1
		if b := tx.Bucket(bInfo); b != nil {
			if v := b.Get([]byte("schema")); v != nil {
				n, err := strconv.Atoi(string(v))
				if err != nil {
					return fmt.Errorf("%w: %s: schema %q", ErrDamaged, d.path, v)
				}
				schema = n
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if schema > Schema {
		return fmt.Errorf("%w: %s has schema %d; this silo reads up to %d (upgrade silo)", ErrSchema, d.path, schema, Schema)
	}
	if complete && schema == Schema {
		return nil
	}
	if d.opts.ReadOnly {
		if !complete {
			return fmt.Errorf("%w: %s lacks buckets and the repository is read-only", ErrDamaged, d.path)
		}
		return nil
	}
	return d.update(func(tx *bolt.Tx) error { return ensureBuckets(tx) })
}

// Path returns the file's path.
func (d *DB) Path() string { return d.path }

// Close waits for running transactions and closes the file.
func (d *DB) Close() error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	for d.shared > 0 || d.taking || d.opening {
		d.cond.Wait()
	}
	if d.cur != nil {
		d.retireIdle(d.cur)
	}
	for d.open > 0 {
		d.cond.Wait()
	}
	d.mu.Unlock()
	d.closeFiles()
	return nil
}

// view runs fn in a bbolt read transaction.
func (d *DB) view(fn func(*bolt.Tx) error) (err error) {
	return d.readTx(func(db *bolt.DB) (err error) {
		defer panicOnFault()()
		defer guard(d.path, &err, nil)
		return db.View(func(tx *bolt.Tx) error { return callUser(tx, fn) })
	})
}

// update runs fn in a bbolt write transaction.
func (d *DB) update(fn func(*bolt.Tx) error) (err error) {
	return d.writeTx(func(db *bolt.DB) (err error) {
		defer panicOnFault()()
		defer guard(d.path, &err, nil)
		return db.Update(func(tx *bolt.Tx) error { return callUser(tx, fn) })
	})
}

// callUser runs fn, marking a panic it raises as the caller's own (guard
// passes those on; bbolt has rolled the transaction back by then) unless
// bbolt raised it, reading a damaged page on fn's behalf.
func callUser(tx *bolt.Tx, fn func(*bolt.Tx) error) error {
	defer func() {
		if p := recover(); p != nil {
			if raisedByBolt() {
				panic(p)
			}
			panic(userPanic{p})
		}
	}()
	return fn(tx)
}

// raisedByBolt reports, from a deferred function of a panicking goroutine,
// whether the panic was raised in bbolt's code.
func raisedByBolt() bool {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	after := false
	for {
		f, more := frames.Next()
		if f.Function == "runtime.gopanic" {
			after = true
		} else if after && !strings.HasPrefix(f.Function, "runtime.") {
			return strings.HasPrefix(f.Function, "go.etcd.io/bbolt")
		}
		if !more {
			return false
		}
	}
}

// View runs fn in a read transaction. Transactions of other processes may
// commit between two Views; one View sees one consistent state. fn must
// not start another transaction of d.
func (d *DB) View(fn func(*Tx) error) error {
	return d.view(func(tx *bolt.Tx) error { return fn(&Tx{tx, d}) })
}

// Update runs fn in a write transaction, committed durably when fn returns
// nil and rolled back otherwise (also when fn panics; the panic goes on).
// It waits for other processes' transactions, never for more.
func (d *DB) Update(fn func(*Tx) error) error {
	return d.update(func(tx *bolt.Tx) error { return fn(&Tx{tx, d}) })
}

// Locations returns every known location of a blob (see Tx.Locations).
func (d *DB) Locations(id object.ID) (locs []object.Location, err error) {
	err = d.View(func(tx *Tx) error {
		locs, err = tx.Locations(id)
		return err
	})
	return locs, err
}

// Lookup finds a blob.
func (d *DB) Lookup(id object.ID) (loc object.Location, ok bool, err error) {
	err = d.View(func(tx *Tx) error {
		loc, ok, err = tx.Lookup(id)
		return err
	})
	return loc, ok, err
}

// LookupAll finds several blobs in one read transaction: locs[i] is where
// ids[i] is, found[i] whether it is indexed (see Tx.Lookup).
func (d *DB) LookupAll(ids []object.ID) (locs []object.Location, found []bool, err error) {
	locs, found = make([]object.Location, len(ids)), make([]bool, len(ids))
	err = d.View(func(tx *Tx) error {
		for i, id := range ids {
			var err error
			if locs[i], found[i], err = tx.Lookup(id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return locs, found, nil
}

// AddPack records a durable pack and its blobs.
func (d *DB) AddPack(p object.PackInfo, blobs []object.Blob) error {
	return d.Update(func(tx *Tx) error { return tx.AddPack(p, blobs) })
}

// limitAbove is the size of index.db from which packs are limited to
// object.MaxPackCount blobs (see PackBlobLimit).
var limitAbove int64 = 32 << 20

// PackBlobLimit implements object.PackLimiter. Indexing a pack is one write
// transaction, and blob ids are random, so it touches one page of the blob
// bucket per blob: bbolt reads each such page into memory, copies it to a
// new one at commit, and maps the pages around it. Once index.db is larger
// than limitAbove, a pack holds at most object.MaxPackCount blobs, which
// bounds what a commit holds (a pack of 12,000 small files held some 60
// MiB). A smaller index is touched whole anyway, and fuller packs cost
// fewer commits and fewer files.
func (d *DB) PackBlobLimit() int {
	if st, err := os.Stat(d.path); err == nil && st.Size() > limitAbove {
		return object.MaxPackCount
	}
	return 0
}

// Tx is a transaction.
type Tx struct {
	tx *bolt.Tx
	d  *DB
}

func (t *Tx) b(name []byte) *bolt.Bucket {
	b := t.tx.Bucket(name)
	if b == nil {
		// Open creates every bucket; a file that lost one is damaged
		panic(damagedPanic(fmt.Sprintf("bucket %s missing", name)))
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

// Lookup finds a blob. An entry whose pack is not recorded (left behind by
// damage) does not count: the blob is not there.
func (t *Tx) Lookup(id object.ID) (object.Location, bool, error) {
	v := t.b(bBlobs).Get(id[:])
	if v == nil {
		return object.Location{}, false, nil
	}
	l, err := decodeLoc(id[:], v)
	if err != nil {
		return l, false, err
	}
	if t.b(bPacks).Get(l.Pack[:]) == nil {
		return object.Location{}, false, nil
	}
	return l, true, nil
}

// AddPack records a pack and points its blobs at it. A blob already indexed
// elsewhere keeps its first location; the new one is kept as a duplicate
// (see Locations), so it takes over if the first pack goes.
func (t *Tx) AddPack(p object.PackInfo, blobs []object.Blob) error {
	return t.AddPacks([]object.NewPack{{Info: p, Blobs: blobs}})
}

// AddPacks records several packs in one go. The blob entries are inserted
// in key order: bbolt keeps a transaction's new keys in sorted in-memory
// nodes until commit, so inserting tens of thousands of random keys would
// move memory quadratically. A blob that was recorded lost is lost no
// more.
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
	bb, lost := t.b(bBlobs), t.b(bLost)
	for _, e := range all {
		if v := bb.Get(e.b.ID[:]); v != nil {
			if len(v) == locSize && object.ID(v[:32]) == e.pack {
				continue // the same pack indexed again
			}
			if err := t.b(bDups).Put(dupKey(e.b.ID, e.pack), encodeLoc(e.pack, e.b)); err != nil {
				return err
			}
			continue
		}
		if err := bb.Put(e.b.ID[:], encodeLoc(e.pack, e.b)); err != nil {
			return err
		}
		if lost.Get(e.b.ID[:]) != nil {
			if err := lost.Delete(e.b.ID[:]); err != nil {
				return err
			}
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

func dupKey(id, pack object.ID) []byte { return append(bytes.Clone(id[:]), pack[:]...) }

// SetBlob makes l a blob's first location (gc moves live blobs to new
// packs this way); an earlier location stays as a duplicate until its pack
// is removed.
func (t *Tx) SetBlob(l object.Location) error {
	bb := t.b(bBlobs)
	if v := bb.Get(l.ID[:]); len(v) == locSize && object.ID(v[:32]) != l.Pack {
		if err := t.b(bDups).Put(dupKey(l.ID, object.ID(v[:32])), bytes.Clone(v)); err != nil {
			return err
		}
	}
	if err := t.b(bDups).Delete(dupKey(l.ID, l.Pack)); err != nil {
		return err
	}
	return bb.Put(l.ID[:], encodeLoc(l.Pack, l.Blob))
}

// Locations returns every known location of a blob: the first one, then
// the duplicates in packs that are still recorded.
func (t *Tx) Locations(id object.ID) ([]object.Location, error) {
	var out []object.Location
	if v := t.b(bBlobs).Get(id[:]); v != nil {
		l, err := decodeLoc(id[:], v)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	c := t.b(bDups).Cursor()
	for k, v := c.Seek(id[:]); k != nil && bytes.HasPrefix(k, id[:]); k, v = c.Next() {
		l, err := decodeLoc(id[:], v)
		if err != nil {
			return nil, err
		}
		if t.b(bPacks).Get(l.Pack[:]) != nil {
			out = append(out, l)
		}
	}
	return out, nil
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

// RemovePack deletes a pack's record and its blobs' entries: a blob whose
// first location is the pack moves to a duplicate in a pack that is still
// recorded, or leaves the index; a duplicate in the pack is dropped. blobs
// should be the pack's whole table (entries it does not name may be left
// pointing at the removed pack, which Lookup and Locations skip).
func (t *Tx) RemovePack(id object.ID, blobs []object.Blob) error {
	return t.RemovePacks(map[object.ID][]object.Blob{id: blobs})
}

// RemovePacks is RemovePack for several packs at once: every record goes
// first, so that no blob moves to a copy in another pack being removed.
func (t *Tx) RemovePacks(packs map[object.ID][]object.Blob) error {
	removed, err := t.tx.CreateBucketIfNotExists(bRemoved)
	if err != nil {
		return err
	}
	for id := range packs {
		if err := t.b(bPacks).Delete(id[:]); err != nil {
			return err
		}
		if err := removed.Put(id[:], nil); err != nil {
			return err
		}
	}
	bb, dups := t.b(bBlobs), t.b(bDups)
	for id, blobs := range packs {
		for _, b := range blobs {
			if err := dups.Delete(dupKey(b.ID, id)); err != nil {
				return err
			}
			v := bb.Get(b.ID[:])
			if v == nil || len(v) != locSize || t.b(bPacks).Get(v[:32]) != nil {
				continue // elsewhere, in a pack still recorded
			}
			if err := bb.Delete(b.ID[:]); err != nil {
				return err
			}
			// promote a duplicate, if one is left in a recorded pack
			c := dups.Cursor()
			var promote []byte
			var stale [][]byte
			for k, dv := c.Seek(b.ID[:]); k != nil && bytes.HasPrefix(k, b.ID[:]); k, dv = c.Next() {
				stale = append(stale, bytes.Clone(k))
				if len(dv) == locSize && t.b(bPacks).Get(dv[:32]) != nil {
					promote = bytes.Clone(dv)
					break
				}
			}
			for _, k := range stale {
				if err := dups.Delete(k); err != nil {
					return err
				}
			}
			if promote != nil {
				if err := bb.Put(b.ID[:], promote); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// PacksDeleted notes that removed packs' files are gone from the backend
// since at (see Removed).
func (t *Tx) PacksDeleted(ids []object.ID, at time.Time) error {
	removed, err := t.tx.CreateBucketIfNotExists(bRemoved)
	if err != nil {
		return err
	}
	v := []byte(at.UTC().Format(time.RFC3339Nano))
	for _, id := range ids {
		if err := removed.Put(id[:], v); err != nil {
			return err
		}
	}
	// tombstones outlive any listing they guard against by far
	c := removed.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if at, err := time.Parse(time.RFC3339Nano, string(v)); err == nil && time.Since(at) > removedKeep {
			if err := c.Delete(); err != nil {
				return err
			}
		}
	}
	return nil
}

// removedKeep is how long a removed pack's tombstone is kept after its
// file went.
const removedKeep = 24 * time.Hour

// Removed reports whether a listing of the backend's packs made at
// listedAt may show a pack this index removed (gc removes a pack from the
// index before it deletes the file): true while the file may still exist
// then, so that a refresh does not index it again.
func (t *Tx) Removed(id object.ID, listedAt time.Time) bool {
	b := t.tx.Bucket(bRemoved)
	if b == nil {
		return false
	}
	v := b.Get(id[:])
	if v == nil {
		return false
	}
	at, err := time.Parse(time.RFC3339Nano, string(v))
	return err != nil || !at.Before(listedAt)
}

// ClearBlobs empties the blob index, the duplicates and the pack table
// (before a rebuild).
func (t *Tx) ClearBlobs() error {
	for _, name := range [][]byte{bBlobs, bPacks, bDups} {
		if err := t.tx.DeleteBucket(name); err != nil {
			return err
		}
		if _, err := t.tx.CreateBucket(name); err != nil {
			return err
		}
	}
	return nil
}

// MarkLost records a blob that some version refers to but no pack holds
// readably, with why; stores then write it again when they meet it. The
// loss is acknowledged: a recovery command reported it (see MarkMissing).
func (t *Tx) MarkLost(id object.ID, why string) error {
	return t.b(bLost).Put(id[:], []byte(why))
}

// unackPrefix starts the reason of a loss not yet acknowledged.
const unackPrefix = "?"

// MarkMissing records a blob lost as MarkLost does, but not acknowledged:
// found missing in passing (its pack went without a gc plan), it stops gc
// when a version refers to it until AcknowledgeLost.
func (t *Tx) MarkMissing(id object.ID, why string) error {
	return t.b(bLost).Put(id[:], []byte(unackPrefix+why))
}

// AcknowledgeLost acknowledges every loss recorded (silo repair reported
// them) and returns how many were not acknowledged before.
func (t *Tx) AcknowledgeLost() (int, error) {
	b := t.b(bLost)
	var ids [][]byte
	var whys []string
	if err := b.ForEach(func(k, v []byte) error {
		if why, ok := strings.CutPrefix(string(v), unackPrefix); ok {
			ids = append(ids, bytes.Clone(k))
			whys = append(whys, why)
		}
		return nil
	}); err != nil {
		return 0, err
	}
	for i, k := range ids {
		if err := b.Put(k, []byte(whys[i])); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// Lost calls fn for every blob recorded lost.
func (t *Tx) Lost(fn func(id object.ID, why string) error) error {
	return t.b(bLost).ForEach(func(k, v []byte) error {
		if len(k) != 32 {
			return fmt.Errorf("%w: lost entry", ErrCorrupt)
		}
		return fn(object.ID(k), strings.TrimPrefix(string(v), unackPrefix))
	})
}

// IsLost reports whether a blob is recorded lost.
func (t *Tx) IsLost(id object.ID) bool { return t.b(bLost).Get(id[:]) != nil }

// IsLostAcknowledged reports whether a blob is recorded lost and the loss
// acknowledged.
func (t *Tx) IsLostAcknowledged(id object.ID) bool {
	v := t.b(bLost).Get(id[:])
	return v != nil && !bytes.HasPrefix(v, []byte(unackPrefix))
}

// LostCount returns how many blobs are recorded lost.
func (t *Tx) LostCount() int { return t.b(bLost).Stats().KeyN }

// ClearCatalogue empties snapshots, refs, projects, names, templates,
// tombstones and forgotten snapshots (before a rebuild).
func (t *Tx) ClearCatalogue() error {
	for _, name := range [][]byte{bSnapshots, bRefs, bProjects, bNames, []byte(Templates), []byte(Purged), []byte(Forgotten)} {
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

// Info returns a value of the info bucket (nil when unset).
func (t *Tx) Info(key string) []byte { return clone(t.b(bInfo).Get([]byte(key))) }

// Writable reports whether the transaction may write (Update).
func (t *Tx) Writable() bool { return t.tx.Writable() }

// SetInfo sets a value of the info bucket.
func (t *Tx) SetInfo(key string, val []byte) error { return t.b(bInfo).Put([]byte(key), val) }

// Get returns a copy of the value of key in a named bucket (Templates,
// Purged, Forgotten).
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

// Replace puts the index file at path (built beside, closed) in place of
// this one, atomically for every process: under the exclusive lock, so no
// transaction sees half of either; other processes' read handles notice
// the new file at their next transaction.
func (d *DB) Replace(path string) error {
	if err := validate(path); err != nil {
		return err
	}
	return d.exclusive(func(time.Time) error {
		if err := object.SyncFile(path); err != nil {
			return err
		}
		if err := os.Rename(path, d.path); err != nil {
			return err
		}
		d.mu.Lock()
		if d.cur != nil {
			d.retireIdle(d.cur)
		}
		d.mu.Unlock()
		return object.SyncDir(filepath.Dir(d.path))
	})
}

// PackSize returns a pack's size as indexed (object.PackSizer).
func (d *DB) PackSize(id object.ID) (int64, bool, error) {
	var size int64
	var ok bool
	err := d.View(func(tx *Tx) error {
		p, found, err := tx.Pack(id)
		size, ok = p.Size, found
		return err
	})
	return size, ok, err
}
