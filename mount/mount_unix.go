//go:build linux || darwin

package mount

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store"
)

// Mounted is a mounted view; Unmount or an outside `fusermount -u` ends it.
type Mounted struct {
	server *fuse.Server
	end    func() // the read session
	once   sync.Once
}

// Mount serves s read-only at dir (an existing empty directory) until
// Unmount. It holds a read session, so no collection deletes what the view
// shows while it is mounted.
func Mount(ctx context.Context, s *store.Store, dir string, opts Options, log *slog.Logger) (*Mounted, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	end, err := s.BeginRead(ctx)
	if err != nil {
		return nil, err
	}
	top, err := buildTop(s, opts)
	if err != nil {
		end()
		return nil, err
	}
	bg := context.WithoutCancel(ctx)
	root := &staticDir{}
	fsys := &view{s: s, ctx: bg, log: log}
	root.build = func(ctx context.Context) {
		projects := root.NewPersistentInode(ctx, &staticDir{}, fs.StableAttr{Mode: syscall.S_IFDIR})
		root.AddChild("projects", projects, false)
		for _, p := range top {
			pd := projects.NewPersistentInode(ctx, &staticDir{}, fs.StableAttr{Mode: syscall.S_IFDIR})
			projects.AddChild(p.name, pd, false)
			for _, v := range p.versions {
				mode, mtime := v.Root()
				tree, _ := object.ParseID(v.Tree)
				vd := &dirNode{v: fsys, tree: tree, mode: mode, mtime: mtime, path: p.name + "@" + shortID(v.ID)}
				pd.AddChild(shortID(v.ID), pd.NewPersistentInode(ctx, vd, fs.StableAttr{Mode: syscall.S_IFDIR}), false)
			}
			for name, target := range p.links {
				if pd.GetChild(name) != nil {
					continue // a tag that reads like a version id
				}
				l := &fs.MemSymlink{Data: []byte(target)}
				pd.AddChild(name, pd.NewPersistentInode(ctx, l, fs.StableAttr{Mode: syscall.S_IFLNK}), false)
			}
		}
	}
	ttl := cacheTTL
	server, err := fs.Mount(dir, root, &fs.Options{
		EntryTimeout: &ttl, AttrTimeout: &ttl, NegativeTimeout: &ttl,
		MountOptions: fuse.MountOptions{
			Options: []string{"ro"}, FsName: "silo:" + s.Location(), Name: "silo",
			Debug: opts.Debug, MaxReadAhead: 1 << 20,
		},
	})
	if err != nil {
		end()
		return nil, fmt.Errorf("mount %s: %w (is fuse3 installed and /dev/fuse usable?)", dir, err)
	}
	return &Mounted{server: server, end: end}, nil
}

// Wait blocks until the file system is unmounted (by Unmount or from
// outside), then ends the read session.
func (m *Mounted) Wait() {
	m.server.Wait()
	m.once.Do(m.end)
}

// Unmount unmounts the file system; it fails while a process has a file
// open in it (like umount).
func (m *Mounted) Unmount() error {
	if err := m.server.Unmount(); err != nil {
		return err
	}
	m.once.Do(m.end)
	return nil
}

type projectView struct {
	name     string
	versions []store.SnapshotInfo
	links    map[string]string // latest and tags -> version directory
}

// buildTop lists the projects and their versions, with the latest and tag
// links.
func buildTop(s *store.Store, opts Options) ([]projectView, error) {
	var refs []string
	if len(opts.Projects) > 0 {
		refs = opts.Projects
	} else {
		items, err := s.List(store.Filter{})
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if it.Status != store.StatusDeleted {
				refs = append(refs, it.ID)
			}
		}
	}
	var out []projectView
	seen := map[string]bool{}
	for _, ref := range refs {
		p, err := s.Get(ref)
		if err != nil {
			return nil, err
		}
		name := p.Name
		if seen[name] || snapshot.CheckLocalName(name) != nil {
			name = p.ID // two projects of one name, or a name this system cannot show
		}
		seen[name] = true
		vs, err := s.Snapshots(p.ID)
		if err != nil {
			return nil, err
		}
		pv := projectView{name: name, versions: vs, links: map[string]string{}}
		// newest first: the first version carrying a tag is its target
		for i, v := range vs {
			if i == 0 {
				pv.links["latest"] = shortID(v.ID)
			}
			for _, t := range v.VersionTags {
				if _, ok := pv.links[t]; !ok && snapshot.CheckLocalName(t) == nil {
					pv.links[t] = shortID(v.ID)
				}
			}
		}
		out = append(out, pv)
	}
	return out, nil
}

// view is what every node reads through.
type view struct {
	s   *store.Store
	ctx context.Context // lives as long as the mount
	log *slog.Logger
}

// staticDir is a directory whose children are added when it is mounted.
type staticDir struct {
	fs.Inode
	build func(ctx context.Context)
}

var _ = (fs.NodeOnAdder)((*staticDir)(nil))
var _ = (fs.NodeGetattrer)((*staticDir)(nil))

func (d *staticDir) OnAdd(ctx context.Context) {
	if d.build != nil {
		d.build(ctx)
	}
}

func (d *staticDir) Getattr(_ context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o555
	return 0
}

// dirNode is a directory of a version: its tree is read when it is first
// listed or looked in, and kept while the kernel keeps the inode.
type dirNode struct {
	fs.Inode
	v     *view
	tree  object.ID
	mode  uint32
	mtime int64
	path  string // project@version/dir, for messages

	mu     sync.Mutex
	nodes  []snapshot.Node // sorted by name (as trees are)
	loaded bool
}

