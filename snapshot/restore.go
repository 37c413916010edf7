package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silo-dev/silo/object"
)

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Include restores only these slash-separated paths of the tree (files
	// or subtrees), keeping their paths under the destination; none: all.
	Include  []string
	Workers  int // default: 4 x GOMAXPROCS (file creation waits on the kernel)
	Progress Progress
	Logger   *slog.Logger
	// RootMode and RootMTime are applied to the destination itself when
	// the whole tree is restored and the destination did not exist before
	// (RootMode 0 leaves it alone).
	RootMode  uint32
	RootMTime int64
	// ContinueOnError restores everything that damaged data does not
	// break instead of stopping at the first damaged blob: a file whose
	// content cannot be read (a blob corrupt, missing or in an unreadable
	// pack, chunks that do not add up to its size) is skipped, and what
	// was written of it removed, so no partial file stands in its place; a
	// directory whose tree cannot be read is not created. Each is listed
	// in RestoreStats.Skipped, and Restore returns the stats with an
	// error that wraps object.ErrCorrupt. Errors of the destination (no
	// space, no permission), refused entries and a damaged top tree (or
	// include path) still stop the restore.
	ContinueOnError bool
	// RefuseCaseCollisions refuses, before creating any of its entries, a
	// directory holding two names that differ only in case (see
	// CaseCollision), which a case-insensitive filesystem would merge
	// into one entry. Restores on macOS and Windows always refuse them
	// (platformRefusesCaseCollisions); set it to refuse them elsewhere
	// too, e.g. on Linux into a case-insensitive mount.
	RefuseCaseCollisions bool
	// Filters undo the filters files were stored through (Node.Filter):
	// such a file is written as its filter's smudge command makes it. A
	// filtered file without Filters fails the restore, naming the filter.
	Filters Filters
}

// restoreMode is the mode a restore gives a file or directory: the stored
// permission bits without setuid, setgid and sticky, as GNU tar extracts
// for a user other than root. A restored tree must not hand out
// privileges that whoever stored (or uploaded) it chose.
func restoreMode(m uint32) uint32 { return m & 0o777 }

// RestoreStats counts what a restore did.
type RestoreStats struct {
	Files    int64         `json:"files"`
	Dirs     int64         `json:"dirs"`
	Symlinks int64         `json:"symlinks"`
	Bytes    int64         `json:"bytes"`
	Duration time.Duration `json:"duration_ns"`
	// SymlinksSkipped counts the symlinks left out because this process
	// may not create one (Windows without Developer Mode or the
	// SeCreateSymbolicLinkPrivilege); each is logged as a warning.
	SymlinksSkipped int64 `json:"symlinks_skipped,omitempty"`
	// Skipped lists what a restore with ContinueOnError could not
	// restore, sorted by path.
	Skipped []Skipped `json:"skipped,omitempty"`
}

// Skipped is an entry a restore left out because its data is damaged.
type Skipped struct {
	Path   string `json:"path"` // slash-separated, relative to the destination; a directory ends in "/"
	Reason string `json:"reason"`
}

type restorer struct {
	repo   BlobLoader
	ctx    context.Context
	cancel context.CancelFunc
	prog   Progress
	jobs   chan restoreJob
	umask  uint32 // the process's (0 on Windows, which has none)
	dest   string
	keepOn bool // ContinueOnError
	fold   bool // refuse case collisions
	log    *slog.Logger
	a      struct{ files, dirs, links, linksSkipped, bytes atomic.Int64 }
	errMu  sync.Mutex
	err    error
	skips  []Skipped
	stack  []*rdir // the walk's directories, the destination first
	filt   Filters
	pre    prefetcher // nil: no reads ahead (a local repository)
}

type restoreJob struct {
	dir   *rdir
	node  Node
	batch *rbatch // read ahead with others (nil: not)
}

