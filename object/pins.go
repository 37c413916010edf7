package object

import (
	"context"
	"sync"
)

// Writers and pins keep garbage collection from deleting blobs that a store
// in progress refers to. Every blob a Writer saves or finds already stored is
// pinned, under the repository's sweep lock, so a collector that holds the
// lock exclusively sees either the pin or (after it removed the blob's index
// entry) a store that writes the blob again. Pins are released when the
// writer ends, unless a collection is running: then they stay until it ends.

type pinSet struct {
	mu       sync.Mutex
	counts   map[ID]int
	roots    map[ID]int // root trees whose whole content a writer reuses
	gcs      int        // collections running
	deferred []*Writer  // writers that ended while a collection ran
}

// Writer is one store in progress. Use it as the BlobSaver of a store.
type Writer struct {
	r     *Repository
	mu    sync.Mutex
	ids   []ID
	roots []ID
	ended bool
}

// NewWriter starts a store session whose blobs are pinned until End.
func (r *Repository) NewWriter() *Writer { return &Writer{r: r} }

func (p *pinSet) add(m *map[ID]int, id ID) {
	if *m == nil {
		*m = map[ID]int{}
	}
	(*m)[id]++
}

// PinRoot pins a tree (a parent version) whose content the writer reuses.
func (w *Writer) PinRoot(tree ID) {
	if tree.IsZero() {
		return
	}
	p := &w.r.pins
	p.mu.Lock()
	p.add(&p.roots, tree)
	p.mu.Unlock()
	w.mu.Lock()
	w.roots = append(w.roots, tree)
	w.mu.Unlock()
}

func (w *Writer) pin(id ID) {
	p := &w.r.pins
	p.mu.Lock()
	p.add(&p.counts, id)
	p.mu.Unlock()
	w.mu.Lock()
	w.ids = append(w.ids, id)
	w.mu.Unlock()
}

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
	w.release()
}

// release drops the writer's pins; called with p.mu held.
func (w *Writer) release() {
	p := &w.r.pins
	for _, id := range w.ids {
		if p.counts[id]--; p.counts[id] <= 0 {
			delete(p.counts, id)
		}
	}
	for _, id := range w.roots {
		if p.roots[id]--; p.roots[id] <= 0 {
			delete(p.roots, id)
		}
	}
	w.ids, w.roots = nil, nil
}

// BeginCollection marks a collection as running: writers that end keep
// their pins until EndCollection.
func (r *Repository) BeginCollection() {
	p := &r.pins
	p.mu.Lock()
	p.gcs++
	p.mu.Unlock()
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
		w.release()
	}
	p.deferred = nil
}

// Pinned reports whether a blob is pinned by a store in progress.
func (r *Repository) Pinned(id ID) bool {
	p := &r.pins
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[id] > 0
}

// PinnedRoots returns the root trees pinned by stores in progress.
func (r *Repository) PinnedRoots() []ID {
	p := &r.pins
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ID, 0, len(p.roots))
	for id := range p.roots {
		out = append(out, id)
	}
	return out
}

// SweepLock excludes blob lookups (and so new pins) while a collector
// checks pins and removes index entries. Hold it briefly.
func (r *Repository) SweepLock() sync.Locker { return &r.sweep }
