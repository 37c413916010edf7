package object

import (
	"context"
	"encoding/binary"
	"sync"
)

// Writers and pins keep garbage collection from deleting blobs that a store
// in progress refers to. Every blob a Writer saves or finds already stored is
// pinned, under the repository's sweep lock, so a collector that holds the
// lock exclusively sees either the pin or (after it removed the blob's index
// entry) a store that writes the blob again. Pins are released when the
// writer ends, unless a collection is running: then they stay until it ends.

//
// A writer keeps its pins as a set of 8-byte id prefixes (about 20 bytes a
// blob, so a store of 500,000 chunks pins in ~10 MiB); two blobs sharing a
// prefix only make a collection keep one more blob.

type pinSet struct {
	off      bool // RepositoryOptions.Unpinned
	mu       sync.Mutex
	live     map[*Writer]struct{} // writers running, and ended ones held for a collection
	gcs      int                  // collections running
	deferred []*Writer            // writers that ended while a collection ran
}

// Writer is one store in progress. Use it as the BlobSaver of a store.
type Writer struct {
	r     *Repository
	seq   uint64 // the repository's FailSeq when the writer started
	mu    sync.Mutex
	ids   map[uint64]struct{}
	roots []ID
	ended bool
	// unpinned: an Unpinned repository's writer started while no
	// collection ran; no collection may start before it ends
	unpinned bool
}

// NewWriter starts a store session whose blobs are pinned until End.
func (r *Repository) NewWriter() *Writer {
	w := &Writer{r: r, seq: r.FailSeq(), ids: map[uint64]struct{}{}}
	p := &r.pins
	p.mu.Lock()
	if p.live == nil {
		p.live = map[*Writer]struct{}{}
	}
	p.live[w] = struct{}{}
	w.unpinned = p.off && p.gcs == 0
	p.mu.Unlock()
	return w
}

func pinKey(id ID) uint64 { return binary.BigEndian.Uint64(id[:8]) }

// PinRoot pins a tree (a parent version) whose content the writer reuses.
func (w *Writer) PinRoot(tree ID) {
	if tree.IsZero() {
		return
	}
	w.mu.Lock()
	w.roots = append(w.roots, tree)
	w.mu.Unlock()
}

func (w *Writer) pin(id ID) {
	if w.unpinned {
		return
	}
	w.mu.Lock()
	w.ids[pinKey(id)] = struct{}{}
	w.mu.Unlock()
}

func (w *Writer) has(k uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.ids[k]
	return ok
}

// Flush makes everything saved so far durable and indexed; it fails when a
// pack write failed since the writer started (some of its blobs may be lost).
func (w *Writer) Flush(ctx context.Context) error { return w.r.FlushSince(ctx, w.seq) }

// SaveBlob saves a blob like Repository.SaveBlob and pins it.
func (w *Writer) SaveBlob(ctx context.Context, t BlobType, id ID, plain []byte) (int64, error) {
	return w.r.saveBlob(ctx, w, t, id, plain)
}

// Keep pins a blob the repository has already (indexed or being written),
// atomically with the lookup, and reports whether it is there; a missing
// blob is not pinned. A client that is told a blob exists can rely on it
// until the writer ends.
func (w *Writer) Keep(id ID) (bool, error) {
	w.r.sweep.RLock()
	defer w.r.sweep.RUnlock()
	ok, err := w.r.Has(id)
	if ok && err == nil {
		w.pin(id)
	}
	return ok, err
}

// LoadBlob loads a blob like Repository.LoadBlob.
func (w *Writer) LoadBlob(ctx context.Context, id ID, dst []byte) ([]byte, error) {
	return w.r.LoadBlob(ctx, id, dst)
}

// End releases the writer's pins (or hands them to the running collection).
func (w *Writer) End() {
	p := &w.r.pins
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.ended {
		return
	}
	w.ended = true
	if p.gcs > 0 {
		p.deferred = append(p.deferred, w)
		return
	}
	delete(p.live, w)
}

// BeginCollection marks a collection as running: writers that end keep
// their pins until EndCollection. In an Unpinned repository it fails while
// a writer is open, since that writer's blobs are not pinned.
func (r *Repository) BeginCollection() error {
	p := &r.pins
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := range p.live {
		if w.unpinned && !w.ended {
			return ErrStoreRunning
		}
	}
	p.gcs++
	return nil
}

// EndCollection ends a collection and releases deferred pins.
func (r *Repository) EndCollection() {
	p := &r.pins
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gcs--
	if p.gcs > 0 {
		return
	}
	for _, w := range p.deferred {
		delete(p.live, w)
	}
	p.deferred = nil
}

// Pinned reports whether a blob may be pinned by a store in progress.
func (r *Repository) Pinned(id ID) bool {
	k := pinKey(id)
	p := &r.pins
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := range p.live {
		if w.has(k) {
			return true
		}
	}
	return false
}

// PinnedRoots returns the root trees pinned by stores in progress.
func (r *Repository) PinnedRoots() []ID {
	p := &r.pins
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []ID
	for w := range p.live {
		w.mu.Lock()
		out = append(out, w.roots...)
		w.mu.Unlock()
	}
	return out
}

// SweepLock excludes blob lookups (and so new pins) while a collector
// checks pins and removes index entries. Hold it briefly.
func (r *Repository) SweepLock() sync.Locker { return &r.sweep }
