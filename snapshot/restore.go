package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/silo-dev/silo/object"
)

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Include restores only this slash-separated path of the tree (a file
	// or a subtree), keeping its path under the destination.
	Include  string
	Workers  int // default: 4 x GOMAXPROCS (file creation waits on the kernel)
	Progress Progress
	Logger   *slog.Logger
	// RootMode and RootMTime are applied to the destination itself when
	// the whole tree is restored and the destination did not exist before
	// (RootMode 0 leaves it alone).
	RootMode  uint32
	RootMTime int64
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
}

type restorer struct {
	repo   BlobLoader
	ctx    context.Context
	cancel context.CancelFunc
	prog   Progress
	jobs   chan restoreJob
	umask  uint32
	a      struct{ files, dirs, links, bytes atomic.Int64 }
	errMu  sync.Mutex
	err    error
}

// rdir is a directory being restored: an open fd, held until every child is
// done, then its mode and mtime are set if the restore created it.
type rdir struct {
	fd      int
	parent  *rdir
	name    string // name in parent
	path    string // for messages
	node    *Node  // nil for the destination itself
	created bool   // made by this restore (an existing directory keeps its mode and mtime)
	pending atomic.Int64
}

type restoreJob struct {
	dir  *rdir
	node Node
}

// Restore writes the tree into dest (created if missing). Files are written
// in parallel; every blob is verified; modes and mtimes are set last. Entries
// are created with openat/mkdirat relative to directory descriptors opened
// with O_NOFOLLOW, so nothing is written through a symlink or outside dest.
// A directory that existed before (dest itself included) keeps its mode
// and mtime; setuid, setgid and sticky bits are never restored.
func Restore(ctx context.Context, repo BlobLoader, tree object.ID, dest string, opts RestoreOptions) (*RestoreStats, error) {
	start := time.Now()
	if opts.Workers <= 0 {
		opts.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &restorer{repo: repo, ctx: ctx, cancel: cancel, prog: orNone(opts.Progress), jobs: make(chan restoreJob, 256)}
	old := syscall.Umask(0)
	syscall.Umask(old)
	r.umask = uint32(old)

	_, statErr := os.Lstat(dest)
	existed := statErr == nil
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	fd, err := unix.Open(dest, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("restore: open %s: %w", dest, err)
	}
	root := &rdir{fd: fd, path: dest}
	root.pending.Store(1)

	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 8<<20)
			for j := range r.jobs {
				if ctx.Err() != nil {
					continue
				}
				if err := r.restoreFile(j, &buf); err != nil {
					r.fail(err)
					continue
				}
				r.done(j.dir)
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
	if opts.Include == "" && opts.RootMode != 0 && !existed {
		if err := unix.Fchmod(fd, restoreMode(opts.RootMode)); err != nil {
			return nil, fmt.Errorf("restore: chmod %s: %w", dest, err)
		}
		ts := []unix.Timespec{unix.NsecToTimespec(opts.RootMTime), unix.NsecToTimespec(opts.RootMTime)}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dest, ts, 0); err != nil {
			return nil, fmt.Errorf("restore: set times of %s: %w", dest, err)
		}
	}
	unix.Close(fd)
	return &RestoreStats{Files: r.a.files.Load(), Dirs: r.a.dirs.Load(), Symlinks: r.a.links.Load(),
		Bytes: r.a.bytes.Load(), Duration: time.Since(start)}, nil
}

func (r *restorer) fail(err error) {
	r.errMu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.errMu.Unlock()
	r.cancel()
}

func (r *restorer) firstErr() error {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.err == nil && r.ctx.Err() != nil {
		return r.ctx.Err()
	}
	return r.err
}

func (r *restorer) loadTree(id object.ID, where string) ([]Node, error) {
	data, err := r.repo.LoadBlob(r.ctx, id, nil)
	if err != nil {
		return nil, fmt.Errorf("restore %s: tree %s: %w", where, id.Short(), err)
	}
	nodes, err := DecodeTree(data)
	if err != nil {
		return nil, fmt.Errorf("restore %s: tree %s: %w", where, id.Short(), err)
	}
	return nodes, nil
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

// start walks down to the include path, creating its directories, then
// restores what is there.
func (r *restorer) start(root *rdir, tree object.ID, include string) error {
	parts, err := CleanInclude(include)
	if err != nil {
		return err
	}
	nodes, err := r.loadTree(tree, "/")
	if err != nil {
		return err
	}
	dir := root
	for i, p := range parts {
		var found *Node
		for k := range nodes {
			if nodes[k].Name == p {
				found = &nodes[k]
				break
			}
		}
		if found == nil {
			return fmt.Errorf("restore: %s: %w", strings.Join(parts[:i+1], "/"), ErrNotFound)
		}
		if i == len(parts)-1 {
			return r.entry(dir, *found)
		}
		if found.Type != Dir {
			return fmt.Errorf("restore: %s is a %s, not a directory", strings.Join(parts[:i+1], "/"), found.Type)
		}
		// intermediate directories get their metadata too, once done
		child, err := r.mkdir(dir, found)
		if err != nil {
			return err
		}
		nodes, err = r.loadTree(found.Subtree, child.path)
		if err != nil {
			r.done(child)
			return err
		}
		// walk on inside child; release the walker's hold on the level above
		next := child
		defer r.done(next)
		dir = child
	}
	return r.dirEntries(dir, nodes)
}

func (r *restorer) dirEntries(dir *rdir, nodes []Node) error {
	for i := range nodes {
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if err := r.entry(dir, nodes[i]); err != nil {
			return err
		}
	}
	return nil
}

// entry restores one node into dir.
func (r *restorer) entry(dir *rdir, n Node) error {
	where := filepath.Join(dir.path, n.Name)
	if err := CheckName(n.Name); err != nil {
		return fmt.Errorf("restore: refusing entry %q in %s: %w", n.Name, dir.path, err)
	}
	switch n.Type {
	case File:
		dir.pending.Add(1)
		select {
		case r.jobs <- restoreJob{dir: dir, node: n}:
		case <-r.ctx.Done():
			dir.pending.Add(-1)
			return r.ctx.Err()
		}
		return nil
	case Symlink:
		if err := r.symlink(dir, &n); err != nil {
			return err
		}
		r.a.links.Add(1)
		return nil
	case Dir:
		child, err := r.mkdir(dir, &n)
		if err != nil {
			return err
		}
		nodes, err := r.loadTree(n.Subtree, where)
		if err == nil {
			err = r.dirEntries(child, nodes)
		}
		r.done(child)
		return err
	}
	return fmt.Errorf("restore %s: unknown entry type %d", where, n.Type)
}

// mkdir creates (or reuses) a directory under dir and opens it without
// following symlinks.
func (r *restorer) mkdir(dir *rdir, n *Node) (*rdir, error) {
	where := filepath.Join(dir.path, n.Name)
	err := unix.Mkdirat(dir.fd, n.Name, 0o700)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("restore: mkdir %s: %w", where, err)
	}
	created := err == nil
	fd, err := unix.Openat(dir.fd, n.Name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("restore: %w: %s exists and is not a directory (refusing to write through it)", ErrUnsafePath, where)
		}
		return nil, fmt.Errorf("restore: open %s: %w", where, err)
	}
	dir.pending.Add(1)
	node := *n
	node.Content = nil
	child := &rdir{fd: fd, parent: dir, name: n.Name, path: where, node: &node, created: created}
	child.pending.Store(1)
	r.a.dirs.Add(1)
	return child, nil
}