var _ = (fs.NodeLookuper)((*dirNode)(nil))
var _ = (fs.NodeReaddirer)((*dirNode)(nil))
var _ = (fs.NodeGetattrer)((*dirNode)(nil))

func (d *dirNode) load() ([]snapshot.Node, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.loaded {
		nodes, err := d.v.s.Tree(d.v.ctx, d.tree)
		if err != nil {
			d.v.log.Error("mount: read a directory", "path", d.path, "tree", d.tree.String(), "err", err)
			return nil, syscall.EIO
		}
		slices.SortFunc(nodes, func(a, b snapshot.Node) int { return strings.Compare(a.Name, b.Name) })
		d.nodes, d.loaded = nodes, true
	}
	return d.nodes, 0
}

func (d *dirNode) Getattr(_ context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | (d.mode & 0o7777 &^ 0o222)
	setTime(&out.Attr, d.mtime)
	return 0
}

func (d *dirNode) Readdir(context.Context) (fs.DirStream, syscall.Errno) {
	nodes, errno := d.load()
	if errno != 0 {
		return nil, errno
	}
	list := make([]fuse.DirEntry, 0, len(nodes))
	for i := range nodes {
		list = append(list, fuse.DirEntry{Name: nodes[i].Name, Mode: typeBits(nodes[i].Type), Ino: d.ino(nodes[i].Name)})
	}
	return fs.NewListDirStream(list), 0
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	nodes, errno := d.load()
	if errno != 0 {
		return nil, errno
	}
	i, ok := slices.BinarySearchFunc(nodes, name, func(n snapshot.Node, name string) int { return strings.Compare(n.Name, name) })
	if !ok {
		return nil, syscall.ENOENT
	}
	n := nodes[i]
	p := d.path + "/" + n.Name
	var ops fs.InodeEmbedder
	switch n.Type {
	case snapshot.Dir:
		ops = &dirNode{v: d.v, tree: n.Subtree, mode: n.Mode, mtime: n.MTime, path: p}
	case snapshot.File:
		ops = &fileNode{v: d.v, node: n, path: p}
	case snapshot.Symlink:
		ops = &linkNode{node: n}
	default:
		return nil, syscall.ENOENT
	}
	child := d.NewInode(ctx, ops, fs.StableAttr{Mode: typeBits(n.Type), Ino: d.ino(n.Name)})
	if ga, ok := child.Operations().(fs.NodeGetattrer); ok {
		var a fuse.AttrOut
		ga.Getattr(ctx, nil, &a)
		out.Attr = a.Attr
	}
	return child, 0
}

// ino is a child's inode number: stable for a path, so concurrent lookups
// of one name share an inode.
func (d *dirNode) ino(name string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, d.path)
	h.Write([]byte{0})
	io.WriteString(h, name)
	return h.Sum64() | 1<<63 // clear of the numbers go-fuse hands out
}

func typeBits(t snapshot.NodeType) uint32 {
	switch t {
	case snapshot.Dir:
		return syscall.S_IFDIR
	case snapshot.Symlink:
		return syscall.S_IFLNK
	}
	return syscall.S_IFREG
}

func setTime(a *fuse.Attr, ns int64) {
	t := time.Unix(0, ns)
	a.SetTimes(&t, &t, &t)
}

// fileNode is a regular file of a version.
type fileNode struct {
	fs.Inode
	v    *view
	node snapshot.Node
	path string
}

var _ = (fs.NodeOpener)((*fileNode)(nil))
var _ = (fs.NodeGetattrer)((*fileNode)(nil))

func (f *fileNode) Getattr(_ context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | (f.node.Mode & 0o7777 &^ 0o222)
	out.Size = f.node.Size
	out.Blocks = (f.node.Size + 511) / 512
	out.Uid, out.Gid = f.node.UID, f.node.GID
	setTime(&out.Attr, f.node.MTime)
	return 0
}

func (f *fileNode) Open(_ context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR) != 0 {
		return nil, 0, syscall.EROFS
	}
	r, err := f.v.s.NodeReader(f.v.ctx, &f.node, f.path)
	if err != nil {
		f.v.log.Error("mount: open a file", "path", f.path, "err", err)
		return nil, 0, syscall.EIO
	}
	return &fileHandle{r: r, path: f.path, log: f.v.log}, fuse.FOPEN_KEEP_CACHE, 0
}

// fileHandle reads an open file; it keeps the chunk it read last.
type fileHandle struct {
	mu   sync.Mutex
	r    *store.FileReader
	path string
	log  *slog.Logger
}

var _ = (fs.FileReader)((*fileHandle)(nil))

func (h *fileHandle) Read(_ context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := h.r.Seek(off, io.SeekStart); err != nil {
		return nil, syscall.EINVAL
	}
	n, err := io.ReadFull(h.r, dest)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		h.log.Error("mount: read a file", "path", h.path, "offset", off, "err", err)
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// linkNode is a symlink of a version.
type linkNode struct {
	fs.Inode
	node snapshot.Node
}

var _ = (fs.NodeReadlinker)((*linkNode)(nil))
var _ = (fs.NodeGetattrer)((*linkNode)(nil))

func (l *linkNode) Readlink(context.Context) ([]byte, syscall.Errno) {
	return []byte(l.node.Target), 0
}

func (l *linkNode) Getattr(_ context.Context, _ fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFLNK | 0o777
	out.Size = uint64(len(l.node.Target))
	setTime(&out.Attr, l.node.MTime)
	return 0
}
