package gc

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrClosed means Generations were closed.
var ErrClosed = errors.New("generations closed")

// Generations hand out the current generation of a long-lived service (the
// upload protocol's sessions): what one reports or stores must stay for at
// least TTL whatever collects garbage meanwhile, so a generation lives
// between TTL and twice TTL. The current one is started on demand; once it
// is TTL old it becomes the previous one, and the previous one ends. A
// timer ends them on time even when no request comes: a generation that
// lingers would hold collections back. Safe for concurrent use.
type Generations[T any] struct {
	TTL   time.Duration
	Now   func() time.Time // nil: time.Now
	Start func(ctx context.Context) (T, error)
	End   func(T)

	mu        sync.Mutex
	cur, prev *T
	rotated   time.Time
	timer     *time.Timer
	closed    bool
}

func (g *Generations[T]) now() time.Time {
	if g.Now == nil {
		return time.Now()
	}
	return g.Now()
}

// rotate ends generations past their time. Called with g.mu held.
func (g *Generations[T]) rotate() {
	now := g.now()
	if g.cur != nil && now.Sub(g.rotated) >= g.TTL {
		if g.prev != nil {
			g.End(*g.prev)
		}
		g.prev, g.cur = g.cur, nil
		g.rotated = now
	}
	if g.prev != nil && now.Sub(g.rotated) >= g.TTL {
		g.End(*g.prev)
		g.prev = nil
	}
}

// Current returns the current generation, starting one when there is none
// (ErrClosed after Close).
func (g *Generations[T]) Current(ctx context.Context) (T, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var zero T
	if g.closed {
		return zero, ErrClosed
	}
	g.rotate()
	if g.cur == nil {
		v, err := g.Start(ctx)
		if err != nil {
			return zero, err
		}
		g.cur, g.rotated = &v, g.now()
		if g.timer == nil {
			g.timer = time.AfterFunc(time.Minute, g.tick)
		}
	}
	return *g.cur, nil
}

func (g *Generations[T]) tick() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.rotate()
	if g.cur == nil && g.prev == nil {
		g.timer = nil
		return
	}
	g.timer.Reset(time.Minute)
}

// Close ends the generations.
func (g *Generations[T]) Close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.closed = true
	if g.timer != nil {
		g.timer.Stop()
	}
	for _, v := range []*T{g.prev, g.cur} {
		if v != nil {
			g.End(*v)
		}
	}
}
