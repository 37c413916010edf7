package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// tuneGC sets the collector's GOGC after every collection so that the
// next one comes when the heap has grown by percent of the live heap, or
// reaches floor, whichever is later.
//
// silo's large live heaps (a first store's buffers) want a low percent,
// which keeps peak memory near the live set; its small ones (the
// directory walk of a re-store, a listing) would then collect every
// megabyte or so, spending a fifth of their CPU on it for no memory worth
// saving. The memory limit main sets still bounds the heap either way.
//
// The returned stop ends the tuning (tests) and leaves GOGC as it was
// last set.
func tuneGC(percent int, floor uint64) (stop func()) {
	t := &gcTuner{percent: percent, floor: floor, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	debug.SetGCPercent(t.next())
	t.arm()
	return func() { t.stopped.Store(true) }
}

type gcTuner struct {
	percent int
	floor   uint64
	sample  []metrics.Sample
	stopped atomic.Bool
}

// sentinel is garbage whose finalizer runs after each collection.
type sentinel struct{ t *gcTuner }

func (t *gcTuner) arm() {
	runtime.SetFinalizer(&sentinel{t}, func(s *sentinel) {
		if s.t.stopped.Load() {
			return
		}
		debug.SetGCPercent(s.t.next())
		s.t.arm()
	})
}

// next is the GOGC that puts the next collection at the later of percent
// over the live heap and floor.
func (t *gcTuner) next() int {
	metrics.Read(t.sample)
	live := uint64(0)
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	return t.gogc(live)
}

// gogc is the GOGC for a live heap of live bytes (0: not known yet).
func (t *gcTuner) gogc(live uint64) int {
	if live == 0 || live*uint64(100+t.percent)/100 >= t.floor {
		return t.percent
	}
	return int(t.floor*100/live) - 100
}
