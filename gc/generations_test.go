package gc

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// TestGenerations: a generation starts on demand and serves until it is
// TTL old; then a new one serves and the old one lives on until 2*TTL
// (what it reported must stay TTL); Close ends what is left, and nothing
// starts after it.
func TestGenerations(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var started, ended []int
	g := &Generations[int]{TTL: 10 * time.Minute, Now: func() time.Time { return now },
		Start: func(context.Context) (int, error) {
			started = append(started, len(started)+1)
			return len(started), nil
		},
		End: func(v int) { ended = append(ended, v) }}
	ctx := context.Background()
	cur := func() int {
		t.Helper()
		v, err := g.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := cur(); v != 1 {
		t.Fatalf("first generation %d", v)
	}
	now = now.Add(9 * time.Minute)
	if v := cur(); v != 1 || len(started) != 1 {
		t.Fatalf("within TTL: generation %d, %d started", v, len(started))
	}
	now = now.Add(time.Minute) // the first is TTL old
	if v := cur(); v != 2 || len(ended) != 0 {
		t.Fatalf("after TTL: generation %d, ended %v (the first must live on)", v, ended)
	}
	now = now.Add(9 * time.Minute)
	if v := cur(); v != 2 || len(ended) != 0 {
		t.Fatalf("generation %d, ended %v", v, ended)
	}
	now = now.Add(time.Minute) // the first is 2*TTL old, the second TTL
	if v := cur(); v != 3 || !slices.Equal(ended, []int{1}) {
		t.Fatalf("after 2*TTL: generation %d, ended %v; want 3 and [1]", v, ended)
	}
	// idle: the timer's rotations end the previous one, then the current
	// one TTL after it stopped being current (it may have reported a
	// blob just before)
	tick := func() {
		g.mu.Lock()
		g.rotate()
		g.mu.Unlock()
	}
	now = now.Add(25 * time.Minute)
	tick()
	if !slices.Equal(ended, []int{1, 2}) {
		t.Fatalf("after a long idle time: ended %v, want [1 2]", ended)
	}
	now = now.Add(9 * time.Minute)
	tick()
	if len(ended) != 2 {
		t.Fatalf("ended %v before the last one was TTL past current", ended)
	}
	now = now.Add(time.Minute)
	tick()
	if !slices.Equal(ended, []int{1, 2, 3}) {
		t.Fatalf("ended %v, want [1 2 3]", ended)
	}
	v := cur()
	g.Close()
	if !slices.Equal(ended, []int{1, 2, 3, v}) {
		t.Fatalf("close: ended %v", ended)
	}
	g.Close()
	if _, err := g.Current(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if len(ended) != 4 || len(started) != 4 {
		t.Fatalf("started %v, ended %v", started, ended)
	}
}
