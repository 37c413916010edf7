package snapshot

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/object"
)

// ErrBadTar marks a tar stream that cannot be imported.
var ErrBadTar = errors.New("snapshot: bad tar entry")

// memNode is a tree entry while a tar stream is being imported.
type memNode struct {
	Node
	kids map[string]*memNode // directories only
}

func newMemDir(mode uint32, mtime int64) *memNode {
	return &memNode{Node: Node{Type: Dir, Mode: mode, MTime: mtime}, kids: map[string]*memNode{}}
}

// CleanTarName validates a tar entry name and splits it into path elements
// ("" or "./" is the root). Absolute names, ".." elements and NUL are refused.
func CleanTarName(name string) ([]string, error) {
	if strings.ContainsRune(name, 0) {
		return nil, fmt.Errorf("%w: %s holds NUL", ErrUnsafePath, shortName(name))
	}
	if strings.HasPrefix(name, "/") {
		return nil, fmt.Errorf("%w: %s is absolute", ErrUnsafePath, shortName(name))
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return nil, fmt.Errorf("%w: %s climbs out with ..", ErrUnsafePath, shortName(name))
		}
		if err := CheckName(p); err != nil {
			return nil, fmt.Errorf("%s: %w", shortName(name), err)
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// StoreTar stores the entries of a tar stream as a tree, streaming file
// content through the chunker (nothing is extracted to disk). Entries that
// would escape the root (absolute names, "..", a path through a symlink or
// a file) are refused with an error naming the entry. Hard links become
// copies of their target (and count toward Limit with their target's
// size); devices and fifos are skipped. Names over MaxName bytes, paths
// past MaxPath or MaxDepth, entries with more than MaxHeaderMeta bytes of
// PAX records (besides the path) and trees of more than MaxEntries entries
// are refused up front, so memory stays linear in the entries stored. A
// deep path costs memory linear in its depth: a node per level, names
// copied out of the header, and one path buffer while the trees are saved.
func StoreTar(ctx context.Context, repo blobRepo, r io.Reader, opts StoreOptions) (*StoreResult, error) {
	start := time.Now()
	t := newTarImport(ctx, repo, r, &opts)
	if err := t.readAll(); err != nil {
		t.g.Wait()
		return nil, err
	}
	if err := t.g.Wait(); err != nil {
		return nil, err
	}
	stats := &t.stats
	stats.BytesAdded = t.added.Load()
	stats.BlobsAdded = t.blobs.Load()
	visit := opts.Visit
	if opts.Delta != nil {
		// no parent: every file is added (StoreResult.DeltaBase stays zero)
		visit = func(p string, n *Node) {
			if opts.Visit != nil {
				opts.Visit(p, n)
			}
			opts.Delta(p, n, 1)
		}
	}
	id, err := saveMemTree(ctx, repo, t.root, &pathBuf{}, visit, stats)
	if err != nil {
		return nil, err
	}
	stats.Duration = time.Since(start)
	return &StoreResult{Tree: id, RootMode: t.root.Mode, RootMTime: t.root.MTime, Stats: *stats}, nil
}

// tarImport is one StoreTar under way: the tree it builds in memory, what
// it counted, and the blob uploads it started (at most workers at once,
// each with a buffer of its own).
type tarImport struct {
	repo              blobRepo
	opts              *StoreOptions
	maxPath, maxDepth int
	prog              Progress
	now               int64 // the mtime of directories no entry names
	root              *memNode
	tr                *tar.Reader
	ch                *chunk.Chunker
	entries           int64 // in the tree so far (MaxEntries)
	stats             StoreStats
	added, blobs      atomic.Int64 // new bytes and blobs the uploads wrote
	g                 *errgroup.Group
	gctx              context.Context
	bufs              chan []byte // the uploads' buffers
	// readBuf grows to what the entries need: a tar of small files never
	// allocates (and clears) a maximum-size chunk
	readBuf []byte
}

func newTarImport(ctx context.Context, repo blobRepo, r io.Reader, opts *StoreOptions) *tarImport {
	t := &tarImport{repo: repo, opts: opts, prog: orNone(opts.Progress), now: time.Now().UnixNano(),
		tr: tar.NewReader(r), ch: chunk.New(opts.Pol)}
	t.maxPath, t.maxDepth = opts.pathLimits()
	t.root = newMemDir(0o755, t.now)
	t.g, t.gctx = errgroup.WithContext(ctx)
	workers := max(2, runtime.GOMAXPROCS(0))
	t.g.SetLimit(workers)
	t.bufs = make(chan []byte, workers+1)
	for range workers + 1 {
		t.bufs <- nil
	}
	return t
}

// count adds n entries to the tree and checks MaxEntries.
func (t *tarImport) count(n int64, name string) error {
	t.entries += n
	if t.opts.MaxEntries > 0 && t.entries > t.opts.MaxEntries {
		return fmt.Errorf("%w: the tree holds more than %d entries (at entry %s)", ErrEntryLimit, t.opts.MaxEntries, shortName(name))
	}
	return nil
}

// save starts the upload of a copy of data as a data blob and returns its id.
func (t *tarImport) save(data []byte) (object.ID, error) {
	id := t.repo.ID(data)
	var buf []byte
	select {
	case buf = <-t.bufs:
	case <-t.gctx.Done():
		return id, t.gctx.Err()
	}
	buf = append(buf[:0], data...)
	t.g.Go(func() error {
		defer func() { t.bufs <- buf[:0] }()
		n, err := t.repo.SaveBlob(t.gctx, object.DataBlob, id, buf)
		if n > 0 {
			t.added.Add(n)
			t.blobs.Add(1)
		}
		return err
	})
	return id, nil
}

func (t *tarImport) grow(n int) []byte {
	if cap(t.readBuf) < n {
		t.readBuf = make([]byte, n)
	}
	return t.readBuf[:n]
}

// readAll reads every entry of the stream into the tree.
func (t *tarImport) readAll() error {
	for {
		if err := t.gctx.Err(); err != nil {
			return err
		}
		hdr, err := t.tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadTar, err)
		}
		if err := t.entry(hdr); err != nil {
			return err
		}
	}
}

