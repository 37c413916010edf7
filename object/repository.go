package object

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"
)

// Index is what a Repository needs from the blob index: look a blob up, and
// record a pack once it is durable.
type Index interface {
	Lookup(id ID) (Location, bool, error)
	AddPack(p PackInfo, blobs []Blob) error
}

// BatchIndex is an Index that looks up several blobs in one go (one
// transaction of index.db, instead of one each): locs[i] is where ids[i]
// is, found[i] whether it is indexed.
type BatchIndex interface {
	LookupAll(ids []ID) (locs []Location, found []bool, err error)
}

// PackLimiter is an Index that limits how many blobs a new pack may hold
// (0: no limit beyond the pack size). It is asked when a pack is started.
// Indexing a pack is one transaction that touches one random place of the
// index per blob, so a limit bounds what that transaction holds in memory.
type PackLimiter interface {
	PackBlobLimit() int
}

// RepositoryOptions configure a Repository. Backend and Index are required.
type RepositoryOptions struct {
	Backend Backend
	Index   Index
	TempDir string // for packs being written; default: the backend's TempDir or os.TempDir
	// PackCache, when set, is a local directory keeping whole copies of
	// tree packs (trees, snapshots, meta) read from a remote backend, so
	// walking trees costs one download per pack, not one request per tree.
	PackCache string
	PackSize  int64 // target pack size; default 16 MiB
	Level     int   // zstd level; default 3
	Logger    *slog.Logger
	// Condemned, when set, reports packs garbage collection condemned: a
	// new pack that would have the same content (and name) as one of them
	// gets a padding blob, or it would vanish with the condemned file.
	Condemned func(pack ID) bool
	// ReadAhead, when positive and the Index is a PackSizer, makes reads of
	// a backend without random access (S3, Azure) fetch aligned windows of
	// this many bytes and keep up to ReadAheadCache bytes of them (default
	// 8 windows): see readAhead.
	ReadAhead      int64
	ReadAheadCache int64
	// Sealer, when set, encrypts the repository (see Sealer): blobs and
	// pack tables are sealed, and blob ids are keyed.
	Sealer *Sealer
}

// Repository writes blobs into packs and reads them back verified. Saving is
// safe for concurrent use; Flush makes everything saved so far durable and
// indexed.
type Repository struct {
	be     Backend
	idx    Index
	tmpDir string
	fs     FS // for packs being written: the backend's (see Local.FS)
	packSz int64
	codec  *Codec
	log    *slog.Logger
	// packers: the tree packer, then the data packers (one, or in an
	// encrypted repository sealedDataPackers taken at random, so that a
	// pack's size is not the sum of one file's consecutive chunks)
	packers []*packer

	mu      sync.Mutex
	pending map[ID]struct{}
	// damaged are the copies (pack, blob) this process read and found
	// damaged: no writer reuses one, so a blob saved again gets a good
	// copy instead of a reference to the bad one
	damaged    map[[2]ID]struct{}
	anyDamaged atomic.Bool // has checks the map only when set

	flushQ    chan *openPack
	flushWG   packsInFlight
	flushDone chan struct{}
	errMu     sync.Mutex
	failSeq   uint64 // pack writes that failed so far
	lastErr   error

	handles   handleCache
	ra        *readAhead // nil: reads go straight to the backend
	remote    bool       // the backend has no random access (Prefetch reads)
	pf        prefetched // ranges read ahead (Prefetch)
	cache     *Local     // PackCache, or nil
	cached    handleCache
	condemned func(ID) bool
	seal      *Sealer // nil: a plain repository
}

type tempDirer interface{ TempDir() string }