// Restore writes the tree into dest (created if missing). Files are written
// in parallel; every blob is verified; modes and mtimes are set last. On
// Unix, entries are created with openat/mkdirat relative to directory
// descriptors opened with O_NOFOLLOW, so nothing is written through a
// symlink or outside dest. On Windows, which has no such calls, entries
// are reached by path: a name Windows would read as a path, a stream or a
// device is refused (CheckWindowsName), and an existing entry must be a
// plain directory (not a symlink or junction) to be entered; only the
// read-only attribute of files stands for a mode there, and a symlink
// that the process may not create (no Developer Mode, no privilege) is
// skipped with a warning and counted in SymlinksSkipped (see
// restore_windows.go). On macOS and Windows, whose filesystems ignore case
// by default, a directory holding two names that differ only in case is
// refused with ErrUnsafePath naming both (RefuseCaseCollisions).
// A directory that existed before (dest itself included) keeps its mode
// and mtime; setuid, setgid and sticky bits are never restored. Memory and
// open descriptors do not grow with the depth of the tree.
func Restore(ctx context.Context, repo BlobLoader, tree object.ID, dest string, opts RestoreOptions) (*RestoreStats, error) {
	start := time.Now()
	if opts.Workers <= 0 {
		opts.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pre, _ := repo.(prefetcher)
	if pre != nil && !pre.ReadsAhead() {
		pre = nil
	}
	queue := 256
	if pre != nil {
		queue = walkerQueue
	}
	r := &restorer{repo: repo, ctx: ctx, cancel: cancel, prog: orNone(opts.Progress), jobs: make(chan restoreJob, queue),
		dest: dest, keepOn: opts.ContinueOnError, fold: opts.RefuseCaseCollisions || platformRefusesCaseCollisions,
		log: opts.Logger, filt: opts.Filters, pre: pre}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.umask = processUmask()

	_, statErr := os.Lstat(dest)
	existed := statErr == nil
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	root, err := r.openRoot()
	if err != nil {
		return nil, err
	}
	defer r.closeRoot(root)
	root.pending.Store(1)
	r.stack = append(r.stack, root)

	// the workers' queue: the walker's, or on a remote backend the
	// batches read ahead of them
	work := r.jobs
	if pre != nil {
		ahead := make(chan restoreJob, batchFiles)
		go r.readAhead(pre, r.jobs, ahead)
		work = ahead
	}
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// grown to the largest chunk this worker meets (at most the
			// chunker's maximum), not allocated at that size up front
			var buf []byte
			for j := range work {
				if ctx.Err() == nil {
					if err := r.restoreFile(j, &buf); err != nil {
						r.failOrSkip(err, r.rel(j.dir, j.node.Name, false))
						r.prog.AddDone(1, 0)
					}
				}
				j.batch.fileDone()
				r.done(j.dir)
				r.unpin(j.dir)
			}
		}()
	}
	err = r.start(root, tree, opts.Include)
	if err != nil {
		r.fail(err)
	}
	r.done(root)
	close(r.jobs)
	wg.Wait()
	if err := r.firstErr(); err != nil {
		return nil, err
	}
	if len(opts.Include) == 0 && opts.RootMode != 0 && !existed {
		if err := r.setRootMeta(root, opts.RootMode, opts.RootMTime); err != nil {
			return nil, err
		}
	}
	st := &RestoreStats{Files: r.a.files.Load(), Dirs: r.a.dirs.Load(), Symlinks: r.a.links.Load(),
		SymlinksSkipped: r.a.linksSkipped.Load(), Bytes: r.a.bytes.Load(), Duration: time.Since(start)}
	if len(r.skips) > 0 {
		slices.SortFunc(r.skips, func(a, b Skipped) int { return strings.Compare(a.Path, b.Path) })
		st.Skipped = r.skips
		return st, fmt.Errorf("restore: %d damaged entr%s not restored (%s first): %w",
			len(r.skips), plural(len(r.skips), "y", "ies"), r.skips[0].Path, object.ErrCorrupt)
	}
	return st, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func (r *restorer) fail(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
	r.cancel()
}

// failOrSkip stops the restore on err, or, with ContinueOnError and err
// damage of stored data, lists path as skipped.
func (r *restorer) failOrSkip(err error, path string) {
	if !r.keepOn || !isDamage(err) || r.ctx.Err() != nil {
		r.fail(err)
		return
	}
	r.errMu.Lock()
	r.skips = append(r.skips, Skipped{Path: path, Reason: err.Error()})
	r.errMu.Unlock()
}

