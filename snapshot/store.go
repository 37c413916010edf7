package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/object"
)

// BlobSaver stores blobs (an *object.Repository).
type BlobSaver interface {
	// ID returns the id of plain bytes in the repository (a keyed hash in
	// an encrypted one).
	ID(plain []byte) object.ID
	SaveBlob(ctx context.Context, t object.BlobType, id object.ID, plain []byte) (int64, error)
}

// BlobLoader loads verified blobs (an *object.Repository).
type BlobLoader interface {
	LoadBlob(ctx context.Context, id object.ID, dst []byte) ([]byte, error)
}

type blobRepo interface {
	BlobSaver
	BlobLoader
}

// blobLocator is a repository that looks up several blobs at once and
// reads a blob where it was found (an *object.Repository or
// *object.Writer): the store looks up the parent trees of a directory's
// subdirectories together, one index transaction instead of one each.
type blobLocator interface {
	Locate(ids []object.ID) (locs []object.Location, found []bool, err error)
	LoadAt(ctx context.Context, loc object.Location, dst []byte) ([]byte, error)
}

// StoreOptions configure Store. The zero value works, except Pol.
type StoreOptions struct {
	Pol        chunk.Pol
	ParentTree object.ID // zero: no parent
	Workers    int       // default: 2 x GOMAXPROCS
	Progress   Progress
	Logger     *slog.Logger
	// Visit is called once for every regular file of the new tree, with
	// its slash-separated path relative to the root and its finished node.
	// Calls are serialised.
	Visit func(path string, n *Node)
	// Delta, when set, is told how the new tree's regular files differ
	// from the parent tree's: Delta(path, n, +1) for each file of the new
	// tree other than the parent's files reused unchanged (new, changed,
	// or read again), Delta(path, old, -1) for each file of the parent
	// tree that the new one does not hold unchanged (removed, changed,
	// excluded, read again, or replaced by a directory or symlink). The
	// parent's files, less the -1 ones, plus the +1 ones are the new
	// tree's. Calls are serialised with Visit's. StoreResult.DeltaBase
	// names the tree the calls lead from.
	Delta func(path string, n *Node, sign int)
	// Limit stops the store with ErrLimit once the logical bytes of the
	// tree pass it (0: no limit).
	Limit int64
	// AddedLimit stops the store with ErrLimit once the stored bytes added
	// pass it (0: no limit).
	AddedLimit int64
	// Reusable, when set, is asked before the chunks of an unchanged file
	// of the parent are referred to again; false reads the file afresh
	// (its blobs are lost, or condemned by garbage collection). When it is
	// nil every blob of the parent tree may be reused, and a directory
	// whose tree comes out the same as the parent's (which the store has
	// just read from the repository) is not saved again.
	Reusable func(content []object.ID) bool
	// MaxEntries stops the store with ErrEntryLimit once the tree holds
	// more entries (files, directories, symlinks; 0: no limit).
	MaxEntries int64
	// MaxPath and MaxDepth bound every path of the tree: its length in
	// bytes and its number of elements (0: DefaultMaxPath and
	// DefaultMaxDepth). A path past them fails the store with ErrPathLimit.
	MaxPath, MaxDepth int
	// Exclude, when set, leaves out the entries it returns true for: rel is
	// the slash-separated path from the root, n the entry as listed (a
	// directory is left out whole, not walked).
	Exclude func(rel string, n *Node) bool
	// Filters, when set, run the files they claim through their clean
	// command (see Filters). A filtered file is always read afresh: its
	// parent entry holds the filter's output, not the file's size.
	Filters Filters
}

func (o *StoreOptions) pathLimits() (maxPath, maxDepth int) {
	maxPath, maxDepth = o.MaxPath, o.MaxDepth
	if maxPath <= 0 {
		maxPath = DefaultMaxPath
	}
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	return maxPath, maxDepth
}

// checkPath checks a path of depth elements against the limits.
func checkPath(path string, depth, maxPath, maxDepth int) error {
	if len(path) > maxPath {
		return fmt.Errorf("%w: %s is %d bytes long (at most %d)", ErrPathLimit, shortName(path), len(path), maxPath)
	}
	if depth > maxDepth {
		return fmt.Errorf("%w: %s is %d levels deep (at most %d)", ErrPathLimit, shortName(path), depth, maxDepth)
	}
	return nil
}

