package detect

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// Collector gathers what language and framework detection needs while a
// tree is stored: every file's path and size, and the content blobs of
// manifests (read back from the repository afterwards, so no user file is
// opened twice). The detector runs in its own goroutines, beside the walk.
//
// When the parent version kept its tallies (snapshot.Snapshot.Detection),
// only the files that changed are counted (StoreOptions.Delta): the new
// tallies are the parent's, less the files removed or changed, plus the
// files new or changed. An unchanged re-store so counts nothing, and a
// store after a small edit counts the edit.
type Collector struct {
	d         *Detector
	manifests map[string][]object.ID
	batch     []countFile
	ch        chan []countFile
	done      chan struct{}
	skip      atomic.Bool
	// base holds the parent's tallies when the files are counted as a
	// delta from them (nil: every file is counted)
	base *Detector
	// rescan: the delta cannot be trusted (part of the parent tree was
	// unreadable, or it led from another tree), so result counts the
	// stored tree afresh
	rescan bool
	tree   object.ID
	// Partial: Visit is not given every file of the tree (an upload
	// visits a subtree met twice once), so no tallies are kept
	Partial bool
}

// countFile is a file to count (sign 1) or to take away (-1).
type countFile struct {
	File
	sign int
}

// detectors is how many goroutines detection runs in.
const detectors = 2

// NewCollector starts a collector; parentTallies are the parent version's
// (snapshot.Snapshot.Detection; nil: every file is counted).
func NewCollector(parentTallies []byte) *Collector {
	d := &Collector{d: New(), manifests: map[string][]object.ID{},
		ch: make(chan []countFile, 16), done: make(chan struct{})}
	if len(parentTallies) > 0 {
		base := New()
		// tallies of other rules are not reused: every file is counted
		if base.AddTallies(parentTallies) == nil {
			d.base = base
		}
	}
	// the goroutine ranges over its own copy: stop sets d.ch to nil, and
	// may do so before the goroutine first runs
	ch := d.ch
	// the regular expressions behind detection cost about 14 µs a file:
	// two goroutines, one Detector each, merged at the end, keep it from
	// being the long pole of a first store
	parts := make([]*Detector, detectors)
	var wg sync.WaitGroup
	for i := range parts {
		parts[i] = New()
		wg.Add(1)
		go func(dd *Detector) {
			defer wg.Done()
			for batch := range ch {
				if d.skip.Load() {
					continue
				}
				for _, f := range batch {
					if f.sign < 0 {
						dd.RemoveFile(f.File)
					} else {
						dd.AddFile(f.File)
					}
				}
			}
		}(parts[i])
	}
	go func() {
		wg.Wait()
		for _, p := range parts {
			d.d.Merge(p)
		}
		close(d.done)
	}()
	return d
}

// Visit is StoreOptions.Visit: called serialised by the store pipeline, for every file.
func (d *Collector) Visit(path string, n *snapshot.Node) {
	if d.base == nil {
		d.add(path, n, 1)
	}
	if WantsContent(path, int64(n.Size)) {
		d.manifests[path] = slices.Clone(n.Content)
	}
}

// Delta is StoreOptions.Delta: called serialised with visit, for the
// files that changed from the parent tree, when Counting says so.
func (d *Collector) Delta(path string, n *snapshot.Node, sign int) { d.add(path, n, sign) }

func (d *Collector) add(path string, n *snapshot.Node, sign int) {
	d.batch = append(d.batch, countFile{File{Path: path, Size: int64(n.Size)}, sign})
	if len(d.batch) == 1024 {
		d.ch <- d.batch
		d.batch = make([]countFile, 0, 1024)
	}
}

// Finish takes note of the stored tree once the pipeline is done; parent
// is the tree whose tallies d.base holds.
func (d *Collector) Finish(res *snapshot.StoreResult, parent object.ID) {
	d.tree = res.Tree
	if d.base == nil {
		return
	}
	switch {
	case res.DeltaBroken:
		d.rescan = true
	case res.DeltaBase.IsZero():
		// the pipeline used no parent (a tar stream): every file was
		// counted
		d.base = nil
	case res.DeltaBase != parent:
		d.rescan = true
	}
}

// Abort makes the detector skip the files it has not looked at yet.
func (d *Collector) Abort() {
	d.skip.Store(true)
	d.Stop()
}

// Stop ends the detector goroutine (also when the store failed).
func (d *Collector) Stop() {
	if d.ch == nil {
		return
	}
	if len(d.batch) > 0 {
		d.ch <- d.batch
		d.batch = nil
	}
	close(d.ch)
	d.ch = nil
	<-d.done
}

// Result returns the languages and frameworks found, and the tallies to
// keep with the version (nil when they cannot be had).
func (d *Collector) Result(ctx context.Context, repo snapshot.BlobLoader) (langs, fws []string, tallies []byte) {
	d.Stop()
	if d.base != nil && !d.rescan {
		d.d.Merge(d.base)
		if _, err := d.d.Tallies(); err != nil {
			// more taken away than the parent counted: never so if
			// the parent's tallies were its tree's
			d.rescan = true
		}
	}
	counted := true
	if d.rescan {
		d.d = New()
		err := snapshot.Walk(ctx, repo, d.tree, func(path string, n *snapshot.Node) error {
			if n.Type == snapshot.File {
				d.d.AddFile(File{Path: path, Size: int64(n.Size)})
			}
			return nil
		})
		if err != nil {
			// the manifests below still give frameworks; no tallies
			// are kept, so the next version counts every file
			d.d, counted = New(), false
		}
	}
	if counted && !d.Partial {
		tallies, _ = d.d.Tallies()
	}
	for path, ids := range d.manifests {
		var content []byte
		for _, id := range ids {
			b, err := repo.LoadBlob(ctx, id, nil)
			if err != nil {
				content = nil
				break
			}
			content = append(content, b...)
		}
		if content != nil || len(ids) == 0 {
			d.d.AddContent(path, content)
		}
	}
	langs, fws = d.d.Result()
	return langs, fws, tallies
}

// Counting reports whether the collector counts changes from the
// parent's tallies: then the store pipeline must call Delta for every file
// that changed (StoreOptions.Delta).
func (d *Collector) Counting() bool { return d.base != nil }
