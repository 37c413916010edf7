package index

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// How processes share index.db.
//
// bbolt allows one process at a time to open a file for writing, and a
// reader in another process is unsafe beside a writer (the writer reuses
// pages the reader may still map), so bbolt locks the whole file: shared
// for readers, exclusive for a writer. Holding it for a whole operation
// would lock every other silo process out for that long. Instead a DB
// opens the file for each transaction, or for a short slice of reads:
//
//   - a read transaction shares a read handle that stays open for at most
//     Options.Slice (50 ms) and is then closed by the next reader or a
//     timer; its mapped pages leave the resident set with it;
//   - a write transaction waits for this process's readers to finish,
//     takes the gate exclusively, waits for other processes' read slices
//     to end, opens the file for writing, commits and closes it again.
//
// The gate (index.db.lock) makes this fair: a reader takes it shared only
// while it opens its handle, so once a writer holds it no new read slice
// starts and the writer waits at most one slice; a reader waits at most
// one commit. Different processes therefore wait for each other only for
// the length of a transaction, never for a whole operation.

// handle is one open bbolt file.
type handle struct {
	db      *bolt.DB
	file    *os.File // bbolt's file, to release the lock if Open fails midway
	rw      bool
	gate    *os.File // held exclusively while a write handle is open
	users   int
	dead    bool // retired: close when the last user leaves
	closing bool
	timer   *time.Timer
}

// acquire returns a handle for a transaction: the shared read handle, or
// with write a fresh write handle (the caller holds d.wmu).
func (d *DB) acquire(write bool) (*handle, error) {
	d.mu.Lock()
	if write {
		d.writing = true
		if d.cur != nil {
			d.retireIdle(d.cur)
		}
		// this process's own read handles hold the file shared: wait
		// for them to close, or the exclusive lock below never comes
		for d.open > 0 {
			d.cond.Wait()
		}
		d.mu.Unlock()
		h, err := d.openWrite()
		d.mu.Lock()
		d.writing = false
		if err != nil {
			d.cond.Broadcast()
			d.mu.Unlock()
			return nil, err
		}
		d.open++
		h.users = 1
		d.cur = h
		d.cond.Broadcast()
		d.mu.Unlock()
		return h, nil
	}
	for {
		if d.closed {
			d.mu.Unlock()
			return nil, ErrClosed
		}
		if h := d.cur; h != nil && !h.dead {
			h.users++
			d.mu.Unlock()
			return h, nil
		}
		if d.writing || d.opening {
			d.cond.Wait()
			continue
		}
		d.opening = true
		d.mu.Unlock()
		h, err := d.openRead()
		d.mu.Lock()
		d.opening = false
		d.cond.Broadcast()
		if err != nil {
			d.mu.Unlock()
			return nil, err
		}
		d.open++
		h.users = 1
		d.cur = h
		h.timer = time.AfterFunc(d.opts.Slice, func() {
			d.mu.Lock()
			d.retireIdle(h)
			d.mu.Unlock()
		})
		d.mu.Unlock()
		return h, nil
	}
}

// release ends a transaction's use of h; a write handle is retired at
// once, so other processes can read.
func (d *DB) release(h *handle) {
	d.mu.Lock()
	h.users--
	if h.rw {
		d.retire(h)
	}
	closeNow := d.idle(h)
	d.mu.Unlock()
	if closeNow {
		d.closeHandle(h)
	}
}

// retire stops h from taking new transactions; it closes when idle.
// Called with d.mu held.
func (d *DB) retire(h *handle) {
	if h.dead {
		return
	}
	h.dead = true
	if d.cur == h {
		d.cur = nil
	}
	if h.timer != nil {
		h.timer.Stop()
	}
}

// idle reports (once) that a retired handle has no users left and the
// caller is to close it. Called with d.mu held.
func (d *DB) idle(h *handle) bool {
	if !h.dead || h.users > 0 || h.closing {
		return false
	}
	h.closing = true
	return true
}

// retireIdle retires h and closes it in the background when it is idle.
// Called with d.mu held.
func (d *DB) retireIdle(h *handle) {
	d.retire(h)
	if d.idle(h) {
		go d.closeHandle(h)
	}
}

func (d *DB) closeHandle(h *handle) {
	h.db.Close()
	if h.gate != nil {
		unlock(h.gate)
		h.gate.Close()
	}
	d.mu.Lock()
	d.open--
	d.cond.Broadcast()
	d.mu.Unlock()
}