var (
	// ErrLimit means a store passed StoreOptions.Limit (the tree's size).
	ErrLimit = errors.New("snapshot: size limit passed")
	// ErrAddedLimit means a store passed StoreOptions.AddedLimit (new bytes).
	ErrAddedLimit = errors.New("snapshot: added bytes limit passed")
)

// StoreStats counts what a store did.
type StoreStats struct {
	FilesNew       int64 `json:"files_new"`
	FilesChanged   int64 `json:"files_changed"`
	FilesUnchanged int64 `json:"files_unchanged"`
	Dirs           int64 `json:"dirs"`
	Symlinks       int64 `json:"symlinks"`
	Skipped        int64 `json:"skipped"`
	// Excluded counts the entries StoreOptions.Exclude left out (an
	// excluded directory counts once) and ExcludedBytes the sizes of the
	// excluded files (not what excluded directories hold: they are not
	// walked).
	Excluded      int64         `json:"excluded"`
	ExcludedBytes int64         `json:"excluded_bytes"`
	Size          int64         `json:"size"`        // logical bytes of the tree's files
	BytesRead     int64         `json:"bytes_read"`  // bytes read from changed and new files
	BlobsAdded    int64         `json:"blobs_added"` // new blobs
	BytesAdded    int64         `json:"bytes_added"` // stored bytes of new blobs (after dedup and compression)
	Duration      time.Duration `json:"duration_ns"`
}

// Files returns the number of regular files in the tree.
func (s *StoreStats) Files() int64 { return s.FilesNew + s.FilesChanged + s.FilesUnchanged }

// StoreResult is what Store produced.
type StoreResult struct {
	Tree      object.ID
	RootMode  uint32
	RootMTime int64
	Stats     StoreStats
	// DeltaBase is the tree StoreOptions.Delta's calls lead from to Tree:
	// ParentTree, or zero when there was none (every file was added).
	// DeltaBroken is set when part of the parent tree could not be read:
	// the calls then missed some of its files.
	DeltaBase   object.ID
	DeltaBroken bool
}

type storer struct {
	repo  blobRepo
	opts  StoreOptions
	prog  Progress
	log   *slog.Logger
	ctx   context.Context
	jobs  chan fileJob
	stats StoreStats
	a     struct {
		new, changed, unchanged, dirs, links, skipped, size, read, blobs, added, entries atomic.Int64
		excluded, excludedBytes                                                          atomic.Int64
	}
	// path limits (see StoreOptions)
	maxPath, maxDepth int
	visitM            sync.Mutex
	root              object.ID
	// deltaBroken: a parent tree could not be read (see StoreResult)
	deltaBroken atomic.Bool
	// walkSem bounds the extra goroutines walking subdirectories
	walkSem chan struct{}
	walkWG  sync.WaitGroup
	errMu   sync.Mutex
	err     error
	cancel  context.CancelFunc
}

type dirState struct {
	rel     string // slash path relative to the root; "" for the root
	depth   int    // elements of rel
	nodes   []Node
	pending atomic.Int64
	parent  *dirState
	idx     int
	// prev is the parent version's tree of this directory when the store
	// read it (zero otherwise)
	prev object.ID
	// reused marks the nodes that are the parent's files reused
	// unchanged (only with StoreOptions.Delta)
	reused []bool
}

type fileJob struct {
	path string
	dir  *dirState
	idx  int
	// changed: the path existed in the parent with other metadata
	changed bool
}

