package object

import (
	"cmp"
	"context"
	"io"
	"slices"
	"sync"
)

// Prefetch limits: a prefetched range reads through at most prefetchGap
// bytes between two wanted blobs and holds at most prefetchRange bytes
// (more wanted bytes make more ranges, fetched at once); at most
// prefetchGets ranges are read at the same time.
const (
	prefetchGap   = 256 << 10
	prefetchRange = 4 << 20
	prefetchGets  = 4
)

// Prefetch holds the stored bytes of blobs read ahead from a remote
// backend (Repository.Prefetch) until Release. While it is held, a read
// of those bytes (LoadBlob, LoadRun) waits for its range and uses it
// instead of asking the backend.
type Prefetch struct {
	r      *Repository
	ranges []*pfRange // its own and those it shares with other Prefetches
	ids    []ID       // the blobs whose locations it holds
	size   int64
	once   sync.Once
}

// pfRange is a span of a pack being read (done closed when data or err is
// set), held by the Prefetches that use it (refs, under prefetched.mu).
type pfRange struct {
	pack   ID
	off    int64
	n      int64
	data   []byte
	err    error
	done   chan struct{}
	refs   int
	cancel context.CancelFunc
}

// prefetched are the ranges of the Prefetches not yet released, by pack,
// each list sorted by offset.
type prefetched struct {
	mu     sync.Mutex
	byPack map[ID][]*pfRange
	// the locations of the blobs prefetched, found in one index
	// transaction for all: their loads need not ask the index again
	locs map[ID]*pfLoc
	gets chan struct{} // a slot per read in flight
}

type pfLoc struct {
	loc  Location
	refs int
}

// lookup finds a blob's location among those of the Prefetches held, or
// in the index.
func (r *Repository) lookup(id ID) (Location, bool, error) {
	if r.remote {
		r.pf.mu.Lock()
		l, ok := r.pf.locs[id]
		r.pf.mu.Unlock()
		if ok {
			return l.loc, true, nil
		}
	}
	return r.idx.Lookup(id)
}

// covering returns the range of l (sorted by offset) that holds the n
// bytes at off and has not failed, or nil: a range that failed to read is
// neither shared with a later Prefetch nor waited for by a load.
func covering(l []*pfRange, off, n int64) *pfRange {
	for _, g := range l {
		if g.off > off {
			break
		}
		if g.off+g.n >= off+n && !g.failed() {
			return g
		}
	}
	return nil
}

// failed reports whether the range's read is over and failed.
func (g *pfRange) failed() bool {
	select {
	case <-g.done:
		return g.err != nil
	default:
		return false
	}
}

// ReadsAhead reports whether Prefetch reads anything: the backend has no
// random access (S3, Azure), where one request for many neighbouring
// blobs costs about as much as one for a single blob.
func (r *Repository) ReadsAhead() bool { return r.remote }

// Prefetch starts reading the stored bytes of the data blobs ids, which a
// caller is about to load, from a backend without random access: it sorts
// them by pack and offset and reads neighbours (at most prefetchGap apart)
// with one ranged request each, several at once, in the background. The
// bytes stay in memory (Size) until Release; a load that finds them waits
// for its range instead of reading on its own. A range that fails to read
// is not used (the load reads as it would have, and reports the error).
// Ids not indexed are left out (their load reports them). On a backend
// with random access Prefetch does nothing. A range is read under the ctx
// of the Prefetch that started it, also for later Prefetches that share
// it: when that ctx ends, their loads read on their own.
func (r *Repository) Prefetch(ctx context.Context, ids []ID) (*Prefetch, error) {
	p := &Prefetch{r: r}
	if !r.remote || len(ids) == 0 {
		return p, nil
	}
	locs, found, err := r.Locate(ids)
	if err != nil {
		return nil, err
	}
	want := make([]Location, 0, len(locs))
	for i, l := range locs {
		if found[i] {
			want = append(want, l)
		}
	}
	pf := &r.pf
	pf.mu.Lock()
	defer pf.mu.Unlock()
	for _, l := range want {
		e := pf.locs[l.ID]
		if e == nil {
			e = &pfLoc{loc: l}
			pf.locs[l.ID] = e
		}
		e.refs++
		p.ids = append(p.ids, l.ID)
	}
	slices.SortFunc(want, func(a, b Location) int {
		if c := cmp.Compare(string(a.Pack[:]), string(b.Pack[:])); c != 0 {
			return c
		}
		return cmp.Compare(a.Offset, b.Offset)
	})
	// a blob that a range of another Prefetch holds is shared, not read
	// again (neighbouring batches read through each other's gaps)
	shared := map[*pfRange]bool{}
	kept := want[:0]
	for _, l := range want {
		if g := covering(pf.byPack[l.Pack], int64(l.Offset), int64(l.Length)); g != nil {
			if !shared[g] {
				shared[g] = true
				g.refs++
				p.ranges = append(p.ranges, g)
			}
			continue
		}
		kept = append(kept, l)
	}
	want = kept
	var fresh []*pfRange
	for i := 0; i < len(want); {
		start, end := int64(want[i].Offset), int64(want[i].Offset)+int64(want[i].Length)
		j := i + 1
		for ; j < len(want) && want[j].Pack == want[i].Pack; j++ {
			o, e := int64(want[j].Offset), int64(want[j].Offset)+int64(want[j].Length)
			if o-end > prefetchGap || max(e, end)-start > prefetchRange {
				break
			}
			end = max(end, e)
		}
		g := &pfRange{pack: want[i].Pack, off: start, n: end - start, done: make(chan struct{}), refs: 1}
		fresh = append(fresh, g)
		p.size += end - start
		i = j
	}
	for _, g := range fresh {
		l := pf.byPack[g.pack]
		k, _ := slices.BinarySearchFunc(l, g.off, func(x *pfRange, off int64) int { return cmp.Compare(x.off, off) })
		pf.byPack[g.pack] = slices.Insert(l, k, g)
		var gctx context.Context
		gctx, g.cancel = context.WithCancel(ctx)
		go r.fetchRange(gctx, g)
	}
	p.ranges = append(p.ranges, fresh...)
	return p, nil
}