// checkHeader refuses what an entry's header alone shows to be too much
// or unsafe, and returns the parts of its cleaned name.
func (t *tarImport) checkHeader(hdr *tar.Header) ([]string, error) {
	// cheap bounds first: a 20,000-deep name must not cost a directory
	// per level before it is refused
	if err := checkPath(strings.TrimSuffix(hdr.Name, "/"), 0, t.maxPath, t.maxDepth); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTar, err)
	}
	if meta := paxSize(hdr); meta > MaxHeaderMeta {
		return nil, fmt.Errorf("%w: entry %s carries %d bytes of PAX records (at most %d)", ErrBadTar, shortName(hdr.Name), meta, MaxHeaderMeta)
	}
	parts, err := CleanTarName(hdr.Name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadTar, err)
	}
	if len(parts) > t.maxDepth {
		return nil, fmt.Errorf("%w: %w", ErrBadTar, checkPath(hdr.Name, len(parts), t.maxPath, t.maxDepth))
	}
	if limit := t.opts.Limit; hdr.Typeflag == tar.TypeReg && limit > 0 && t.stats.Size+hdr.Size > limit {
		// the header already says the tree will pass the limit
		return nil, fmt.Errorf("%w: the tree holds more than %d bytes (entry %q claims %d)", ErrLimit, limit, hdr.Name, hdr.Size)
	}
	if isSparse(hdr) && hdr.Size > maxSparse {
		// a few bytes of sparse map can claim exabytes of holes
		return nil, fmt.Errorf("%w: entry %q: a sparse file of %d bytes (sparse files over %d bytes are not supported)",
			ErrBadTar, hdr.Name, hdr.Size, int64(maxSparse))
	}
	return parts, nil
}

// entry adds one entry to the tree.
func (t *tarImport) entry(hdr *tar.Header) error {
	parts, err := t.checkHeader(hdr)
	if err != nil {
		return err
	}
	mode := uint32(hdr.Mode) & ModeMask
	mtime := hdr.ModTime.UnixNano()
	if len(parts) == 0 {
		if hdr.Typeflag == tar.TypeDir {
			t.root.Mode, t.root.MTime = mode, mtime
		}
		return nil
	}
	parent, made, err := memParent(t.root, parts, hdr.Name, t.now)
	if err != nil {
		return err
	}
	if err := t.count(int64(made), hdr.Name); err != nil {
		return err
	}
	// a copy: the part shares the header's whole name, which a node kept
	// for the rest of the import must not hold
	name := strings.Clone(parts[len(parts)-1])
	n := &memNode{Node: Node{Name: name, Mode: mode, MTime: mtime, UID: uint32(hdr.Uid), GID: uint32(hdr.Gid)}}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if old, ok := parent.kids[name]; ok {
			if old.Type != Dir {
				return fmt.Errorf("%w: entry %q: a %s of that name came before", ErrBadTar, hdr.Name, old.Type)
			}
			old.Mode, old.MTime = mode, mtime
			return nil
		}
		n.Type = Dir
		n.kids = map[string]*memNode{}
		t.stats.Dirs++
	case tar.TypeReg:
		if err := t.file(hdr, n); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if hdr.Linkname == "" || strings.ContainsRune(hdr.Linkname, 0) || len(hdr.Linkname) > maxNameLen {
			return fmt.Errorf("%w: entry %q: unusable link target", ErrBadTar, hdr.Name)
		}
		n.Type = Symlink
		n.Target = hdr.Linkname
		t.stats.Symlinks++
	case tar.TypeLink:
		if err := t.hardLink(hdr, n); err != nil {
			return err
		}
	case tar.TypeXGlobalHeader:
		return nil
	default:
		t.stats.Skipped++
		if t.opts.Logger != nil {
			t.opts.Logger.Warn("skipping special tar entry", "entry", hdr.Name, "type", string(hdr.Typeflag))
		}
		return nil
	}
	return t.place(parent, n, hdr.Name)
}