// isDamage reports whether err says stored data cannot be read: a blob
// corrupt, not indexed or in a missing or unreadable pack, a tree that does
// not decode.
func isDamage(err error) bool {
	for _, e := range []error{object.ErrCorrupt, object.ErrBlobNotFound, object.ErrNotFound, object.ErrBadPack, io.ErrUnexpectedEOF, ErrBadTree} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (r *restorer) firstErr() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.err == nil && r.ctx.Err() != nil {
		return r.ctx.Err()
	}
	return r.err
}

// rel is the slash-separated path of name in d relative to the
// destination, built from the parents only when asked (a message, a
// skipped entry), so no directory holds a path string.
func (r *restorer) rel(d *rdir, name string, dir bool) string {
	var parts []string
	if name != "" {
		parts = append(parts, name)
	}
	for ; d != nil && d.parent != nil; d = d.parent {
		parts = append(parts, d.name)
	}
	slices.Reverse(parts)
	p := strings.Join(parts, "/")
	if dir && p != "" {
		p += "/"
	}
	return p
}

// where is the path of name in d for messages.
func (r *restorer) where(d *rdir, name string) string {
	return filepath.Join(r.dest, filepath.FromSlash(r.rel(d, name, false)))
}

func (r *restorer) loadTree(id object.ID, d *rdir, name string) ([]Node, error) {
	data, err := r.repo.LoadBlob(r.ctx, id, nil)
	if err != nil {
		return nil, fmt.Errorf("restore %s: tree %s: %w", r.whereDir(d, name), id.Short(), err)
	}
	nodes, err := DecodeTree(data)
	if err != nil {
		return nil, fmt.Errorf("restore %s: tree %s: %w", r.whereDir(d, name), id.Short(), err)
	}
	return nodes, nil
}

func (r *restorer) whereDir(d *rdir, name string) string {
	if d == nil {
		return "/"
	}
	return r.where(d, name)
}

// CleanInclude validates an include path and splits it into elements.
func CleanInclude(include string) ([]string, error) {
	include = strings.Trim(include, "/")
	if include == "" || include == "." {
		return nil, nil
	}
	parts := strings.Split(path.Clean(include), "/")
	for _, p := range parts {
		if err := CheckName(p); err != nil {
			return nil, fmt.Errorf("path %q: %w", include, err)
		}
	}
	return parts, nil
}

// includeTree is a set of include paths as a tree of names; a node with
// all set is restored whole.
type includeTree struct {
	all      bool
	children map[string]*includeTree
}

// includeTreeOf merges include paths: no path, or "." among them, is the
// whole tree; a path inside another one adds nothing.
func includeTreeOf(includes []string) (*includeTree, error) {
	if len(includes) == 0 {
		return &includeTree{all: true}, nil
	}
	t := &includeTree{}
	for _, inc := range includes {
		parts, err := CleanInclude(inc)
		if err != nil {
			return nil, err
		}
		n := t
		for _, p := range parts {
			if n.all {
				break
			}
			if n.children == nil {
				n.children = map[string]*includeTree{}
			}
			c := n.children[p]
			if c == nil {
				c = &includeTree{}
				n.children[p] = c
			}
			n = c
		}
		n.all, n.children = true, nil
	}
	return t, nil
}

// start walks down to the include paths, creating the directories on the
// way, and restores what they name.
func (r *restorer) start(root *rdir, tree object.ID, includes []string) error {
	want, err := includeTreeOf(includes)
	if err != nil {
		return err
	}
	nodes, err := r.loadTree(tree, nil, "")
	if err != nil {
		return err
	}
	return r.startIn(root, nodes, want, nil)
}