// Store stores the directory tree at dir into repo and returns its root tree
// id. Unchanged files (same size, mtime, ctime, inode and mode as in the
// parent tree) are not opened. It streams: memory is bounded by the worker
// count times the maximum chunk size.
func Store(ctx context.Context, repo blobRepo, dir string, opts StoreOptions) (*StoreResult, error) {
	start := time.Now()
	rootMode, rootMTime, err := statRoot(dir)
	if err != nil {
		return nil, err
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0) + 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &storer{repo: repo, opts: opts, prog: orNone(opts.Progress), log: opts.Logger, ctx: ctx,
		jobs: make(chan fileJob, 64), cancel: cancel, walkSem: make(chan struct{}, runtime.GOMAXPROCS(0))}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.maxPath, s.maxDepth = opts.pathLimits()
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.worker()
		}()
	}
	if opts.Progress != nil {
		go s.scan(ctx, dir)
	}
	root := &dirState{}
	root.pending.Store(1)
	walkErr := s.walkDir(dir, root, opts.ParentTree, nil)
	if walkErr != nil {
		s.fail(walkErr)
	}
	s.walkWG.Wait()
	s.release(root)
	close(s.jobs)
	wg.Wait()
	if err := s.firstErr(); err != nil {
		return nil, err
	}
	if s.root.IsZero() {
		return nil, errors.New("store: root tree was not finished")
	}
	res := &StoreResult{Tree: s.root, RootMode: rootMode, RootMTime: rootMTime}
	if opts.Delta != nil {
		res.DeltaBase, res.DeltaBroken = opts.ParentTree, s.deltaBroken.Load()
	}
	res.Stats = StoreStats{
		FilesNew: s.a.new.Load(), FilesChanged: s.a.changed.Load(), FilesUnchanged: s.a.unchanged.Load(),
		Dirs: s.a.dirs.Load(), Symlinks: s.a.links.Load(), Skipped: s.a.skipped.Load(), Excluded: s.a.excluded.Load(), ExcludedBytes: s.a.excludedBytes.Load(), Size: s.a.size.Load(),
		BytesRead: s.a.read.Load(), BlobsAdded: s.a.blobs.Load(), BytesAdded: s.a.added.Load(),
		Duration: time.Since(start),
	}
	return res, nil
}

func (s *storer) fail(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.errMu.Unlock()
	s.cancel()
}

func (s *storer) firstErr() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err == nil && s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	return s.err
}

// scan counts the files and bytes ahead of the store for the progress bar.
func (s *storer) scan(ctx context.Context, dir string) {
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			s.prog.AddTotal(1, info.Size())
		}
		return nil
	})
}

// loadTree loads a tree of the parent version; loc, when not nil, is where
// Locate found it.
func (s *storer) loadTree(id object.ID, loc *object.Location) ([]Node, error) {
	if id.IsZero() {
		return nil, nil
	}
	var data []byte
	var err error
	if l, ok := s.repo.(blobLocator); ok && loc != nil {
		data, err = l.LoadAt(s.ctx, *loc, nil)
	}
	if loc == nil || err != nil {
		// not looked up yet, or moved or damaged since it was: LoadBlob
		// looks it up (again) and tries other copies
		data, err = s.repo.LoadBlob(s.ctx, id, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("load parent tree %s: %w", id.Short(), err)
	}
	nodes, err := DecodeTree(data)
	if err != nil {
		return nil, fmt.Errorf("parent tree %s: %w", id.Short(), err)
	}
	return nodes, nil
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// locate looks up the parent trees of a directory's subdirectories in one
// go, when the repository can (see blobLocator): locs[i] is where ids[i]
// is, nil where it is unknown or was not looked up.
func (s *storer) locate(ids []object.ID) []*object.Location {
	out := make([]*object.Location, len(ids))
	l, ok := s.repo.(blobLocator)
	var want []object.ID
	for _, id := range ids {
		if !id.IsZero() {
			want = append(want, id)
		}
	}
	if !ok || len(want) < 2 {
		return out // one lookup each is as cheap
	}
	locs, found, err := l.Locate(want)
	if err != nil {
		return out // loadTree looks each up, and reports
	}
	k := 0
	for i, id := range ids {
		if id.IsZero() {
			continue
		}
		if found[k] {
			out[i] = &locs[k]
		}
		k++
	}
	return out
}

// walkDir lists one directory, reuses unchanged files, queues the others,
// and recurses. ds.pending counts the walker's own hold plus every queued
// child; the walker releases its hold when the listing is done. parentLoc,
// when not nil, is where parentTree was found.
func (s *storer) walkDir(path string, ds *dirState, parentTree object.ID, parentLoc *object.Location) error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	w := dirWalk{s: s, path: path, ds: ds}
	var err error
	if w.parent, err = s.loadTree(parentTree, parentLoc); err != nil {
		// a broken parent only costs speed: store everything afresh
		s.log.Warn("parent tree unreadable; reading every file", "dir", path, "err", err)
		w.parent = nil
		s.deltaBroken.Store(true)
	} else {
		ds.prev = parentTree
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("store: read directory %s: %w", path, err)
	}
	slices.Sort(names)
	w.d = newEntryStater(f, path)
	ds.nodes = make([]Node, 0, len(names))
	if s.opts.Delta != nil {
		ds.reused = make([]bool, 0, len(names))
	}
	for _, name := range names {
		if err := w.entry(name); err != nil {
			return err
		}
	}
	for ; w.pi < len(w.parent); w.pi++ {
		s.forget(ds.rel, &w.parent[w.pi]) // removed or excluded
	}
	return w.descend()
}

// dirWalk is walkDir's work on one directory: its entries merged, by
// name, with the parent version's nodes of it, the files it queues and
// the subdirectories it walks next.
type dirWalk struct {
	s      *storer
	path   string
	ds     *dirState
	d      entryStater
	parent []Node // the parent version's nodes of this directory
	pi     int    // the first of them not merged yet
	queue  []fileJob
	subs   []subDir
}

// subDir is a subdirectory to walk: its node's index and the parent
// version's tree of it (zero: none).
type subDir struct {
	idx    int
	parent object.ID
}

// entry adds the directory's entry name (unless excluded or gone).
func (w *dirWalk) entry(name string) error {
	s, ds := w.s, w.ds
	n, err := w.d.lstat(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // vanished since the listing
		}
		return fmt.Errorf("store: stat %s: %w", filepath.Join(w.path, name), err)
	}
	if s.opts.Exclude != nil && s.opts.Exclude(joinRel(ds.rel, name), &n) {
		s.a.excluded.Add(1)
		if n.Type == File {
			s.a.excludedBytes.Add(int64(n.Size))
		}
		return nil
	}
	if err := w.check(name); err != nil {
		return err
	}
	old := w.previous(name)
	switch n.Type {
	case File:
		return w.file(n, name, old)
	case Dir:
		ds.nodes = append(ds.nodes, n)
		var p object.ID
		if old != nil && old.Type == Dir {
			p = old.Subtree
			s.forgetReplaced(ds, nil) // the walk below compares the two
		} else {
			s.forgetReplaced(ds, old)
		}
		w.subs = append(w.subs, subDir{len(ds.nodes) - 1, p})
	case Symlink:
		target, err := w.d.readlink(name)
		if err != nil {
			return fmt.Errorf("store: readlink %s: %w", filepath.Join(w.path, name), err)
		}
		n.Target = target
		if n.Target == "" || strings.IndexByte(target, 0) >= 0 {
			return fmt.Errorf("store: symlink %s has an unusable target", filepath.Join(w.path, name))
		}
		ds.nodes = append(ds.nodes, n)
		s.forgetReplaced(ds, old)
		s.a.links.Add(1)
	default:
		s.forget(ds.rel, old)
		s.a.entries.Add(-1)
		s.a.skipped.Add(1)
		s.log.Warn("skipping special file (socket, device or fifo)", "path", filepath.Join(w.path, name))
	}
	return nil
}