// gateFile opens index.db.lock (creating it when it can).
func (d *DB) gateFile() (*os.File, error) {
	f, err := os.OpenFile(d.path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil && d.opts.ReadOnly {
		f, err = os.Open(d.path + ".lock")
	}
	return f, err
}

func (d *DB) busy(what string) error {
	return fmt.Errorf("%w: %s waited %v for other silo processes' transactions on %s", ErrBusy, what, d.opts.Timeout, d.path)
}

// openRead opens a read handle: the gate shared while bbolt locks the file
// shared (so no writer is between the two), then the gate is let go.
func (d *DB) openRead() (*handle, error) {
	deadline := time.Now().Add(d.opts.Timeout)
	gate, err := d.gateFile()
	if err != nil && !d.opts.ReadOnly {
		return nil, fmt.Errorf("open %s.lock: %w", d.path, err)
	}
	if gate != nil {
		defer gate.Close()
		ok, err := lockWait(gate, false, deadline)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, d.busy("a read")
		}
		defer unlock(gate)
	}
	return d.openBolt(false, time.Until(deadline))
}

// openWrite opens a write handle: the gate exclusively, then every other
// process's read slice drained, then bbolt for writing. The gate stays
// held until the handle closes.
func (d *DB) openWrite() (*handle, error) {
	if d.opts.ReadOnly {
		return nil, ErrReadOnly
	}
	deadline := time.Now().Add(d.opts.Timeout)
	gate, err := d.gateFile()
	if err != nil {
		return nil, fmt.Errorf("open %s.lock: %w", d.path, err)
	}
	ok, err := lockWait(gate, true, deadline)
	if err == nil && !ok {
		err = d.busy("a commit")
	}
	if err != nil {
		gate.Close()
		return nil, err
	}
	// readers that opened before the gate was taken still hold the file
	// shared; wait for them here at a finer grain than bbolt's own 50 ms
	// retries, then let bbolt lock it (no reader can come between)
	if f, err := os.Open(d.path); err == nil {
		ok, err := lockWait(f, true, deadline)
		if ok {
			unlock(f)
		}
		f.Close()
		if err == nil && !ok {
			err = d.busy("a commit")
		}
		if err != nil {
			unlock(gate)
			gate.Close()
			return nil, err
		}
	}
	h, err := d.openBolt(true, time.Until(deadline))
	if err != nil {
		unlock(gate)
		gate.Close()
		return nil, err
	}
	h.gate = gate
	return h, nil
}

// openBolt validates the file and opens it with bbolt, turning a fault or
// panic on damaged content into ErrDamaged.
func (d *DB) openBolt(rw bool, wait time.Duration) (h *handle, err error) {
	if err := validate(d.path); err != nil {
		return nil, err
	}
	h = &handle{rw: rw}
	defer guard(d.path, &err, func() {
		if h.file != nil {
			h.file.Close()
		}
	})
	db, err := bolt.Open(d.path, 0o644, &bolt.Options{
		Timeout:      max(wait, time.Millisecond),
		ReadOnly:     !rw,
		FreelistType: bolt.FreelistMapType,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			h.file = f
			return f, err
		},
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, d.busy("an open")
	}
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", d.path, err)
	}
	h.db = db
	return h, nil
}

// guard recovers a panic of bbolt on damaged content (including a fault on
// the mapped file, which SetPanicOnFault turns into a panic) as an error
// wrapping ErrDamaged, after running cleanup. A panic raised by the
// caller's own function (see userPanic) goes on unchanged.
func guard(path string, errp *error, cleanup func()) {
	p := recover()
	if p == nil {
		return
	}
	if up, ok := p.(userPanic); ok {
		_, dp := up.v.(damagedPanic)
		if !dp && !isFault(up.v) {
			panic(up.v)
		}
		p = up.v
	}
	if cleanup != nil {
		cleanup()
	}
	*errp = fmt.Errorf("%w: %s: %v; run `silo index rebuild` to rebuild it from the packs", ErrDamaged, path, p)
}

// damagedPanic is raised by Tx methods that meet a file bbolt opened but
// that lacks what every index has (a bucket).
type damagedPanic string

// userPanic marks a panic that came from the function a transaction ran.
type userPanic struct{ v any }

func isFault(v any) bool {
	re, ok := v.(runtime.Error)
	return ok && strings.Contains(re.Error(), "fault")
}

// panicOnFault makes a fault on the mapped file a recoverable panic in the
// calling goroutine until the returned function is called.
func panicOnFault() func() {
	old := debug.SetPanicOnFault(true)
	return func() { debug.SetPanicOnFault(old) }
}