// startIn restores the part of dir (whose entries are nodes) that want
// names; at is dir's path in the tree.
func (r *restorer) startIn(dir *rdir, nodes []Node, want *includeTree, at []string) error {
	if want.all {
		if err := r.checkCase(func() string { return r.whereDir(dir, "") }, nodes); err != nil {
			return err
		}
		return r.dirEntries(dir, nodes)
	}
	for _, name := range slices.Sorted(maps.Keys(want.children)) {
		w := want.children[name]
		path := strings.Join(append(slices.Clone(at), name), "/")
		k := slices.IndexFunc(nodes, func(n Node) bool { return n.Name == name })
		if k < 0 {
			return fmt.Errorf("restore: %s: %w", path, ErrNotFound)
		}
		found := &nodes[k]
		if w.all {
			var err error
			if found.Type == Dir {
				err = r.subdir(dir, found, false)
			} else {
				err = r.entry(dir, found)
			}
			if err != nil {
				return err
			}
			continue
		}
		if found.Type != Dir {
			return fmt.Errorf("restore: %s is a %s, not a directory", path, found.Type)
		}
		sub, err := r.loadTree(found.Subtree, dir, found.Name)
		if err != nil {
			return err
		}
		child, err := r.mkdir(dir, found)
		if err != nil {
			return err
		}
		r.push(child)
		err = r.startIn(child, sub, w, append(slices.Clone(at), name))
		// an intermediate directory gets its metadata too, once done
		if perr := r.pop(); perr != nil && err == nil {
			err = perr
		}
		r.done(child)
		r.unpin(child)
		if err != nil {
			return err
		}
	}
	return nil
}

// checkCase refuses the entries of a directory when two differ only in
// case and the restore refuses that. where names the directory for the
// message; it is called only then (building a path costs time in its
// depth, and a restore checks every directory).
func (r *restorer) checkCase(where func() string, nodes []Node) error {
	if !r.fold || len(nodes) < 2 {
		return nil
	}
	names := make([]string, len(nodes))
	for i := range nodes {
		names[i] = nodes[i].Name
	}
	if a, b, ok := CaseCollision(names); ok {
		return fmt.Errorf("restore: %w: %s holds both %q and %q, which differ only in case: a case-insensitive filesystem (the default on macOS and Windows) would make them one entry",
			ErrUnsafePath, where(), a, b)
	}
	return nil
}

func (r *restorer) dirEntries(dir *rdir, nodes []Node) error {
	for i := range nodes {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if err := r.entry(dir, &nodes[i]); err != nil {
			return err
		}
	}
	return nil
}

// entry restores one node into dir, the directory the walk is in.
func (r *restorer) entry(dir *rdir, n *Node) error {
	if err := CheckName(n.Name); err != nil {
		return fmt.Errorf("restore: refusing entry %q in %s: %w", n.Name, r.whereDir(dir, ""), err)
	}
	switch n.Type {
	case File:
		dir.pending.Add(1)
		r.pinOpen(dir)
		select {
		case r.jobs <- restoreJob{dir: dir, node: *n}:
		case <-r.ctx.Done():
			dir.pending.Add(-1)
			r.unpin(dir)
			return r.ctx.Err()
		}
		return nil
	case Symlink:
		made, err := r.symlink(dir, n)
		if err != nil {
			return err
		}
		if made {
			r.a.links.Add(1)
		} else {
			r.a.linksSkipped.Add(1)
		}
		return nil
	case Dir:
		return r.subdir(dir, n, r.keepOn)
	}
	return fmt.Errorf("restore %s: unknown entry type %d", r.where(dir, n.Name), n.Type)
}

// subdir restores a directory entry: its tree is read first, so that a
// damaged one (skipped with ContinueOnError) leaves nothing behind.
func (r *restorer) subdir(dir *rdir, n *Node, skipDamage bool) error {
	nodes, err := r.loadTree(n.Subtree, dir, n.Name)
	if err != nil {
		if skipDamage && isDamage(err) {
			r.failOrSkip(err, r.rel(dir, n.Name, true))
			return nil
		}
		return err
	}
	if err := r.checkCase(func() string { return r.where(dir, n.Name) }, nodes); err != nil {
		return err
	}
	child, err := r.mkdir(dir, n)
	if err != nil {
		return err
	}
	r.push(child)
	err = r.dirEntries(child, nodes)
	if perr := r.pop(); perr != nil && err == nil {
		err = perr
	}
	r.done(child)
	r.unpin(child)
	return err
}

// writeContent writes the chunks of file n (in dir) to w, verified, and
// checks that they add up to the size the tree gives.
// sparseWriter is a file a restore can leave holes in.
type sparseWriter interface {
	io.Seeker
	Truncate(size int64) error
}