// check refuses an entry whose name or path silo cannot keep, or that
// passes MaxEntries, and counts it.
func (w *dirWalk) check(name string) error {
	s, ds := w.s, w.ds
	if err := CheckName(name); err != nil {
		return fmt.Errorf("store: %s: %w", filepath.Join(w.path, name), err)
	}
	if err := checkPath(joinRel(ds.rel, name), ds.depth+1, s.maxPath, s.maxDepth); err != nil {
		return fmt.Errorf("store: %s: %w", w.path, err)
	}
	if n := s.a.entries.Add(1); s.opts.MaxEntries > 0 && n > s.opts.MaxEntries {
		return fmt.Errorf("%w: the tree holds more than %d entries (at %s)", ErrEntryLimit, s.opts.MaxEntries, filepath.Join(w.path, name))
	}
	return nil
}

// previous returns the parent version's node of name (nil: none), and
// forgets the parent's nodes before it, which are gone or excluded.
func (w *dirWalk) previous(name string) *Node {
	for w.pi < len(w.parent) && w.parent[w.pi].Name < name {
		w.s.forget(w.ds.rel, &w.parent[w.pi]) // removed or excluded
		w.pi++
	}
	if w.pi < len(w.parent) && w.parent[w.pi].Name == name {
		w.pi++
		return &w.parent[w.pi-1]
	}
	return nil
}