// place puts n into parent, in place of an earlier entry of its name
// (tar -r appends a later version of a file), never of a directory.
func (t *tarImport) place(parent, n *memNode, entry string) error {
	old, replaced := parent.kids[n.Name]
	if replaced && old.Type == Dir {
		return fmt.Errorf("%w: entry %q: a directory of that name came before", ErrBadTar, entry)
	}
	if !replaced {
		if err := t.count(1, entry); err != nil {
			return err
		}
	} else if old.Type == File {
		// a later entry of the same name (tar -r) wins
		t.stats.FilesNew--
		t.stats.Size -= int64(old.Size)
	} else if old.Type == Symlink {
		t.stats.Symlinks--
	}
	parent.kids[n.Name] = n
	return nil
}

// file reads a regular file's content into blobs.
func (t *tarImport) file(hdr *tar.Header, n *memNode) error {
	n.Type = File
	content, total, err := t.content(hdr)
	if err != nil {
		return err
	}
	n.Content, n.Size = content, uint64(total)
	t.stats.FilesNew++
	t.stats.Size += total
	t.stats.BytesRead += total
	t.prog.AddDone(1, 0)
	return t.checkLimits(0)
}

// content chunks the entry's data (a small file is one blob) and starts
// its uploads.
func (t *tarImport) content(hdr *tar.Header) (content []object.ID, total int64, err error) {
	if hdr.Size < chunk.MinSize {
		b := t.grow(max(int(hdr.Size), 4<<10))[:hdr.Size]
		k, err := io.ReadFull(t.tr, b)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: entry %q: %v", ErrBadTar, hdr.Name, err)
		}
		if k > 0 {
			id, err := t.save(b[:k])
			if err != nil {
				return nil, 0, err
			}
			content = append(content, id)
		}
		return content, int64(k), nil
	}
	t.ch.Reset(t.tr)
	for {
		data, err := t.ch.Next(t.grow(chunk.MaxSize))
		if err == io.EOF {
			return content, total, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%w: entry %q: %v", ErrBadTar, hdr.Name, err)
		}
		id, err := t.save(data)
		if err != nil {
			return nil, 0, err
		}
		content = append(content, id)
		total += int64(len(data))
		t.prog.AddDone(0, int64(len(data)))
		// check the limits per chunk, not only per file: a sparse entry of
		// a few bytes can claim exabytes of holes that the reader expands
		// to zeros (found by TestStoreTarSparseBombStopsAtLimit)
		if err := t.gctx.Err(); err != nil {
			return nil, 0, err
		}
		if err := t.checkLimits(total); err != nil {
			return nil, 0, err
		}
	}
}

// checkLimits checks the tree's size, with pending bytes of a file being
// read, against Limit, and the new bytes against AddedLimit.
func (t *tarImport) checkLimits(pending int64) error {
	if t.opts.Limit > 0 && t.stats.Size+pending > t.opts.Limit {
		return fmt.Errorf("%w: the tree holds more than %d bytes", ErrLimit, t.opts.Limit)
	}
	if t.opts.AddedLimit > 0 && t.added.Load() > t.opts.AddedLimit {
		return fmt.Errorf("%w: more than %d new bytes", ErrAddedLimit, t.opts.AddedLimit)
	}
	return nil
}

// hardLink makes n a copy of the earlier file the link names.
func (t *tarImport) hardLink(hdr *tar.Header, n *memNode) error {
	if len(hdr.Linkname) > t.maxPath {
		return fmt.Errorf("%w: hard link %s: target %s", ErrBadTar, shortName(hdr.Name), shortName(hdr.Linkname))
	}
	tparts, err := CleanTarName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("%w: hard link %q: %w", ErrBadTar, hdr.Name, err)
	}
	target := memLookup(t.root, tparts)
	if target == nil || target.Type != File {
		return fmt.Errorf("%w: hard link %q: target %q is not an earlier file", ErrBadTar, hdr.Name, hdr.Linkname)
	}
	n.Type = File
	n.Content, n.Size = slices.Clone(target.Content), target.Size
	t.stats.FilesNew++
	// a link is another copy of its target in the tree (and on restore),
	// so its size counts toward the limit like one
	t.stats.Size += int64(target.Size)
	t.prog.AddDone(1, 0)
	if t.opts.Limit > 0 && t.stats.Size > t.opts.Limit {
		return fmt.Errorf("%w: the tree holds more than %d bytes (hard link %s adds %d)", ErrLimit, t.opts.Limit, shortName(hdr.Name), target.Size)
	}
	return nil
}

