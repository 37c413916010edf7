package object

import (
	"container/list"
	"context"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/singleflight"
)

// PackSizer is an optional Index ability: a pack's size, so reads ahead
// stop at its end.
type PackSizer interface {
	PackSize(id ID) (int64, bool, error)
}

// readAhead serves reads of a remote backend's data packs from windows
// of the pack (aligned to the window size) it fetched whole, and keeps the
// last few in memory: a restore reads the chunks of neighbouring files,
// stored side by side, with one ranged GET per window instead of one per
// chunk. A read that a window cannot serve (larger than a window, or
// across a window's edge) goes to the backend as it is.
type readAhead struct {
	be     Backend
	sizes  PackSizer
	window int64
	max    int64 // bytes of windows kept

	mu    sync.Mutex
	used  int64
	lru   *list.List // of *raWindow, most recent first
	byKey map[raKey]*list.Element
	group singleflight.Group
}

type raKey struct {
	pack ID
	n    int64 // window number: offset / window
}

type raWindow struct {
	key  raKey
	data []byte
}

func newReadAhead(be Backend, sizes PackSizer, window, max int64) *readAhead {
	return &readAhead{be: be, sizes: sizes, window: window, max: max, lru: list.New(), byKey: map[raKey]*list.Element{}}
}

// read fills buf from pack at off through a window; ok is false when no
// window can serve it (the caller reads directly).
func (ra *readAhead) read(ctx context.Context, pack ID, buf []byte, off int64) (ok bool, err error) {
	n := off / ra.window
	if int64(len(buf)) > ra.window || (off+int64(len(buf))-1)/ra.window != n {
		return false, nil
	}
	key := raKey{pack, n}
	ra.mu.Lock()
	if e, hit := ra.byKey[key]; hit {
		ra.lru.MoveToFront(e)
		w := e.Value.(*raWindow)
		ra.mu.Unlock()
		return copyFrom(w, buf, off-n*ra.window)
	}
	ra.mu.Unlock()
	v, err, _ := ra.group.Do(fmt.Sprintf("%s/%d", pack, n), func() (any, error) { return ra.fetch(ctx, key) })
	if err != nil {
		return false, err
	}
	return copyFrom(v.(*raWindow), buf, off-n*ra.window)
}

func copyFrom(w *raWindow, buf []byte, at int64) (bool, error) {
	if at+int64(len(buf)) > int64(len(w.data)) {
		return false, fmt.Errorf("pack read past its end (%d bytes from %d in a window of %d): %w", len(buf), at, len(w.data), io.ErrUnexpectedEOF)
	}
	copy(buf, w.data[at:])
	return true, nil
}

// fetch downloads a window and keeps it, dropping the least recently used
// ones past the budget.
func (ra *readAhead) fetch(ctx context.Context, key raKey) (*raWindow, error) {
	start := key.n * ra.window
	size, ok, err := ra.sizes.PackSize(key.pack)
	if err != nil {
		return nil, err
	}
	length := ra.window
	if ok && start+length > size {
		length = size - start
	}
	if length <= 0 {
		return nil, fmt.Errorf("pack %s: read at %d past its end (%d bytes): %w", key.pack.Short(), start, size, io.ErrUnexpectedEOF)
	}
	rc, err := ra.be.Get(ctx, PackName(key.pack), start, length)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data := make([]byte, length)
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, err
	}
	w := &raWindow{key: key, data: data}
	ra.mu.Lock()
	defer ra.mu.Unlock()
	if e, dup := ra.byKey[key]; dup {
		return e.Value.(*raWindow), nil
	}
	ra.byKey[key] = ra.lru.PushFront(w)
	ra.used += int64(len(data))
	for ra.used > ra.max && ra.lru.Len() > 1 {
		old := ra.lru.Back()
		ow := old.Value.(*raWindow)
		ra.lru.Remove(old)
		delete(ra.byKey, ow.key)
		ra.used -= int64(len(ow.data))
	}
	return w, nil
}

// forget drops the windows of a pack (deleted or found damaged).
func (ra *readAhead) forget(pack ID) {
	ra.mu.Lock()
	defer ra.mu.Unlock()
	for e := ra.lru.Front(); e != nil; {
		next := e.Next()
		if w := e.Value.(*raWindow); w.key.pack == pack {
			ra.lru.Remove(e)
			delete(ra.byKey, w.key)
			ra.used -= int64(len(w.data))
		}
		e = next
	}
}
