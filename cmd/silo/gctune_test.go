package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestGCTuner: a small live heap may grow to the floor before the next
// collection, a large one by the percent alone; and after a collection
// the tuner has set GOGC from the live heap.
func TestGCTuner(t *testing.T) {
	tu := &gcTuner{percent: 30, floor: 64 << 20}
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 30},              // not known yet
		{16 << 20, 300},      // 16 MiB may grow to 64
		{32 << 20, 100},      // 32 to 64
		{50 << 20, 30},       // 50 * 1.3 passes 64 already
		{200 << 20, 30},      // a large heap: the percent
		{1 << 20, 6300},      // 1 MiB to 64
		{(64 << 20) - 1, 30}, // at the floor
		{(48 << 20) + 1, 33}, // 64/48 = 1.33
	} {
		if got := tu.gogc(c.live); got != c.want {
			t.Errorf("live %d: GOGC %d, want %d", c.live, got, c.want)
		}
	}
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	stop := tuneGC(30, 512<<20) // a floor this test's heap is far below
	defer stop()
	// what tuneGC set at once is put back: only a collection's finalizer
	// can raise it again
	debug.SetGCPercent(100)
	runtime.GC()
	runtime.GC() // the finalizer of the first collection's sentinel has run by the second's end
	for range 100 {
		if p := debug.SetGCPercent(-1); p > 1000 {
			debug.SetGCPercent(p)
			return
		} else {
			debug.SetGCPercent(p)
		}
		runtime.GC()
	}
	t.Fatal("GOGC not raised for a small heap after collections")
}
