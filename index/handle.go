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
// bbolt lets one process at a time open a file for writing, and a reader
// is unsafe while a writer commits (the writer reuses pages a reader may
// still be reading), so bbolt locks the whole file for as long as a handle
// is open: shared for readers, exclusive for a writer. Held for a whole
// operation, that would keep every other silo process out for that long,
// and a process stopped with SIGSTOP or Ctrl-Z would keep them out until
// it continues. A DB therefore locks per transaction, on a file of its
// own (index.db.lock, the gate):
//
//   - a read transaction holds the gate shared. A read handle (bbolt's
//     mapping of the file) is opened once and kept for Options.Slice, but
//     bbolt's own lock on it is let go at once, so between transactions
//     the process holds nothing. A handle is used only while the file is
//     the one it mapped, at the length it mapped (a commit elsewhere that
//     grew or replaced it makes the next transaction open a new one).
//   - a write transaction takes the gate exclusively, opens the file for
//     writing, commits and closes it.
//
// Readers of one process share the gate lock; so that they cannot keep a
// writer out by overlapping without pause, they give it up after at most
// Options.Slice and take it again through a second lock (index.db.wait),
// which a writer holds exclusively while it waits for the gate: once a
// writer waits, no reader starts anew. So readers wait at most for one
// commit, writers for one commit or one slice of reads, and a stopped
// process keeps others out only if it was stopped inside a transaction.

// handle is an open bbolt file.
type handle struct {
	db    *bolt.DB
	file  *os.File // bbolt's file
	ino   uint64   // identity and size of the file when mapped
	size  int64
	users int
	dead  bool // retired: close when the last user leaves
	timer *time.Timer
}

// readTx runs fn in a read transaction under the shared gate lock.
func (d *DB) readTx(fn func(*bolt.DB) error) error {
	if err := d.enterShared(); err != nil {
		return err
	}
	defer d.leaveShared()
	h, err := d.readHandle()
	if err != nil {
		return err
	}
	defer d.release(h)
	return fn(h.db)
}

// writeTx runs fn on a write handle under the exclusive gate lock.
func (d *DB) writeTx(fn func(*bolt.DB) error) error {
	return d.exclusive(func(deadline time.Time) error {
		h, err := d.openBolt(true, time.Until(deadline))
		if err != nil {
			return err
		}
		defer h.db.Close()
		return fn(h.db)
	})
}

// exclusive runs fn holding the gate exclusively: no transaction of any
// process runs meanwhile.
func (d *DB) exclusive(fn func(deadline time.Time) error) error {
	if d.opts.ReadOnly {
		return ErrReadOnly
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	d.mu.Lock()
	d.writing = true
	for d.shared > 0 || d.taking {
		d.cond.Wait() // this process's own readers first
	}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.writing = false
		d.cond.Broadcast()
		d.mu.Unlock()
	}()
	deadline := time.Now().Add(d.opts.Timeout)
	ok, err := lockWait(d.wait, true, deadline)
	if err == nil && !ok {
		err = d.busy("a commit")
	}
	if err != nil {
		return err
	}
	defer unlock(d.wait)
	ok, err = lockWait(d.gate, true, deadline)
	if err == nil && !ok {
		err = d.busy("a commit")
	}
	if err != nil {
		return err
	}
	defer unlock(d.gate)
	return fn(deadline)
}

// enterShared takes the gate shared for one read transaction (shared with
// this process's other readers).
func (d *DB) enterShared() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		switch {
		case d.closed:
			return ErrClosed
		case d.writing || d.cycling || d.taking:
			d.cond.Wait()
		case d.shared > 0 && time.Since(d.held) > d.opts.Slice:
			// held for a slice already: let it go when the running
			// transactions end, so a waiting writer gets its turn
			d.cycling = true
		case d.shared > 0:
			d.shared++
			return nil
		default:
			d.taking = true
			d.mu.Unlock()
			err := d.lockShared()
			d.mu.Lock()
			d.taking = false
			d.cond.Broadcast()
			if err != nil {
				return err
			}
			d.shared, d.held = 1, time.Now()
			return nil
		}
	}
}

