package gc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// ErrMissing means a referenced blob is not in the index: gc stops.
var ErrMissing = errors.New("gc: referenced blob missing")

// missingHint is what to do when the mark meets a missing blob.
const missingHint = "run `silo check` to see what refers to it, then `silo repair` to record the loss; gc runs again after that"

// ErrBusy means another collection is running.
var ErrBusy = errors.New("gc: another collection is running")

// Options are what a collection needs. DB, Repo and Children are required.
type Options struct {
	DB   *index.DB
	Repo *object.Repository
	// Trees are the root trees of every live version and template.
	Trees []object.ID
	// Live are other blobs to keep (snapshot blobs, current meta records).
	Live []object.ID
	// Children lists a tree's subtrees and data blobs.
	Children func(ctx context.Context, tree object.ID) (trees, data []object.ID, err error)
	// Listed are the packs the backend holds (a fresh listing, after which
	// every listed pack was indexed). A pack with live blobs that is not
	// listed stops the plan; packs not listed are never candidates.
	Listed map[object.ID]bool
	// Condemned are packs already in pending plans: not candidates again.
	Condemned map[object.ID]bool
	// Lost reports blobs known to be lost (no pack holds them readably,
	// as repair or a rebuild recorded): a version that refers to one does
	// not stop the mark, since nothing can keep or delete it anyway.
	Lost func(object.ID) bool
	// Threshold is the dead share above which a pack is rewritten (default 0.10).
	Threshold float64
	// Force rewrites packs holding these dead blob types whatever their
	// dead share (dead snapshot and meta blobs must go, or an index rebuild
	// would bring them back).
	Force  []object.BlobType
	Now    func() time.Time
	Logger *slog.Logger
}

// PackPlan is one pack the plan rewrites or deletes.
type PackPlan struct {
	ID        object.ID `json:"id"`
	Size      int64     `json:"size"`
	LiveBytes int64     `json:"live_bytes"`
	LiveBlobs int       `json:"live_blobs"`
	DeadBlobs int       `json:"dead_blobs"`
	Data      bool      `json:"data"`

	// order of deletion: packs with dead snapshot or meta blobs, then
	// other tree packs, then data packs
	rank int
}

// Plan is the outcome of the mark phase.
type Plan struct {
	Start        time.Time  `json:"start"`
	Packs        int        `json:"packs"`
	Blobs        int        `json:"blobs"`
	LiveBlobs    int        `json:"live_blobs"`
	Delete       []PackPlan `json:"delete"`
	Repack       []PackPlan `json:"repack"`
	FreedBytes   int64      `json:"freed_bytes"`   // estimate: sizes removed minus live bytes rewritten
	RewriteBytes int64      `json:"rewrite_bytes"` // live bytes copied by repack
	MarkSetBytes int64      `json:"mark_set_bytes"`
	MarkBytesPer float64    `json:"mark_bytes_per_blob"`
	MarkTime     float64    `json:"mark_seconds"`

	opts  Options
	marks *markSet
	// livePacks counts the live blobs of each indexed pack that has any
	livePacks map[object.ID]int
}

// Result reports what a collection deleted and condemned.
type Result struct {
	PacksDeleted  int   `json:"packs_deleted"`
	PacksRepacked int   `json:"packs_repacked"` // rewritten packs among the deleted
	PacksWritten  int   `json:"packs_written"`  // packs holding rewritten blobs
	PacksKept     int   `json:"packs_kept"`     // condemned, then found live by a fresh mark
	BlobsRemoved  int   `json:"blobs_removed"`
	FreedBytes    int64 `json:"freed_bytes"`
	// Deferred are packs condemned and not yet deleted: sessions that
	// were alive when they were condemned still run (see Waiting). The
	// next collection after those end deletes them.
	DeferredPacks int           `json:"deferred_packs"`
	DeferredBytes int64         `json:"deferred_bytes"`
	Waiting       []LeaseRecord `json:"waiting,omitempty"`
	Plans         []string      `json:"plans,omitempty"` // plan ids carried out
	Seconds       float64       `json:"seconds"`
}

// markSet is a sorted array of 8-byte id prefixes of every indexed blob with
// a mark bit each.
type markSet struct {
	keys []uint64
	bits []uint64
}

func prefix(id object.ID) uint64 { return binary.BigEndian.Uint64(id[:8]) }

// find returns the index range of prefix p.
func (m *markSet) find(id object.ID) (int, int) {
	p := prefix(id)
	i := sort.Search(len(m.keys), func(i int) bool { return m.keys[i] >= p })
	j := i
	for j < len(m.keys) && m.keys[j] == p {
		j++
	}
	return i, j
}

// mark sets id's bit; it reports whether id is indexed and whether it was
// marked before.
func (m *markSet) mark(id object.ID) (indexed, was bool) {
	i, j := m.find(id)
	if i == j {
		return false, false
	}
	was = true
	for k := i; k < j; k++ {
		if m.bits[k/64]&(1<<(k%64)) == 0 {
			was = false
			m.bits[k/64] |= 1 << (k % 64)
		}
	}
	return true, was
}

func (m *markSet) marked(id object.ID) bool {
	i, j := m.find(id)
	for k := i; k < j; k++ {
		if m.bits[k/64]&(1<<(k%64)) != 0 {
			return true
		}
	}
	return false
}

func (m *markSet) bytes() int64 { return int64(len(m.keys))*8 + int64(len(m.bits))*8 }