// runLoader is a repository that loads a file's chunks with as few reads
// as their places allow (object.Repository.LoadRun).
type runLoader interface {
	LoadRun(ctx context.Context, ids []object.ID, fn func(i int, data []byte) error) error
}

// zeros is compared against to find chunks of zeros.
var zeros = make([]byte, 64<<10)

// allZero reports whether b is at least a page long and holds only zeros
// (a shorter run is not worth a hole).
func allZero(b []byte) bool {
	if len(b) < 4096 {
		return false
	}
	for len(b) > 0 {
		k := min(len(b), len(zeros))
		if !bytes.Equal(b[:k], zeros[:k]) {
			return false
		}
		b = b[k:]
	}
	return true
}

// writeFiltered writes what n's filter makes of its stored content to w.
func (r *restorer) writeFiltered(w io.Writer, dir *rdir, n *Node, buf *[]byte) (int64, error) {
	if r.filt == nil {
		return 0, fmt.Errorf("restore %s: it was stored through filter %q, and no filters are configured (storage.filters)", r.where(dir, n.Name), n.Filter)
	}
	stored := *n
	stored.Filter = ""
	cw := &countingWriter{w: w}
	err := through(func(pw io.Writer) error {
		_, err := r.writeContent(pw, dir, &stored, buf)
		return err
	}, func(in io.Reader, out io.Writer) error {
		return r.filt.Smudge(r.ctx, n.Filter, r.rel(dir, n.Name, false), in, out)
	}, cw)
	if err != nil {
		return cw.n, fmt.Errorf("restore %s through filter %q: %w", r.where(dir, n.Name), n.Filter, err)
	}
	return cw.n, nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeContent writes a file's chunks to w. A chunk of zeros (a hole the
// chunker cut, or zeros written out) is skipped with a seek when w can
// seek and be truncated, so a sparse file restores sparse.
func (r *restorer) writeContent(w io.Writer, dir *rdir, n *Node, buf *[]byte) (int64, error) {
	if n.Filter != "" {
		return r.writeFiltered(w, dir, n, buf)
	}
	sparse, _ := w.(sparseWriter)
	var written int64
	hole := false
	emit := func(data []byte) error {
		if hole = sparse != nil && allZero(data); hole {
			if _, err := sparse.Seek(int64(len(data)), io.SeekCurrent); err != nil {
				return fmt.Errorf("restore: seek in %s: %w", r.where(dir, n.Name), err)
			}
		} else if _, err := w.Write(data); err != nil {
			return fmt.Errorf("restore: write %s: %w", r.where(dir, n.Name), err)
		}
		written += int64(len(data))
		r.prog.AddDone(0, int64(len(data)))
		return nil
	}
	if rl, ok := r.repo.(runLoader); ok && len(n.Content) > 1 {
		// neighbouring chunks in one request (one ranged GET on S3)
		var werr error
		fn := func(_ int, data []byte) error {
			werr = emit(data)
			return werr
		}
		var err error
		if r.pre != nil && int64(n.Size) > batchBytes {
			err = r.loadAhead(rl, n, fn)
		} else {
			err = rl.LoadRun(r.ctx, n.Content, fn)
		}
		if werr != nil {
			return written, werr
		}
		if err != nil {
			return written, fmt.Errorf("restore %s: %w", r.where(dir, n.Name), err)
		}
	} else {
		for _, id := range n.Content {
			data, err := r.repo.LoadBlob(r.ctx, id, (*buf)[:0])
			if err != nil {
				return written, fmt.Errorf("restore %s: %w", r.where(dir, n.Name), err)
			}
			if cap(data) > cap(*buf) {
				*buf = data[:0]
			}
			if err := emit(data); err != nil {
				return written, err
			}
		}
	}
	if hole && written == int64(n.Size) {
		// the file ends in a hole: give it its length
		if err := sparse.Truncate(written); err != nil {
			return written, fmt.Errorf("restore: truncate %s: %w", r.where(dir, n.Name), err)
		}
	}
	if written != int64(n.Size) {
		return written, fmt.Errorf("restore %s: %w: chunks hold %d bytes, the tree says %d", r.where(dir, n.Name), object.ErrCorrupt, written, n.Size)
	}
	return written, nil
}