// NewRepository returns a repository over opts.Backend.
func NewRepository(opts RepositoryOptions) (*Repository, error) {
	if opts.Backend == nil || opts.Index == nil {
		return nil, errors.New("object: repository needs a backend and an index")
	}
	codec, err := NewCodec(opts.Level)
	if err != nil {
		return nil, err
	}
	r := &Repository{
		be:        opts.Backend,
		idx:       opts.Index,
		tmpDir:    opts.TempDir,
		fs:        backendFS(opts.Backend),
		packSz:    opts.PackSize,
		codec:     codec,
		log:       opts.Logger,
		pending:   map[ID]struct{}{},
		condemned: opts.Condemned,
		seal:      opts.Sealer,
		flushQ:    make(chan *openPack, flushers),
		flushDone: make(chan struct{}),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.packSz <= 0 {
		r.packSz = 16 << 20
	}
	if r.tmpDir == "" {
		if td, ok := opts.Backend.(tempDirer); ok {
			r.tmpDir = td.TempDir()
		} else {
			r.tmpDir = os.TempDir()
		}
	}
	r.packers = []*packer{{repo: r, data: false}, {repo: r, data: true}}
	if r.seal != nil {
		for range sealedDataPackers - 1 {
			r.packers = append(r.packers, &packer{repo: r, data: true})
		}
	}
	r.handles.be = opts.Backend
	_, random := opts.Backend.(ReaderAtOpener)
	r.remote = !random
	r.pf.byPack, r.pf.locs, r.pf.gets = map[ID][]*pfRange{}, map[ID]*pfLoc{}, make(chan struct{}, prefetchGets)
	if !random && opts.ReadAhead > 0 {
		if ps, ok := opts.Index.(PackSizer); ok {
			max := opts.ReadAheadCache
			if max <= 0 {
				max = 8 * opts.ReadAhead
			}
			r.ra = newReadAhead(opts.Backend, ps, opts.ReadAhead, max)
		}
	}
	if opts.PackCache != "" {
		r.cache = NewLocal(opts.PackCache)
		r.cached.be = r.cache
	}
	var running sync.WaitGroup
	for range flushers {
		running.Add(1)
		go func() {
			defer running.Done()
			r.flusher()
		}()
	}
	go func() {
		running.Wait()
		close(r.flushDone)
	}()
	return r, nil
}

// Backend returns the repository's backend.
func (r *Repository) Backend() Backend { return r.be }

// Sealer returns the repository's sealer (nil: a plain repository).
func (r *Repository) Sealer() *Sealer { return r.seal }

// ID returns the blob id of plain data in this repository (keyed in an
// encrypted one): every id a caller computes must come from here.
func (r *Repository) ID(plain []byte) ID { return r.seal.ID(plain) }

// Codec returns the repository's compression codec.
func (r *Repository) Codec() *Codec { return r.codec }

// Locate looks up where blobs are, for LoadAt: locs[i] is where ids[i] is,
// found[i] whether it is indexed. With a BatchIndex it asks the index once.
func (r *Repository) Locate(ids []ID) (locs []Location, found []bool, err error) {
	if b, ok := r.idx.(BatchIndex); ok {
		return b.LookupAll(ids)
	}
	locs, found = make([]Location, len(ids)), make([]bool, len(ids))
	for i, id := range ids {
		if locs[i], found[i], err = r.idx.Lookup(id); err != nil {
			return nil, nil, err
		}
	}
	return locs, found, nil
}

// Has reports whether the blob is indexed or waiting in a pack being
// written (a copy found damaged still counts: the blob is indexed).
func (r *Repository) Has(id ID) (bool, error) {
	r.mu.Lock()
	_, ok := r.pending[id]
	r.mu.Unlock()
	if ok {
		return true, nil
	}
	_, ok, err := r.idx.Lookup(id)
	return ok, err
}

// has is whether a save of id through writer w (nil: the repository's own
// saves) may reuse a copy: one being written, or an indexed copy that w's
// Exclude does not reject and that this process has not found damaged (a
// blob whose only copies are damaged is written again).
func (r *Repository) has(w *Writer, id ID) (bool, error) {
	r.mu.Lock()
	_, ok := r.pending[id]
	r.mu.Unlock()
	if ok {
		return true, nil
	}
	loc, ok, err := r.idx.Lookup(id)
	if err != nil || !ok {
		return false, err
	}
	excluded := func(l Location) bool { return w != nil && w.exclude != nil && w.exclude(l) }
	if excluded(loc) {
		return false, nil
	}
	if !r.isDamaged(loc) {
		return true, nil
	}
	// another copy the index knows will do
	var others []Location
	if l, ok := r.idx.(Locator); ok {
		if others, err = l.Locations(id); err != nil {
			return false, err
		}
	}
	for _, o := range others {
		if !r.isDamaged(o) && !excluded(o) {
			return true, nil
		}
	}
	return false, nil
}

// noteDamaged remembers that the copy at loc failed verification.
func (r *Repository) noteDamaged(loc Location) {
	r.mu.Lock()
	if r.damaged == nil {
		r.damaged = map[[2]ID]struct{}{}
	}
	r.damaged[[2]ID{loc.Pack, loc.ID}] = struct{}{}
	r.anyDamaged.Store(true)
	r.mu.Unlock()
}

func (r *Repository) isDamaged(loc Location) bool {
	if !r.anyDamaged.Load() {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, bad := r.damaged[[2]ID{loc.Pack, loc.ID}]
	return bad
}

// reserve marks id as being saved; false means the writer may reuse a copy.
func (r *Repository) reserve(w *Writer, id ID) (bool, error) {
	if ok, err := r.has(w, id); ok || err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pending[id]; ok {
		return false, nil
	}
	r.pending[id] = struct{}{}
	return true, nil
}

func (r *Repository) release(blobs []Blob) {
	r.mu.Lock()
	for _, b := range blobs {
		delete(r.pending, b.ID)
	}
	r.mu.Unlock()
}

var storedPool = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

// SaveBlob stores plain under id (which the caller computed with Hash) unless
// the repository has it already. It returns the stored bytes added (0 for a
// known blob). The blob is durable only after the next Flush.
func (r *Repository) SaveBlob(ctx context.Context, t BlobType, id ID, plain []byte) (int64, error) {
	return r.saveBlob(ctx, nil, t, id, plain)
}

func (r *Repository) saveBlob(ctx context.Context, w *Writer, t BlobType, id ID, plain []byte) (int64, error) {
	if len(plain) > MaxBlobSize {
		return 0, fmt.Errorf("object: blob %s of %d bytes is too large", id.Short(), len(plain))
	}
	fresh, err := r.reserve(w, id)
	if err != nil || !fresh {
		return 0, err
	}
	bp := storedPool.Get().(*[]byte)
	stored, comp := r.codec.Compress((*bp)[:0], plain)
	p := r.packerFor(t)
	b := Blob{ID: id, Type: t, Comp: comp, RawLength: uint32(len(plain))}
	if r.seal != nil {
		sp := storedPool.Get().(*[]byte)
		sealed, serr := r.seal.sealBlob((*sp)[:0], b, stored)
		*bp = stored[:0]
		storedPool.Put(bp)
		bp, stored, err = sp, sealed, serr
	}
	if err == nil {
		err = p.add(ctx, b, stored)
	}
	n := int64(len(stored))
	*bp = stored[:0]
	storedPool.Put(bp)
	if err != nil {
		// not in any pack: a later save must write it, not take it for
		// saved (found by TestRepositoryDiskFullAtEveryWrite: after a
		// full disk, a server's next store referred to a blob that was
		// never written)
		r.release([]Blob{{ID: id}})
		return 0, err
	}
	return n, nil
}

// sealedDataPackers is how many data packs an encrypted repository fills
// at once (restic picks among several open packers for the same reason:
// see docs/encryption-review.md, item 3).
const sealedDataPackers = 3

// packerFor returns the packer a blob of type t goes to.
func (r *Repository) packerFor(t BlobType) *packer {
	if !t.IsData() {
		return r.packers[0]
	}
	if len(r.packers) == 2 {
		return r.packers[1]
	}
	return r.packers[1+mrand.IntN(len(r.packers)-1)]
}

// FailSeq counts the pack writes that failed so far. A long-running user
// takes it before an operation and passes it to FlushSince, so one failed
// pack fails the operations that were running, not every later one.
func (r *Repository) FailSeq() uint64 {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.failSeq
}

func (r *Repository) failedSince(seq uint64) error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.failSeq > seq {
		return r.lastErr
	}
	return nil
}

func (r *Repository) setErr(err error) {
	r.errMu.Lock()
	r.failSeq++
	r.lastErr = err
	r.errMu.Unlock()
}

// Flush finishes the packs being written and returns once every blob saved
// so far is durable and indexed; it fails if any pack write ever failed.
func (r *Repository) Flush(ctx context.Context) error { return r.FlushSince(ctx, 0) }

// FlushSince is Flush that only reports pack writes that failed after the
// FailSeq value seq (their blobs are not in the index: whoever saved them
// must not record anything that refers to them).
func (r *Repository) FlushSince(ctx context.Context, seq uint64) error {
	for _, p := range r.packers {
		if err := p.finish(); err != nil {
			return err
		}
	}
	r.flushWG.Wait()
	return r.failedSince(seq)
}

// Close flushes nothing: it abandons open packs (their temp files are
// removed), stops the flusher and closes cached pack handles.
func (r *Repository) Close() error {
	for _, p := range r.packers {
		p.abandon()
	}
	r.flushWG.Wait()
	select {
	case <-r.flushDone:
	default:
		close(r.flushQ)
		<-r.flushDone
	}
	r.handles.closeAll()
	r.cached.closeAll()
	return nil
}

// packer is one pack being filled.
type packer struct {
	repo *Repository
	data bool

	mu  sync.Mutex
	cur *openPack
}

type openPack struct {
	seq   uint64 // in packsInFlight
	fs    FS
	f     File
	bw    *bufio.Writer
	pw    *PackWriter
	data  bool
	limit int // blobs; 0: none (see PackLimiter)
}

func (p *packer) add(ctx context.Context, b Blob, stored []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		op, err := p.repo.newPack("pack-*", p.data)
		if err != nil {
			return err
		}
		if l, ok := p.repo.idx.(PackLimiter); ok {
			op.limit = l.PackBlobLimit()
		}
		p.cur = op
	}
	if err := p.cur.pw.Add(b, stored); err != nil {
		return fmt.Errorf("object: write pack %s: %w", p.cur.f.Name(), err)
	}
	if p.cur.pw.Size() >= p.repo.packSz || (p.cur.limit > 0 && p.cur.pw.Count() >= p.cur.limit) {
		return p.rotate(ctx)
	}
	return nil
}