// file reuses the parent version's content of an unchanged file, or
// queues the file to be read.
func (w *dirWalk) file(n Node, name string, old *Node) error {
	s, ds := w.s, w.ds
	if s.opts.Filters != nil {
		n.Filter = s.opts.Filters.For(joinRel(ds.rel, name))
	}
	if old != nil && old.Type == File && n.Filter == "" && old.Filter == "" && old.Size == n.Size && old.MTime == n.MTime &&
		old.CTime == n.CTime && old.Inode == n.Inode && old.Mode == n.Mode &&
		(n.Size == 0 || len(old.Content) > 0) &&
		(s.opts.Reusable == nil || s.opts.Reusable(old.Content)) {
		n.Content = old.Content
		ds.nodes = append(ds.nodes, n)
		if ds.reused != nil {
			ds.reused = append(ds.reused, true)
		}
		s.a.unchanged.Add(1)
		s.a.size.Add(int64(n.Size))
		s.prog.AddDone(1, int64(n.Size))
		return s.checkLimit()
	}
	ds.nodes = append(ds.nodes, n)
	s.forgetReplaced(ds, old)
	w.queue = append(w.queue, fileJob{path: filepath.Join(w.path, name), idx: len(ds.nodes) - 1, changed: old != nil})
	return nil
}

// descend hands the queued files to the readers and walks the
// subdirectories: on another core when one is free, else here.
func (w *dirWalk) descend() error {
	s, ds := w.s, w.ds
	// children hold the directory open until they finish
	ds.pending.Add(int64(len(w.queue) + len(w.subs)))
	for _, j := range w.queue {
		j.dir = ds
		select {
		case s.jobs <- j:
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
	prevs := make([]object.ID, len(w.subs))
	for i, sb := range w.subs {
		prevs[i] = sb.parent
	}
	locs := s.locate(prevs)
	for i, sb := range w.subs {
		loc := locs[i]
		child := &dirState{rel: joinRel(ds.rel, ds.nodes[sb.idx].Name), depth: ds.depth + 1, parent: ds, idx: sb.idx}
		child.pending.Store(1)
		childPath := filepath.Join(w.path, ds.nodes[sb.idx].Name)
		// an unchanged re-store is nothing but this walk
		select {
		case s.walkSem <- struct{}{}:
			s.walkWG.Add(1)
			go func(parent object.ID) {
				defer s.walkWG.Done()
				defer func() { <-s.walkSem }()
				if err := s.walkDir(childPath, child, parent, loc); err != nil {
					s.fail(err)
					return
				}
				s.release(child)
			}(sb.parent)
		default:
			if err := s.walkDir(childPath, child, sb.parent, loc); err != nil {
				return err
			}
			s.release(child)
		}
	}
	return nil
}

// forgetReplaced records, for StoreOptions.Delta, that the node just
// appended to ds is not the parent's node old (nil: there was none)
// reused: old's files are taken away.
func (s *storer) forgetReplaced(ds *dirState, old *Node) {
	if ds.reused == nil {
		return
	}
	ds.reused = append(ds.reused, false)
	s.forget(ds.rel, old)
}

// forget gives StoreOptions.Delta the files of old, a node of the parent
// tree in the directory rel that the new tree does not hold: old itself,
// or every file under it. A subtree that cannot be read marks the delta
// broken.
func (s *storer) forget(rel string, old *Node) {
	if s.opts.Delta == nil || old == nil {
		return
	}
	switch old.Type {
	case File:
		s.visitM.Lock()
		s.opts.Delta(joinRel(rel, old.Name), old, -1)
		s.visitM.Unlock()
	case Dir:
		prefix := joinRel(rel, old.Name)
		err := Walk(s.ctx, s.repo, old.Subtree, func(p string, n *Node) error {
			if n.Type == File {
				s.visitM.Lock()
				s.opts.Delta(prefix+"/"+p, n, -1)
				s.visitM.Unlock()
			}
			return nil
		})
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("removed directory's parent tree unreadable", "dir", prefix, "err", err)
			}
			s.deltaBroken.Store(true)
		}
	}
}

func (s *storer) checkLimit() error {
	if s.opts.Limit > 0 && s.a.size.Load() > s.opts.Limit {
		return fmt.Errorf("%w: the tree holds more than %d bytes", ErrLimit, s.opts.Limit)
	}
	if s.opts.AddedLimit > 0 && s.a.added.Load() > s.opts.AddedLimit {
		return fmt.Errorf("%w: more than %d new bytes", ErrAddedLimit, s.opts.AddedLimit)
	}
	return nil
}