// NewPlan marks every blob reachable from the roots and decides which packs
// to delete and rewrite. It changes nothing.
func NewPlan(ctx context.Context, opts Options) (*Plan, error) {
	if opts.Threshold <= 0 {
		opts.Threshold = 0.10
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Plan{Start: opts.Now(), opts: opts, Delete: []PackPlan{}, Repack: []PackPlan{}}
	t0 := time.Now()
	m := &markSet{}
	known := map[object.ID]object.PackInfo{}
	err := opts.DB.View(func(tx *index.Tx) error {
		n := 0
		if err := tx.Packs(func(pi object.PackInfo) error { known[pi.ID] = pi; n += pi.Count; return nil }); err != nil {
			return err
		}
		// the packs' blob counts bound the index's (a blob stored twice
		// is indexed once); counting the index itself would read every
		// page of it at once
		m.keys = make([]uint64, 0, n)
		return tx.Blobs(func(l object.Location) error {
			m.keys = append(m.keys, prefix(l.ID))
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	// bbolt iterates in key order, so keys are sorted already
	if !slices.IsSorted(m.keys) {
		slices.Sort(m.keys)
	}
	m.bits = make([]uint64, (len(m.keys)+63)/64)
	p.marks = m
	p.Blobs = len(m.keys)
	p.Packs = len(known)
	for _, id := range opts.Live {
		if ok, _ := m.mark(id); !ok && !p.lost(id) {
			return nil, fmt.Errorf("%w: blob %s (a root) is not indexed; nothing was deleted (%s)", ErrMissing, id, missingHint)
		}
	}
	for _, t := range opts.Trees {
		if err := p.markTree(ctx, t, ""); err != nil {
			return nil, err
		}
	}
	p.MarkTime = time.Since(t0).Seconds()
	p.MarkSetBytes = m.bytes()
	if p.Blobs > 0 {
		p.MarkBytesPer = float64(p.MarkSetBytes) / float64(p.Blobs)
	}
	if err := p.classify(known); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Plan) lost(id object.ID) bool { return p.opts.Lost != nil && p.opts.Lost(id) }

func (p *Plan) markTree(ctx context.Context, tree object.ID, where string) error {
	indexed, was := p.marks.mark(tree)
	if !indexed && p.lost(tree) {
		return nil
	}
	if !indexed {
		return fmt.Errorf("%w: tree %s%s is not indexed; nothing was deleted (%s)", ErrMissing, tree, where, missingHint)
	}
	if was {
		return nil
	}
	trees, data, err := p.opts.Children(ctx, tree)
	if errors.Is(err, object.ErrNotFound) || errors.Is(err, object.ErrBlobNotFound) {
		return fmt.Errorf("%w: tree %s%s cannot be read: %w; nothing was deleted (%s)", ErrMissing, tree, where, err, missingHint)
	}
	if err != nil {
		return fmt.Errorf("gc: read tree %s: %w; nothing was deleted", tree, err)
	}
	for _, d := range data {
		if ok, _ := p.marks.mark(d); !ok && !p.lost(d) {
			return fmt.Errorf("%w: data blob %s (in tree %s) is not indexed; nothing was deleted (%s)", ErrMissing, d, tree, missingHint)
		}
	}
	for _, t := range trees {
		if err := p.markTree(ctx, t, " (under "+tree.Short()+")"); err != nil {
			return err
		}
	}
	return nil
}

type packStat struct {
	liveBytes, deadBytes int64
	live, dead           int
	forced               bool
}

func (p *Plan) classify(known map[object.ID]object.PackInfo) error {
	stats := map[object.ID]*packStat{}
	err := p.opts.DB.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
			st := stats[l.Pack]
			if st == nil {
				st = &packStat{}
				stats[l.Pack] = st
			}
			if p.marks.marked(l.ID) {
				st.live++
				st.liveBytes += int64(l.Length)
				p.LiveBlobs++
			} else {
				st.dead++
				st.deadBytes += int64(l.Length)
				if slices.Contains(p.opts.Force, l.Type) {
					st.forced = true
				}
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	p.livePacks = map[object.ID]int{}
	for id, pi := range known {
		st := stats[id]
		if st == nil {
			st = &packStat{}
		}
		if st.live > 0 {
			p.livePacks[id] = st.live
		}
		if p.opts.Condemned[id] || (p.opts.Listed != nil && !p.opts.Listed[id]) {
			continue // already condemned, or gone from the backend
		}
		pp := PackPlan{ID: id, Size: pi.Size, LiveBytes: st.liveBytes, LiveBlobs: st.live, DeadBlobs: st.dead, Data: pi.Data}
		switch {
		case st.forced:
			pp.rank = 0
		case !pi.Data:
			pp.rank = 1
		default:
			pp.rank = 2
		}
		switch {
		case st.live == 0:
			p.Delete = append(p.Delete, pp)
			p.FreedBytes += pi.Size
		case st.dead > 0 && (st.forced || float64(pi.Size-st.liveBytes) >= p.opts.Threshold*float64(pi.Size)):
			p.Repack = append(p.Repack, pp)
			p.FreedBytes += pi.Size - st.liveBytes
			p.RewriteBytes += st.liveBytes
		}
	}
	byID := func(a, b PackPlan) int { return strings.Compare(a.ID.String(), b.ID.String()) }
	slices.SortFunc(p.Delete, byID)
	slices.SortFunc(p.Repack, byID)
	return nil
}
