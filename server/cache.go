package server

import (
	"sync"
	"sync/atomic"
	"time"
)

// Whole-repository reads (GET /stats, the project list behind GET
// /projects) cost time proportional to the repository: with 10,000 projects
// a listing decodes 10,000 records. The server holds the repository alone,
// so it knows when the catalogue may have changed: every request that
// writes and every job end bumps a generation. A cached read is reused
// while the generation is unchanged and it is younger than cacheMaxAge (a
// bound on staleness while a long job changes things, and for free disk
// space); readers that arrive while it is being computed wait for that
// computation instead of starting their own.

const cacheMaxAge = 2 * time.Second

// generation counts catalogue changes.
type generation struct{ n atomic.Uint64 }

func (g *generation) bump()       { g.n.Add(1) }
func (g *generation) now() uint64 { return g.n.Load() }

// memo caches one computed value per generation.
type memo[T any] struct {
	gen  *generation
	now  func() time.Time
	mu   sync.Mutex
	have bool
	at   time.Time
	of   uint64
	val  T
	run  *memoCall[T]
}

type memoCall[T any] struct {
	done chan struct{}
	of   uint64
	val  T
	err  error
}

// get returns the cached value, or computes it (once for all concurrent
// callers of the same generation).
func (m *memo[T]) get(compute func() (T, error)) (T, error) {
	g := m.gen.now()
	m.mu.Lock()
	if m.have && m.of == g && m.now().Sub(m.at) < cacheMaxAge {
		v := m.val
		m.mu.Unlock()
		return v, nil
	}
	if c := m.run; c != nil && c.of == g {
		m.mu.Unlock()
		<-c.done
		return c.val, c.err
	}
	c := &memoCall[T]{done: make(chan struct{}), of: g}
	m.run = c
	start := m.now()
	m.mu.Unlock()
	c.val, c.err = compute()
	m.mu.Lock()
	if m.run == c {
		m.run = nil
	}
	// keep it under the generation read before computing: a change that
	// landed meanwhile has bumped past it
	if c.err == nil && (!m.have || m.of <= g) {
		m.have, m.of, m.at, m.val = true, g, start, c.val
	}
	m.mu.Unlock()
	close(c.done)
	return c.val, c.err
}