// release drops one hold on ds; the last one finishes the directory.
func (s *storer) release(ds *dirState) {
	if ds.pending.Add(-1) != 0 {
		return
	}
	if s.ctx.Err() != nil {
		return
	}
	if s.opts.Visit != nil || s.opts.Delta != nil {
		s.visitM.Lock()
		for i := range ds.nodes {
			if ds.nodes[i].Type != File {
				continue
			}
			p := joinRel(ds.rel, ds.nodes[i].Name)
			if s.opts.Visit != nil {
				s.opts.Visit(p, &ds.nodes[i])
			}
			if s.opts.Delta != nil && !ds.reused[i] {
				s.opts.Delta(p, &ds.nodes[i], 1)
			}
		}
		s.visitM.Unlock()
	}
	data := EncodeTree(ds.nodes)
	id := s.repo.ID(data)
	// an unchanged directory: its tree is the one just read (saving it
	// would only ask the index again)
	if id != ds.prev || s.opts.Reusable != nil {
		n, err := s.repo.SaveBlob(s.ctx, object.TreeBlob, id, data)
		if err != nil {
			s.fail(fmt.Errorf("store: save tree %q: %w", ds.rel, err))
			return
		}
		if n > 0 {
			s.a.blobs.Add(1)
			s.a.added.Add(n)
		}
	}
	s.a.dirs.Add(1)
	ds.nodes = nil
	if ds.parent == nil {
		s.root = id
		return
	}
	ds.parent.nodes[ds.idx].Subtree = id
	s.release(ds.parent)
}

func (s *storer) worker() {
	buf := make([]byte, chunk.MaxSize)
	ch := chunk.New(s.opts.Pol)
	for j := range s.jobs {
		if s.ctx.Err() != nil {
			continue
		}
		if err := s.storeFile(j, buf, ch); err != nil {
			s.fail(err)
			continue
		}
		s.release(j.dir)
	}
}

func (s *storer) saveChunk(data []byte) (object.ID, error) {
	id := s.repo.ID(data)
	n, err := s.repo.SaveBlob(s.ctx, object.DataBlob, id, data)
	if err != nil {
		return id, err
	}
	if n > 0 {
		s.a.blobs.Add(1)
		s.a.added.Add(n)
	}
	return id, nil
}

func (s *storer) storeFile(j fileJob, buf []byte, ch *chunk.Chunker) error {
	f, err := os.Open(j.path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	node := &j.dir.nodes[j.idx]
	var content []object.ID
	var total int64
	add := func(data []byte) error {
		id, err := s.saveChunk(data)
		if err != nil {
			return fmt.Errorf("store %s: %w", j.path, err)
		}
		content = append(content, id)
		total += int64(len(data))
		s.a.read.Add(int64(len(data)))
		s.prog.AddDone(0, int64(len(data)))
		return s.checkLimit()
	}
	if node.Filter != "" {
		rel := joinRel(j.dir.rel, node.Name)
		err := through(func(w io.Writer) error {
			return s.opts.Filters.Clean(s.ctx, node.Filter, rel, f, w)
		}, func(in io.Reader, _ io.Writer) error {
			return s.chunkAll(in, buf, ch, add)
		}, nil)
		if err != nil {
			return fmt.Errorf("store %s through filter %q: %w", j.path, node.Filter, err)
		}
	} else if node.Size < chunk.MinSize {
		// small file: one chunk, no rolling hash
		n, err := io.ReadFull(f, buf[:node.Size+1])
		switch {
		case err == io.ErrUnexpectedEOF || err == io.EOF:
			if n > 0 {
				if err := add(buf[:n]); err != nil {
					return err
				}
			}
		case err != nil:
			return fmt.Errorf("store: read %s: %w", j.path, err)
		default: // the file grew while we read: chunk all of it
			head := bytes.Clone(buf[:n])
			if err := s.chunkAll(io.MultiReader(bytes.NewReader(head), f), buf, ch, add); err != nil {
				return fmt.Errorf("store: read %s: %w", j.path, err)
			}
		}
	} else if err := s.chunkAll(f, buf, ch, add); err != nil {
		return fmt.Errorf("store: read %s: %w", j.path, err)
	}
	node.Content = content
	node.Size = uint64(total)
	if j.changed {
		s.a.changed.Add(1)
	} else {
		s.a.new.Add(1)
	}
	s.a.size.Add(total)
	s.prog.AddDone(1, 0)
	return s.checkLimit()
}

func (s *storer) chunkAll(r io.Reader, buf []byte, ch *chunk.Chunker, add func([]byte) error) error {
	ch.Reset(r)
	for {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		data, err := ch.Next(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := add(data); err != nil {
			return err
		}
	}
}