// done drops a hold on d; the last one sets its metadata and closes it.
func (r *restorer) done(d *rdir) {
	if d.pending.Add(-1) != 0 {
		return
	}
	if d.parent == nil {
		return // the destination: Restore handles it
	}
	if r.ctx.Err() == nil && d.created {
		if err := unix.Fchmod(d.fd, restoreMode(d.node.Mode)); err != nil {
			r.fail(fmt.Errorf("restore: chmod %s: %w", d.path, err))
		} else if err := setTimes(d.parent.fd, d.name, d.node.MTime); err != nil {
			r.fail(fmt.Errorf("restore: set times of %s: %w", d.path, err))
		}
	}
	unix.Close(d.fd)
	r.done(d.parent)
}

func setTimes(dirfd int, name string, mtime int64) error {
	ts := []unix.Timespec{unix.NsecToTimespec(mtime), unix.NsecToTimespec(mtime)}
	return unix.UtimesNanoAt(dirfd, name, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// removeExisting clears a non-directory entry in the way of a restore.
func removeExisting(dirfd int, name, where string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("restore: %s is a directory in the way", where)
	}
	return unix.Unlinkat(dirfd, name, 0)
}

func (r *restorer) symlink(dir *rdir, n *Node) error {
	where := filepath.Join(dir.path, n.Name)
	err := unix.Symlinkat(n.Target, dir.fd, n.Name)
	if errors.Is(err, unix.EEXIST) {
		if err = removeExisting(dir.fd, n.Name, where); err == nil {
			err = unix.Symlinkat(n.Target, dir.fd, n.Name)
		}
	}
	if err != nil {
		return fmt.Errorf("restore: symlink %s: %w", where, err)
	}
	if err := setTimes(dir.fd, n.Name, n.MTime); err != nil {
		return fmt.Errorf("restore: set times of %s: %w", where, err)
	}
	return nil
}

func (r *restorer) restoreFile(j restoreJob, buf *[]byte) error {
	n := &j.node
	where := filepath.Join(j.dir.path, n.Name)
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(j.dir.fd, n.Name, flags, n.Mode&0o777)
	if errors.Is(err, unix.EEXIST) {
		if err = removeExisting(j.dir.fd, n.Name, where); err == nil {
			fd, err = unix.Openat(j.dir.fd, n.Name, flags, n.Mode&0o777)
		}
	}
	if err != nil {
		return fmt.Errorf("restore: create %s: %w", where, err)
	}
	f := os.NewFile(uintptr(fd), where)
	defer f.Close()
	var written int64
	for _, id := range n.Content {
		data, err := r.repo.LoadBlob(r.ctx, id, (*buf)[:0])
		if err != nil {
			return fmt.Errorf("restore %s: %w", where, err)
		}
		if cap(data) > cap(*buf) {
			*buf = data[:0]
		}
		if _, err := f.Write(data); err != nil {
			return fmt.Errorf("restore: write %s: %w", where, err)
		}
		written += int64(len(data))
		r.prog.AddDone(0, int64(len(data)))
	}
	if written != int64(n.Size) {
		return fmt.Errorf("restore %s: %w: chunks hold %d bytes, the tree says %d", where, object.ErrCorrupt, written, n.Size)
	}
	if mode := restoreMode(n.Mode); mode&r.umask != 0 {
		if err := f.Chmod(os.FileMode(mode)); err != nil {
			return fmt.Errorf("restore: chmod %s: %w", where, err)
		}
	}
	if err := setTimes(j.dir.fd, n.Name, n.MTime); err != nil {
		return fmt.Errorf("restore: set times of %s: %w", where, err)
	}
	r.a.files.Add(1)
	r.a.bytes.Add(written)
	r.prog.AddDone(1, 0)
	return nil
}
