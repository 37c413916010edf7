package snapshot

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silo-dev/silo/object"
)

// prefetcher is a repository that can read the chunks of files ahead of
// the workers that write them (object.Repository.Prefetch): on a remote
// backend a restore reads the neighbouring chunks of many small files
// with one request, several packs at once, while the files before them
// are written.
type prefetcher interface {
	ReadsAhead() bool
	Prefetch(ctx context.Context, ids []object.ID) (*object.Prefetch, error)
}

// A restore on a remote backend hands files to the workers in batches of
// at most batchFiles files and batchBytes bytes, each batch's chunks read
// ahead as one Prefetch; a file larger than batchBytes goes alone, and its
// worker reads it ahead in pieces of pieceBytes (loadAhead). Batches read
// ahead and not yet written are budgeted at aheadBytes of their chunks'
// plain size (one batch more when a single batch is larger). The budget
// is an estimate, not a bound: the stored gaps a range reads between
// wanted chunks (up to 256 KiB each), and ranges a later batch shares,
// are not counted, so a batch of small files scattered through packs can
// hold several times its estimate.
const (
	batchFiles = 256
	batchBytes = 8 << 20
	aheadBytes = 32 << 20
	// walkerQueue is the walker's queue when batches follow it (a batch
	// and the workers' queue hold the rest of the files waiting, and of
	// the directories they keep open)
	walkerQueue = 64
	// piecesAhead: pieces of a large file read ahead of the one written
	piecesAhead = 1
	pieceBytes  = 4 << 20
)

// rbatch is a batch of files whose chunks are read ahead together; the
// last of its files written releases them.
type rbatch struct {
	left atomic.Int64
	pre  *object.Prefetch
	bud  *aheadBudget
}

func (b *rbatch) fileDone() {
	if b == nil || b.left.Add(-1) != 0 {
		return
	}
	b.pre.Release()
	b.bud.give(b.pre.Size())
}

// aheadBudget counts the bytes read ahead and not yet released.
type aheadBudget struct {
	mu   sync.Mutex
	cond sync.Cond
	used int64
}

// take waits until n more bytes fit in max (or nothing is held) and counts
// them; it gives up at once when ctx is done.
func (a *aheadBudget) take(ctx context.Context, n, max int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.used > 0 && a.used+n > max && ctx.Err() == nil {
		a.cond.Wait()
	}
	a.used += n
}

func (a *aheadBudget) give(n int64) {
	a.mu.Lock()
	a.used -= n
	a.mu.Unlock()
	a.cond.Broadcast()
}

// readAhead passes the walker's jobs (in) on to the workers (out, closed at
// the end) in batches, each batch's chunks read ahead first. Every job is
// passed on, also after the restore failed: the workers account for it.
func (r *restorer) readAhead(pre prefetcher, in <-chan restoreJob, out chan<- restoreJob) {
	defer close(out)
	bud := &aheadBudget{}
	bud.cond.L = &bud.mu
	// cancel wakes the budget's waiter when the restore stops
	stop := context.AfterFunc(r.ctx, func() { bud.cond.Broadcast() })
	defer stop()
	var (
		batch  []restoreJob
		plain  int64
		closed bool
		timer  = time.NewTimer(time.Hour)
	)
	timer.Stop()
	send := func(jobs []restoreJob, b *rbatch) {
		for _, j := range jobs {
			j.batch = b
			out <- j
		}
	}
	flush := func() {
		if len(batch) == 0 {
			return
		}
		var ids []object.ID
		for i := range batch {
			ids = append(ids, batch[i].node.Content...)
		}
		var b *rbatch
		if r.ctx.Err() == nil && len(ids) > 0 {
			bud.take(r.ctx, plain, aheadBytes)
			p, err := pre.Prefetch(r.ctx, ids)
			if err != nil {
				// read as without read-ahead: the loads report it
				p = nil
			}
			// the estimate was the plain size; hold what was read
			bud.give(plain - p.Size())
			b = &rbatch{pre: p, bud: bud}
			b.left.Store(int64(len(batch)))
		}
		send(batch, b)
		batch, plain = batch[:0], 0
	}
	for !closed {
		// the next job: at once if one is waiting; else, with a batch
		// begun, only briefly when the workers have nothing to do
		var j restoreJob
		var ok bool
		select {
		case j, ok = <-in:
		default:
			if len(batch) > 0 && len(out) == 0 {
				flush()
				continue
			}
			if len(batch) > 0 {
				timer.Reset(time.Millisecond)
				select {
				case j, ok = <-in:
					timer.Stop()
				case <-timer.C:
					continue
				}
			} else {
				j, ok = <-in
			}
		}
		if !ok {
			closed = true
			break
		}
		size := int64(j.node.Size)
		if size > batchBytes {
			// alone: its worker reads it ahead in pieces (loadAhead)
			flush()
			send([]restoreJob{j}, nil)
			continue
		}
		if plain+size > batchBytes {
			flush()
		}
		batch = append(batch, j)
		plain += size
		if len(batch) >= batchFiles {
			flush()
		}
	}
	flush()
}

// loadAhead loads the chunks of a large file (n) in pieces of about
// pieceBytes, the next piecesAhead pieces read ahead while one is written:
// on a remote backend its reads overlap its writes, and a worker holds at
// most piecesAhead+1 pieces.
func (r *restorer) loadAhead(rl runLoader, n *Node, fn func(int, []byte) error) error {
	per := max(1, int(int64(len(n.Content))*pieceBytes/max(1, int64(n.Size))))
	var ahead []*object.Prefetch
	defer func() {
		for _, p := range ahead {
			p.Release()
		}
	}()
	next := 0 // the first chunk not read ahead yet
	readAhead := func() {
		if next >= len(n.Content) {
			return
		}
		end := min(next+per, len(n.Content))
		p, err := r.pre.Prefetch(r.ctx, n.Content[next:end])
		if err != nil {
			p = nil // the load reads it and reports
		}
		ahead, next = append(ahead, p), end
	}
	for range piecesAhead + 1 {
		readAhead()
	}
	for at := 0; at < len(n.Content); at += per {
		if err := rl.LoadRun(r.ctx, n.Content[at:min(at+per, len(n.Content))], fn); err != nil {
			return err
		}
		ahead[0].Release()
		ahead = ahead[1:]
		readAhead()
	}
	return nil
}