// lockShared takes the gate shared, unless a writer waits for it.
func (d *DB) lockShared() error {
	deadline := time.Now().Add(d.opts.Timeout)
	if d.wait != nil {
		ok, err := lockWait(d.wait, false, deadline)
		if err == nil && !ok {
			err = d.busy("a read")
		}
		if err != nil {
			return err
		}
		defer unlock(d.wait)
	}
	if d.gate == nil {
		return nil // a read-only filesystem without a gate: nobody writes
	}
	ok, err := lockWait(d.gate, false, deadline)
	if err == nil && !ok {
		err = d.busy("a read")
	}
	return err
}

func (d *DB) leaveShared() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.shared--
	if d.shared == 0 {
		if d.gate != nil {
			unlock(d.gate)
		}
		d.cycling = false
		d.cond.Broadcast()
	}
}

// readHandle returns the read handle, opening one when there is none or
// the file changed since it was mapped. The caller holds the gate shared.
func (d *DB) readHandle() (*handle, error) {
	st, err := os.Stat(d.path)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", d.path, err)
	}
	ino, size := fileID(st), st.Size()
	d.mu.Lock()
	for {
		if h := d.cur; h != nil && !h.dead && h.ino == ino && h.size == size {
			h.users++
			d.mu.Unlock()
			return h, nil
		}
		if d.cur != nil {
			d.retireIdle(d.cur)
		}
		if !d.opening {
			break
		}
		d.cond.Wait()
	}
	d.opening = true
	d.mu.Unlock()
	h, err := d.openBolt(false, d.opts.Timeout)
	if err == nil {
		// bbolt locked the file shared for as long as the handle stays
		// open; the gate does that job, per transaction
		err = unlock(h.file)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.opening = false
	d.cond.Broadcast()
	if err != nil {
		if h != nil {
			h.db.Close()
		}
		return nil, err
	}
	h.ino, h.size, h.users = ino, size, 1
	d.open++
	d.cur = h
	h.timer = time.AfterFunc(d.opts.Slice, func() {
		d.mu.Lock()
		d.retireIdle(h)
		d.mu.Unlock()
	})
	return h, nil
}

// release ends a transaction's use of h.
func (d *DB) release(h *handle) {
	d.mu.Lock()
	h.users--
	closeNow := h.dead && h.users == 0
	if closeNow {
		h.dead = false // closing: not again
		h.users = -1
	}
	d.mu.Unlock()
	if closeNow {
		d.closeHandle(h)
	}
}

// retireIdle stops h from taking new transactions and closes it (in the
// background) when idle. Called with d.mu held. Closing the handle drops
// its mapped pages from the resident set, which therefore stays bounded
// by what one slice of reads touches.
func (d *DB) retireIdle(h *handle) {
	if h.dead || h.users < 0 {
		return
	}
	h.dead = true
	if d.cur == h {
		d.cur = nil
	}
	if h.timer != nil {
		h.timer.Stop()
	}
	if h.users == 0 {
		h.users = -1
		go d.closeHandle(h)
	}
}

func (d *DB) closeHandle(h *handle) {
	h.db.Close()
	d.mu.Lock()
	d.open--
	d.cond.Broadcast()
	d.mu.Unlock()
}

func (d *DB) busy(what string) error {
	return fmt.Errorf("%w: %s waited %v for another silo process's transaction on %s (a process stopped in the middle of one holds it until it continues)",
		ErrBusy, what, d.opts.Timeout, d.path)
}

// openBolt validates the file and opens it with bbolt, turning a fault or
// panic on damaged content into ErrDamaged.
func (d *DB) openBolt(rw bool, wait time.Duration) (h *handle, err error) {
	if err := validate(d.path); err != nil {
		return nil, err
	}
	h = &handle{}
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