// fetchRange reads g, waiting for a free slot.
func (r *Repository) fetchRange(ctx context.Context, g *pfRange) {
	defer close(g.done)
	select {
	case r.pf.gets <- struct{}{}:
	case <-ctx.Done():
		g.err = ctx.Err()
		return
	}
	defer func() { <-r.pf.gets }()
	rc, err := r.be.Get(ctx, PackName(g.pack), g.off, g.n)
	if err != nil {
		g.err = err
		return
	}
	defer rc.Close()
	data := make([]byte, g.n)
	if _, err := io.ReadFull(rc, data); err != nil {
		g.err = err
		return
	}
	g.data = data
}

// Size is the number of bytes the Prefetch reads (not those it shares
// with other Prefetches).
func (p *Prefetch) Size() int64 {
	if p == nil {
		return 0
	}
	return p.size
}

// Release drops the Prefetch's hold on its ranges; a range no other
// Prefetch holds is dropped, its read stopped if still under way (Release
// returns when it has). Loads after it read as before. It may be called
// more than once, and on nil.
func (p *Prefetch) Release() {
	if p == nil || len(p.ranges) == 0 && len(p.ids) == 0 {
		return
	}
	p.once.Do(func() {
		pf := &p.r.pf
		var gone []*pfRange
		pf.mu.Lock()
		for _, id := range p.ids {
			if e := pf.locs[id]; e != nil {
				if e.refs--; e.refs <= 0 {
					delete(pf.locs, id)
				}
			}
		}
		for _, g := range p.ranges {
			if g.refs--; g.refs > 0 {
				continue
			}
			gone = append(gone, g)
			l := pf.byPack[g.pack]
			if k := slices.Index(l, g); k >= 0 {
				l = slices.Delete(l, k, k+1)
			}
			if len(l) == 0 {
				delete(pf.byPack, g.pack)
			} else {
				pf.byPack[g.pack] = l
			}
		}
		pf.mu.Unlock()
		// a load that found a range before the release may still copy
		// from it: the bytes go when it is done
		for _, g := range gone {
			g.cancel()
			<-g.done
		}
	})
}

// readPrefetched fills buf from pack at off out of prefetched ranges; ok
// is false when they do not cover it, or one of them failed to read.
func (r *Repository) readPrefetched(ctx context.Context, pack ID, buf []byte, off int64) (ok bool, err error) {
	if !r.remote {
		return false, nil
	}
	end := off + int64(len(buf))
	var use []*pfRange
	pf := &r.pf
	pf.mu.Lock()
	l := pf.byPack[pack]
	for at := off; at < end; {
		// the range that covers at and reaches furthest
		var best *pfRange
		for _, g := range l {
			if g.off > at {
				break
			}
			if g.off+g.n > at && (best == nil || g.off+g.n > best.off+best.n) {
				best = g
			}
		}
		if best == nil {
			pf.mu.Unlock()
			return false, nil
		}
		use = append(use, best)
		at = best.off + best.n
	}
	pf.mu.Unlock()
	at := off
	for _, g := range use {
		select {
		case <-g.done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if g.err != nil {
			return false, nil
		}
		n := copy(buf[at-off:], g.data[at-g.off:])
		at += int64(n)
	}
	return true, nil
}

// prefetchedView returns the n bytes of pack at off when one prefetched
// range holds them all (waiting for it to be read), without copying them;
// ok is false otherwise, or when the range failed to read. The bytes are
// read-only and stay valid after the Prefetch is released.
func (r *Repository) prefetchedView(ctx context.Context, pack ID, off, n int64) (b []byte, ok bool) {
	if !r.remote {
		return nil, false
	}
	r.pf.mu.Lock()
	hit := covering(r.pf.byPack[pack], off, n)
	r.pf.mu.Unlock()
	if hit == nil {
		return nil, false
	}
	select {
	case <-hit.done:
	case <-ctx.Done():
		return nil, false
	}
	if hit.err != nil {
		return nil, false
	}
	return hit.data[off-hit.off : off-hit.off+n : off-hit.off+n], true
}

// forgetPrefetched drops the prefetched ranges of a pack (deleted or found
// damaged) from the lookups; their Prefetches still release them.
func (r *Repository) forgetPrefetched(pack ID) {
	r.pf.mu.Lock()
	delete(r.pf.byPack, pack)
	for id, e := range r.pf.locs {
		if e.loc.Pack == pack {
			delete(r.pf.locs, id)
		}
	}
	r.pf.mu.Unlock()
}