// rotate hands the current pack to the flusher. Called with p.mu held.
func (p *packer) rotate(ctx context.Context) error {
	op := p.cur
	p.cur = nil
	op.seq = p.repo.flushWG.Add()
	select {
	case p.repo.flushQ <- op:
		return nil
	case <-ctx.Done():
		// the pack holds other writers' blobs too: they are lost, so
		// forget them (a later save writes them again) and fail every
		// writer's Flush that may have saved one, as a failed pack write
		// does
		p.repo.flushWG.Done(op.seq)
		p.repo.release(op.pw.Blobs())
		p.repo.setErr(fmt.Errorf("object: pack abandoned: %w", ctx.Err()))
		op.discard()
		return ctx.Err()
	}
}

func (p *packer) finish() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return nil
	}
	op := p.cur
	p.cur = nil
	op.seq = p.repo.flushWG.Add()
	p.repo.flushQ <- op
	return nil
}

func (p *packer) abandon() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur != nil {
		p.repo.release(p.cur.pw.Blobs())
		p.cur.discard()
		p.cur = nil
	}
}

// newPack starts a pack in a temporary file of the temp dir.
func (r *Repository) newPack(pattern string, data bool) (*openPack, error) {
	if err := r.fs.MkdirAll(r.tmpDir, 0o755); err != nil {
		return nil, fmt.Errorf("object: temp dir: %w", err)
	}
	f, err := r.fs.CreateTemp(r.tmpDir, pattern)
	if err != nil {
		return nil, fmt.Errorf("object: new pack: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	return &openPack{fs: r.fs, f: f, bw: bw, pw: NewSealedPackWriter(bw, r.seal), data: data}, nil
}

func (op *openPack) discard() {
	op.f.Close()
	op.fs.Remove(op.f.Name())
}

// flushers is how many finished packs are made durable at once: fsync
// waits on the device, so overlapping them keeps the pipeline busy.
const flushers = 4

func (r *Repository) flusher() {
	for op := range r.flushQ {
		if err := r.writePack(op); err != nil {
			// the blobs are not stored: forget them, so a later save
			// writes them again instead of trusting a lost pack
			r.release(op.pw.Blobs())
			r.setErr(err)
			r.log.Warn("pack write failed", "err", err)
		}
		r.flushWG.Done(op.seq)
	}
}

// writePack makes a finished pack durable, then indexes its blobs.
func (r *Repository) writePack(op *openPack) error {
	np, err := r.finishPack(context.Background(), op)
	if err != nil {
		return err
	}
	if err := r.idx.AddPack(np.Info, np.Blobs); err != nil {
		return fmt.Errorf("object: index pack %s: %w", np.Info.ID, err)
	}
	r.release(np.Blobs)
	r.log.Debug("pack written", "pack", np.Info.ID.String(), "size", np.Info.Size, "blobs", len(np.Blobs))
	return nil
}

// Locator is an optional Index ability: every known location of a blob
// (the first one, then copies in other packs).
type Locator interface {
	Locations(id ID) ([]Location, error)
}

// LoadBlob reads, decompresses and verifies a blob, appending its plain
// bytes to dst[:0]. When its pack is gone or the copy there is damaged, it
// reads another copy if the index knows one.
func (r *Repository) LoadBlob(ctx context.Context, id ID, dst []byte) ([]byte, error) {
	loc, ok, err := r.lookup(id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", id, ErrBlobNotFound)
	}
	out, err := r.LoadAt(ctx, loc, dst)
	if err == nil || !(errors.Is(err, ErrNotFound) || errors.Is(err, ErrCorrupt) || errors.Is(err, io.ErrUnexpectedEOF)) {
		return out, err
	}
	// the pack may have been rewritten meanwhile, or this copy is damaged:
	// try the others
	var others []Location
	if l, ok := r.idx.(Locator); ok {
		others, _ = l.Locations(id)
	} else if loc2, ok, lerr := r.idx.Lookup(id); lerr == nil && ok {
		others = []Location{loc2}
	}
	for _, o := range others {
		if o.Pack == loc.Pack {
			continue
		}
		if out, oerr := r.LoadAt(ctx, o, dst); oerr == nil {
			r.log.Warn("read a blob from another copy", "blob", id.String(), "pack", loc.Pack.String(), "err", err)
			return out, nil
		}
	}
	return nil, err
}

// maxRun bounds the bytes LoadRun reads in one request, and maxGap the
// bytes between two blobs it reads through rather than asking twice.
const (
	maxRun = 16 << 20
	maxGap = 256 << 10
)

// LoadRun loads data blobs ids in order and calls fn with each one's
// verified plain bytes (valid only during the call). Neighbours in one
// pack (in order, at most maxGap apart) are read with one request of at
// most maxRun bytes: on S3 a file's chunks, written one after another,
// come in a few ranged GETs instead of one per chunk. A blob that fails so
// is read again alone through LoadBlob (another copy, if the index knows
// one).
func (r *Repository) LoadRun(ctx context.Context, ids []ID, fn func(i int, data []byte) error) error {
	locs := make([]Location, len(ids))
	for i, id := range ids {
		loc, ok, err := r.lookup(id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("blob %s: %w", id, ErrBlobNotFound)
		}
		locs[i] = loc
	}
	var span, plain []byte
	for i := 0; i < len(ids); {
		// the run: i..j-1, in one pack, in order, close together
		j := i + 1
		end := int64(locs[i].Offset) + int64(locs[i].Length)
		for j < len(ids) && locs[j].Pack == locs[i].Pack && int64(locs[j].Offset) >= end &&
			int64(locs[j].Offset)-end <= maxGap && int64(locs[j].Offset)+int64(locs[j].Length)-int64(locs[i].Offset) <= maxRun {
			end = int64(locs[j].Offset) + int64(locs[j].Length)
			j++
		}
		start := int64(locs[i].Offset)
		// read ahead (Prefetch): used where it is, not copied; blob by
		// blob when the run spans ranges, and the rest of the run read
		// at the first blob none holds
		got, ahead := r.prefetchedView(ctx, locs[i].Pack, start, end-start)
		read := int64(-1) // where the run was read from (got then holds it)
		var rerr error
		for k := i; k < j; k++ {
			var err error
			off, n := int64(locs[k].Offset), int64(locs[k].Length)
			stored, ok := []byte(nil), false
			if ahead {
				stored, ok = got[off-start:off-start+n], true
			} else if read < 0 {
				stored, ok = r.prefetchedView(ctx, locs[k].Pack, off, n)
			}
			if !ok && read < 0 {
				read = off
				if cap(span) < int(end-read) {
					span = make([]byte, end-read)
				}
				got = span[:end-read]
				if j-i > 1 || r.cache == nil || locs[i].Type.IsData() {
					rerr = r.readAt(ctx, locs[i].Pack, got, read)
				} else {
					rerr = r.readCached(ctx, locs[i].Pack, got, read)
				}
			}
			if !ok && rerr == nil {
				stored = got[off-read : off-read+n]
			}
			if rerr == nil {
				// damage is noted by LoadBlob's read, if it is there too
				plain, err = r.decode(locs[k], stored, plain[:0])
			}
			if rerr != nil || err != nil {
				if plain, err = r.LoadBlob(ctx, ids[k], plain[:0]); err != nil {
					return err
				}
			}
			if err := fn(k, plain); err != nil {
				return err
			}
		}
		i = j
	}
	return nil
}

// LoadAt reads the blob at loc and verifies it.
func (r *Repository) LoadAt(ctx context.Context, loc Location, dst []byte) ([]byte, error) {
	bp := storedPool.Get().(*[]byte)
	defer storedPool.Put(bp)
	buf := *bp
	if cap(buf) < int(loc.Length) {
		buf = make([]byte, loc.Length)
	}
	buf = buf[:loc.Length]
	var err error
	if r.cache != nil && !loc.Type.IsData() {
		err = r.readCached(ctx, loc.Pack, buf, int64(loc.Offset))
	} else {
		err = r.readAt(ctx, loc.Pack, buf, int64(loc.Offset))
	}
	if err != nil {
		return nil, readBlobError(loc, err)
	}
	*bp = buf[:0]
	out, err := r.decode(loc, buf, dst)
	if errors.Is(err, ErrCorrupt) && r.remote {
		// from a remote backend the bytes may have been damaged on their
		// way into what is kept for later reads (a window, a prefetched
		// range, the local copy of a tree pack): drop all of it and read
		// them once more
		r.Forget(loc.Pack)
		if rerr := r.readAt(ctx, loc.Pack, buf, int64(loc.Offset)); rerr == nil {
			out, err = r.decode(loc, buf, dst)
		}
	}
	if errors.Is(err, ErrCorrupt) {
		r.noteDamaged(loc)
	}
	return out, err
}

// readCached reads from the local copy of a tree pack, downloading the
// whole pack first (verified against its id) when there is none.
func (r *Repository) readCached(ctx context.Context, pack ID, buf []byte, off int64) error {
	name := PackName(pack)
	if _, err := r.cache.Stat(ctx, name); err != nil {
		if err := r.fetchToCache(ctx, pack); err != nil {
			return err
		}
	}
	hd, err := r.cached.get(ctx, pack)
	if err != nil {
		return err
	}
	defer r.cached.put(hd)
	n, err := hd.ra.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// fetchToCache downloads a pack into the local pack cache: into a file of
// its own, hashed on the way, renamed into place only when the content
// hashes to the pack's id. Other processes of the machine share the cache
// and may fetch the same pack at once; whichever rename comes last wins,
// with the same bytes.
func (r *Repository) fetchToCache(ctx context.Context, pack ID) error {
	name := PackName(pack)
	rc, err := r.be.Get(ctx, name, 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	dir := filepath.Join(r.cache.Root(), filepath.Dir(filepath.FromSlash(name)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cache pack %s: %w", pack.Short(), err)
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("cache pack %s: %w", pack.Short(), err)
	}
	defer os.Remove(f.Name())
	h := blake3.New()
	_, err = io.Copy(f, io.TeeReader(rc, h))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cache pack %s: %w", pack.Short(), err)
	}
	var got ID
	copy(got[:], h.Sum(nil))
	if got != pack {
		return fmt.Errorf("pack %s: %w: content hashes to %s", pack, ErrCorrupt, got.Short())
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, filepath.Base(name))); err != nil {
		return fmt.Errorf("cache pack %s: %w", pack.Short(), err)
	}
	return nil
}

// DecodeBlob opens (in an encrypted repository) and decompresses stored
// bytes of the blob at loc and checks the id; a copy that does not check
// is remembered as damaged (a writer does not reuse it).
func (r *Repository) DecodeBlob(loc Location, stored, dst []byte) ([]byte, error) {
	out, err := r.decode(loc, stored, dst)
	if errors.Is(err, ErrCorrupt) {
		r.noteDamaged(loc)
	}
	return out, err
}

// decode is DecodeBlob without remembering the damage.
func (r *Repository) decode(loc Location, stored, dst []byte) ([]byte, error) {
	var out []byte
	var err error
	if r.seal != nil {
		if loc.Comp == Raw {
			out, err = r.seal.openBlob(dst[:0], loc.Blob, stored)
		} else {
			bp := storedPool.Get().(*[]byte)
			var opened []byte
			if opened, err = r.seal.openBlob((*bp)[:0], loc.Blob, stored); err == nil {
				out, err = r.codec.Decompress(dst[:0], opened, loc.Comp, int(loc.RawLength))
				*bp = opened[:0]
			}
			storedPool.Put(bp)
		}
	} else {
		out, err = r.codec.Decompress(dst[:0], stored, loc.Comp, int(loc.RawLength))
	}
	if err == nil && (len(out) != int(loc.RawLength) || r.seal.ID(out) != loc.ID) {
		err = fmt.Errorf("%w: content does not match its id", ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("blob %s in pack %s: %w", loc.ID, loc.Pack, err)
	}
	return out, nil
}

func (r *Repository) readAt(ctx context.Context, pack ID, buf []byte, off int64) error {
	h, err := r.handles.get(ctx, pack)
	if err != nil {
		return err
	}
	if h != nil {
		defer r.handles.put(h)
		n, err := h.ra.ReadAt(buf, off)
		if n == len(buf) {
			return nil
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if ok, err := r.readPrefetched(ctx, pack, buf, off); ok || err != nil {
		return err
	}
	if r.ra != nil {
		if ok, err := r.ra.read(ctx, pack, buf, off); ok || err != nil {
			return err
		}
	}
	rc, err := r.be.Get(ctx, PackName(pack), off, int64(len(buf)))
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.ReadFull(rc, buf)
	return err
}

// ReadPack reads a pack's table and describes the pack as the index holds it.
func (r *Repository) ReadPack(ctx context.Context, pack ID) (NewPack, error) {
	blobs, size, err := r.ReadPackTable(ctx, pack)
	if err != nil {
		return NewPack{}, err
	}
	data := len(blobs) > 0 && blobs[0].Type.IsData()
	return NewPack{Info: PackInfo{ID: pack, Size: size, Data: data, Count: len(blobs)}, Blobs: blobs}, nil
}

// ReadPackTable reads and validates the table of a pack.
func (r *Repository) ReadPackTable(ctx context.Context, pack ID) ([]Blob, int64, error) {
	return readPackTable(ctx, r.be, pack, r.seal)
}

// Salvage is Salvage of one of the repository's packs (encrypted or not).
func (r *Repository) Salvage(ctx context.Context, pack ID, hints []Blob) (good []Blob, bad int, err error) {
	return salvage(ctx, r.be, pack, hints, r.seal)
}

// ReadPackTable reads and validates the table of a plain pack in be.
func ReadPackTable(ctx context.Context, be Backend, pack ID) ([]Blob, int64, error) {
	return readPackTable(ctx, be, pack, nil)
}

func readPackTable(ctx context.Context, be Backend, pack ID, s *Sealer) ([]Blob, int64, error) {
	name := PackName(pack)
	fi, err := be.Stat(ctx, name)
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size
	if size < trailerSize+32 {
		return nil, size, fmt.Errorf("pack %s: %w: %d bytes", pack, ErrBadPack, size)
	}
	// one read usually covers the whole table
	tailLen := min(size, 64<<10)
	tail, err := readRange(ctx, be, name, size-tailLen, tailLen)
	if err != nil {
		return nil, size, fmt.Errorf("pack %s: %w", pack, err)
	}
	tl, err := TableLength(tail[len(tail)-trailerSize:])
	if err != nil {
		return nil, size, fmt.Errorf("pack %s: %w", pack, err)
	}
	if tl > tailLen {
		if tl > size {
			return nil, size, fmt.Errorf("pack %s: %w: table longer than the pack", pack, ErrBadPack)
		}
		if tail, err = readRange(ctx, be, name, size-tl, tl); err != nil {
			return nil, size, fmt.Errorf("pack %s: %w", pack, err)
		}
	}
	blobs, err := decodeTable(tail, size, s)
	if err != nil {
		return nil, size, fmt.Errorf("pack %s: %w", pack, err)
	}
	return blobs, size, nil
}

func readRange(ctx context.Context, be Backend, name string, off, n int64) ([]byte, error) {
	rc, err := be.Get(ctx, name, off, n)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(rc, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// VerifyPack streams a whole pack, checks that its content hashes to its
// name and that its table is valid, and calls fn for every blob with nil or
// the reason the blob is bad (corrupt, undecodable). A pack whose table is
// unreadable returns an error.
func (r *Repository) VerifyPack(ctx context.Context, pack ID, fn func(Blob, error)) error {
	blobs, size, err := r.ReadPackTable(ctx, pack)
	if err != nil {
		return err
	}
	rc, err := r.be.Get(ctx, PackName(pack), 0, -1)
	if err != nil {
		return err
	}
	defer rc.Close()
	h := blake3.New()
	br := bufio.NewReaderSize(io.TeeReader(rc, h), 1<<20)
	var stored, plain []byte
	for _, b := range blobs {
		if cap(stored) < int(b.Length) {
			stored = make([]byte, b.Length)
		}
		stored = stored[:b.Length]
		if _, err := io.ReadFull(br, stored); err != nil {
			return fmt.Errorf("pack %s: %w", pack, err)
		}
		loc := Location{Pack: pack, Blob: b}
		plain, err = r.DecodeBlob(loc, stored, plain)
		fn(b, err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return fmt.Errorf("pack %s: %w", pack, err)
	}
	var got ID
	copy(got[:], h.Sum(nil))
	if got != pack {
		return fmt.Errorf("pack %s (%d bytes): %w: content hashes to %s", pack, size, ErrCorrupt, got.Short())
	}
	return nil
}

// handleCache keeps pack files open for random reads.
type handleCache struct {
	be   Backend
	mu   sync.Mutex
	open map[ID]*handle
}

type handle struct {
	id   ID
	ra   ReaderAtCloser
	refs int
}

const maxHandles = 64

// get returns an open handle, or nil when the backend has no random access.
func (c *handleCache) get(ctx context.Context, id ID) (*handle, error) {
	opener, ok := c.be.(ReaderAtOpener)
	if !ok {
		return nil, nil
	}
	c.mu.Lock()
	if h, ok := c.open[id]; ok {
		h.refs++
		c.mu.Unlock()
		return h, nil
	}
	c.mu.Unlock()
	ra, err := opener.OpenReaderAt(ctx, PackName(id))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.open[id]; ok {
		ra.Close()
		h.refs++
		return h, nil
	}
	if c.open == nil {
		c.open = map[ID]*handle{}
	}
	if len(c.open) >= maxHandles {
		for k, h := range c.open {
			if h.refs == 0 {
				h.ra.Close()
				delete(c.open, k)
			}
		}
	}
	h := &handle{id: id, ra: ra, refs: 1}
	c.open[id] = h
	return h, nil
}

func (c *handleCache) put(h *handle) {
	c.mu.Lock()
	h.refs--
	c.mu.Unlock()
}

// Forget closes the cached handles of a pack (after it is deleted) and
// drops its local copy.
func (r *Repository) Forget(id ID) {
	r.forgetPrefetched(id)
	if r.ra != nil {
		r.ra.forget(id)
	}
	for _, c := range []*handleCache{&r.handles, &r.cached} {
		c.mu.Lock()
		if h, ok := c.open[id]; ok && h.refs == 0 {
			h.ra.Close()
			delete(c.open, id)
		}
		c.mu.Unlock()
	}
	if r.cache != nil {
		r.cache.Delete(context.Background(), PackName(id))
	}
}

func (c *handleCache) closeAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, h := range c.open {
		h.ra.Close()
		delete(c.open, k)
	}
}

// SaveStored adds a blob in its stored form (as read from another
// repository's pack, already verified by the caller) unless the repository
// has it. It returns the stored bytes added.
func (r *Repository) SaveStored(ctx context.Context, b Blob, stored []byte) (int64, error) {
	return r.saveStored(ctx, nil, b, stored)
}

func (r *Repository) saveStored(ctx context.Context, w *Writer, b Blob, stored []byte) (int64, error) {
	fresh, err := r.reserve(w, b.ID)
	if err != nil || !fresh {
		return 0, err
	}
	p := r.packerFor(b.Type)
	if err := p.add(ctx, Blob{ID: b.ID, Type: b.Type, Comp: b.Comp, RawLength: b.RawLength}, stored); err != nil {
		r.release([]Blob{{ID: b.ID}})
		return 0, err
	}
	return int64(len(stored)), nil
}

// readBlobError describes a failed read of a blob's bytes; a pack that
// ends before the blob does (truncated, emptied) is corrupt.
func readBlobError(loc Location, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: pack %s ends before blob %s (bytes %d to %d): the pack was truncated",
			ErrCorrupt, loc.Pack, loc.ID, loc.Offset, int64(loc.Offset)+int64(loc.Length))
	}
	return fmt.Errorf("read blob %s from pack %s: %w", loc.ID, loc.Pack, err)
}

// ReadStored reads a blob's stored bytes and checks them against its id; it
// returns the stored bytes (appended to dst[:0]).
func (r *Repository) ReadStored(ctx context.Context, loc Location, dst []byte) ([]byte, error) {
	if cap(dst) < int(loc.Length) {
		dst = make([]byte, loc.Length)
	}
	dst = dst[:loc.Length]
	if err := r.readAt(ctx, loc.Pack, dst, int64(loc.Offset)); err != nil {
		return nil, readBlobError(loc, err)
	}
	bp := storedPool.Get().(*[]byte)
	defer storedPool.Put(bp)
	plain, err := r.DecodeBlob(loc, dst, (*bp)[:0])
	if err != nil {
		return nil, err
	}
	*bp = plain[:0]
	return dst, nil
}

// Lookup returns a blob's location.
func (r *Repository) Lookup(id ID) (Location, bool, error) { return r.idx.Lookup(id) }

// AddPack indexes a pack copied into the backend from elsewhere.
func (r *Repository) AddPack(p PackInfo, blobs []Blob) error { return r.idx.AddPack(p, blobs) }

// packsInFlight counts the packs handed to the flushers. Unlike a
// sync.WaitGroup it may be waited on while other goroutines add packs
// (concurrent saves and flushes, e.g. the HTTP server's uploads, made
// WaitGroup panic with "reused before previous Wait has returned"), and a
// Wait covers only the packs handed over before it began, so a steady
// stream of other writers' packs cannot keep it waiting.
type packsInFlight struct {
	mu   sync.Mutex
	cond sync.Cond
	next uint64
	open map[uint64]struct{}
}

// Add registers a pack and returns its sequence number for Done.
func (p *packsInFlight) Add() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open == nil {
		p.open = map[uint64]struct{}{}
		p.cond.L = &p.mu
	}
	seq := p.next
	p.next++
	p.open[seq] = struct{}{}
	return seq
}

// Done marks a pack written (or dropped).
func (p *packsInFlight) Done(seq uint64) {
	p.mu.Lock()
	delete(p.open, seq)
	p.mu.Unlock()
	p.cond.Broadcast()
}

// Wait returns once every pack added before the call is done.
func (p *packsInFlight) Wait() {
	p.mu.Lock()
	defer p.mu.Unlock()
	target := p.next
	for {
		older := false
		for seq := range p.open {
			if seq < target {
				older = true
				break
			}
		}
		if !older {
			return
		}
		p.cond.Wait()
	}
}