// maxSparse bounds the logical size of a sparse tar entry.
const maxSparse = 1 << 30

// isSparse reports a GNU or PAX sparse entry.
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// paxSize is the size of an entry's PAX records but its path and link
// target, which MaxPath bounds (a path may be longer than MaxHeaderMeta).
func paxSize(hdr *tar.Header) int {
	n := 0
	for k, v := range hdr.PAXRecords {
		if k == "path" || k == "linkpath" {
			continue
		}
		n += len(k) + len(v)
	}
	return n
}

// memParent returns the directory that holds parts' last element, creating
// missing directories (made counts them) and refusing to pass through
// anything else.
func memParent(root *memNode, parts []string, name string, now int64) (dir *memNode, made int, err error) {
	dir = root
	for i, p := range parts[:len(parts)-1] {
		next, ok := dir.kids[p]
		if !ok {
			next = newMemDir(0o755, now)
			next.Name = strings.Clone(p) // not the header's whole name
			dir.kids[next.Name] = next
			made++
		}
		if next.Type != Dir {
			return nil, made, fmt.Errorf("%w: entry %q: %q is a %s (refusing to write through it)",
				ErrUnsafePath, name, strings.Join(parts[:i+1], "/"), next.Type)
		}
		dir = next
	}
	return dir, made, nil
}

func memLookup(root *memNode, parts []string) *memNode {
	n := root
	for _, p := range parts {
		if n.kids == nil {
			return nil
		}
		n = n.kids[p]
		if n == nil {
			return nil
		}
	}
	return n
}

// saveMemTree saves the tree of directory d, at path p, depth first. It
// keeps one path buffer for every level (a tree 20,000 levels deep costs
// memory linear in its depth) and builds a path string only for visit,
// once per file, and for an error. A saved directory drops its children.
func saveMemTree(ctx context.Context, repo blobRepo, d *memNode, p *pathBuf, visit func(string, *Node), st *StoreStats) (object.ID, error) {
	names := make([]string, 0, len(d.kids))
	for k := range d.kids {
		names = append(names, k)
	}
	slices.Sort(names)
	nodes := make([]Node, 0, len(names))
	for _, k := range names {
		c := d.kids[k]
		if c.Type == Dir {
			mark := p.push(k)
			id, err := saveMemTree(ctx, repo, c, p, visit, st)
			p.pop(mark)
			if err != nil {
				return id, err
			}
			c.Subtree = id
		} else if c.Type == File && visit != nil {
			mark := p.push(k)
			visit(p.String(), &c.Node)
			p.pop(mark)
		}
		nodes = append(nodes, c.Node)
	}
	d.kids = nil
	data := EncodeTree(nodes)
	id := repo.ID(data)
	n, err := repo.SaveBlob(ctx, object.TreeBlob, id, data)
	if err != nil {
		return id, fmt.Errorf("save tree %s: %w", shortName(p.String()), err)
	}
	if n > 0 {
		st.BlobsAdded++
		st.BytesAdded += n
	}
	return id, nil
}

// WriteTar writes the tree as a tar stream (PAX format, so mtimes keep
// their nanoseconds), entries in name order, directories with a trailing
// slash, paths relative to the root.
func WriteTar(ctx context.Context, repo BlobLoader, tree object.ID, w io.Writer) error {
	tw := tar.NewWriter(w)
	var buf []byte
	err := Walk(ctx, repo, tree, func(p string, n *Node) error {
		hdr := &tar.Header{Name: p, Mode: int64(n.Mode), ModTime: time.Unix(0, n.MTime), Uid: int(n.UID), Gid: int(n.GID), Format: tar.FormatPAX}
		switch n.Type {
		case Dir:
			hdr.Typeflag = tar.TypeDir
			hdr.Name += "/"
		case Symlink:
			hdr.Typeflag = tar.TypeSymlink
			hdr.Linkname = n.Target
		case File:
			hdr.Typeflag = tar.TypeReg
			hdr.Size = int64(n.Size)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar %s: %w", p, err)
		}
		if n.Type != File {
			return nil
		}
		for _, id := range n.Content {
			data, err := repo.LoadBlob(ctx, id, buf[:0])
			if err != nil {
				return fmt.Errorf("tar %s: %w", p, err)
			}
			buf = data
			if _, err := tw.Write(data); err != nil {
				return fmt.Errorf("tar %s: %w", p, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
