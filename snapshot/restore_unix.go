//go:build unix

package snapshot

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// On Unix a restore works through directory descriptors: every entry is
// created relative to its directory's descriptor, opened with O_NOFOLLOW,
// so nothing is written through a symlink or outside the destination, and
// a path of any length restores.

// platformRefusesCaseCollisions: macOS's filesystem (APFS, like HFS+
// before it) ignores case unless the volume was formatted case-sensitive,
// which few are; a restore there refuses names that differ only in case
// rather than merge them. (On a case-sensitive volume this refuses a tree
// that would restore: restore the colliding entries one by one with
// Include, or on Linux.) Linux filesystems are case-sensitive, except
// where a mount or a directory says otherwise: RestoreOptions has the
// switch.
const platformRefusesCaseCollisions = runtime.GOOS == "darwin"

// platformChecksWindowsNames: Unix takes any name CheckName allows.
const platformChecksWindowsNames = false

// processUmask is the process's umask (read by setting it and back).
func processUmask() uint32 {
	old := syscall.Umask(0)
	syscall.Umask(old)
	return uint32(old)
}

// openRoot opens the destination, which Restore has created.
func (r *restorer) openRoot() (*rdir, error) {
	fd, err := unix.Open(r.dest, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("restore: open %s: %w", r.dest, err)
	}
	return &rdir{fd: fd, pins: 1}, nil
}

// closeRoot closes the destination's descriptor (unpin never does).
func (r *restorer) closeRoot(root *rdir) { unix.Close(root.fd) }

// setRootMeta gives the destination the stored mode and mtime of the root.
func (r *restorer) setRootMeta(root *rdir, mode uint32, mtime int64) error {
	if err := unix.Fchmod(root.fd, restoreMode(mode)); err != nil {
		return fmt.Errorf("restore: chmod %s: %w", r.dest, err)
	}
	ts := []unix.Timespec{unix.NsecToTimespec(mtime), unix.NsecToTimespec(mtime)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, r.dest, ts, 0); err != nil {
		return fmt.Errorf("restore: set times of %s: %w", r.dest, err)
	}
	return nil
}

// walkerPins is how many directories above the one it is in the walk keeps
// open. Deeper ancestors are closed (unless a file job holds them) and
// reopened through ".." of their child on the way back, so a tree 20,000
// levels deep restores within a process's descriptor limit.
const walkerPins = 64

// rdir is a directory being restored. It holds its parent until every
// child is done; then its mode and mtime are set if the restore created
// it. Its descriptor is open while someone pins it (the walk near it, a
// file job in it, the last child finishing) and reopened as ".." of a
// pinned child when needed again, checked to be the same directory.
type rdir struct {
	parent  *rdir
	name    string // name in parent
	node    *Node  // nil for the destination itself
	created bool   // made by this restore (an existing directory keeps its mode and mtime)
	pending atomic.Int64

	mu       sync.Mutex
	fd       int // -1 while closed
	pins     int
	dev, ino uint64
}

// push enters child (pinned by mkdir); the ancestor that leaves the
// walk's window is unpinned.
func (r *restorer) push(child *rdir) {
	r.stack = append(r.stack, child)
	if i := len(r.stack) - 2 - walkerPins; i > 0 {
		r.unpin(r.stack[i])
	}
}

// pop leaves the top directory (still pinned: the caller releases it); the
// ancestor that comes back into the window is pinned again, reopened
// through its child if it was closed.
func (r *restorer) pop() error {
	n := len(r.stack)
	var err error
	if i := n - 2 - walkerPins; i > 0 {
		_, err = r.pin(r.stack[i], r.stack[i+1])
		if err != nil {
			// the walk stops; it still unpins the ancestor when it
			// leaves it, so count the pin (on a closed descriptor)
			r.fail(err)
			r.pinOpen(r.stack[i])
		}
	}
	r.stack = r.stack[:n-1]
	return err
}

// pinOpen pins d, which the caller knows to be open (it pins it too), or
// after a failed reopen keeps the count of pins right.
func (r *restorer) pinOpen(d *rdir) {
	d.mu.Lock()
	d.pins++
	d.mu.Unlock()
}

// pin makes d's descriptor open for the caller and returns it. A closed
// one is reopened as ".." of via, a child of d that the caller has pinned,
// and must be the directory it was.
func (r *restorer) pin(d, via *rdir) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fd < 0 {
		fd, err := unix.Openat(via.fd, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("restore: reopen %s: %w", r.where(d, ""), err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("restore: reopen %s: %w", r.where(d, ""), err)
		}
		if uint64(st.Dev) != d.dev || uint64(st.Ino) != d.ino {
			unix.Close(fd)
			return -1, fmt.Errorf("restore: %w: %s was moved or replaced during the restore", ErrUnsafePath, r.where(d, ""))
		}
		d.fd = fd
	}
	d.pins++
	return d.fd, nil
}

// unpin drops a pin; the last one closes the descriptor (never the
// destination's, which Restore closes).
func (r *restorer) unpin(d *rdir) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pins--
	if d.pins == 0 && d.parent != nil && d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
}

// mkdir creates (or reuses) a directory under dir and opens it without
// following symlinks. The child is pinned for the caller and holds dir.
func (r *restorer) mkdir(dir *rdir, n *Node) (*rdir, error) {
	err := unix.Mkdirat(dir.fd, n.Name, 0o700)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("restore: mkdir %s: %w", r.where(dir, n.Name), err)
	}
	created := err == nil
	fd, err := unix.Openat(dir.fd, n.Name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil, fmt.Errorf("restore: %w: %s exists and is not a directory (refusing to write through it)", ErrUnsafePath, r.where(dir, n.Name))
		}
		return nil, fmt.Errorf("restore: open %s: %w", r.where(dir, n.Name), err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("restore: stat %s: %w", r.where(dir, n.Name), err)
	}
	dir.pending.Add(1)
	node := *n
	node.Content = nil
	child := &rdir{fd: fd, pins: 1, parent: dir, name: n.Name, node: &node, created: created,
		dev: uint64(st.Dev), ino: uint64(st.Ino)}
	child.pending.Store(1)
	r.a.dirs.Add(1)
	return child, nil
}

// done drops a hold on d, which the caller has pinned. The last hold sets
// d's mode and mtime (if the restore created it) and drops d's hold on its
// parent, and so on up: iteratively, pinning one level at a time, so a
// deep chain finishing at once needs two descriptors.
func (r *restorer) done(d *rdir) {
	held := false // whether this call pinned d
	for d.pending.Add(-1) == 0 && d.parent != nil {
		p := d.parent
		pfd, err := r.pin(p, d)
		if err != nil {
			r.fail(err)
			break
		}
		if r.ctx.Err() == nil && d.created {
			if err := unix.Fchmod(d.fd, restoreMode(d.node.Mode)); err != nil {
				r.fail(fmt.Errorf("restore: chmod %s: %w", r.where(d, ""), err))
			} else if err := setTimes(pfd, d.name, d.node.MTime); err != nil {
				r.fail(fmt.Errorf("restore: set times of %s: %w", r.where(d, ""), err))
			}
		}
		if held {
			r.unpin(d)
		}
		d, held = p, true
	}
	if held {
		r.unpin(d)
	}
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

// symlink creates the link n in dir; made is always true on Unix (see
// restore_windows.go).
func (r *restorer) symlink(dir *rdir, n *Node) (made bool, err error) {
	err = unix.Symlinkat(n.Target, dir.fd, n.Name)
	if errors.Is(err, unix.EEXIST) {
		if err = removeExisting(dir.fd, n.Name, r.where(dir, n.Name)); err == nil {
			err = unix.Symlinkat(n.Target, dir.fd, n.Name)
		}
	}
	if err != nil {
		return false, fmt.Errorf("restore: symlink %s: %w", r.where(dir, n.Name), err)
	}
	if err := setTimes(dir.fd, n.Name, n.MTime); err != nil {
		return false, fmt.Errorf("restore: set times of %s: %w", r.where(dir, n.Name), err)
	}
	return true, nil
}

// restoreFile writes one file; j.dir is pinned by the job. With
// ContinueOnError a file whose data is damaged is removed again.
func (r *restorer) restoreFile(j restoreJob, buf *[]byte) (err error) {
	n := &j.node
	flags := unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(j.dir.fd, n.Name, flags, n.Mode&0o777)
	if errors.Is(err, unix.EEXIST) {
		if err = removeExisting(j.dir.fd, n.Name, r.where(j.dir, n.Name)); err == nil {
			fd, err = unix.Openat(j.dir.fd, n.Name, flags, n.Mode&0o777)
		}
	}
	if err != nil {
		return fmt.Errorf("restore: create %s: %w", r.where(j.dir, n.Name), err)
	}
	f := os.NewFile(uintptr(fd), n.Name)
	defer func() {
		f.Close()
		if err != nil && r.keepOn && isDamage(err) {
			// no partial file in place of a damaged one
			if uerr := unix.Unlinkat(j.dir.fd, n.Name, 0); uerr != nil && !errors.Is(uerr, unix.ENOENT) {
				err = fmt.Errorf("restore: remove the partly written %s: %w (after: %v)", r.where(j.dir, n.Name), uerr, err)
			}
		}
	}()
	written, err := r.writeContent(f, j.dir, n, buf)
	if err != nil {
		return err
	}
	if mode := restoreMode(n.Mode); mode&r.umask != 0 {
		if err := f.Chmod(os.FileMode(mode)); err != nil {
			return fmt.Errorf("restore: chmod %s: %w", r.where(j.dir, n.Name), err)
		}
	}
	if err := setTimes(j.dir.fd, n.Name, n.MTime); err != nil {
		return fmt.Errorf("restore: set times of %s: %w", r.where(j.dir, n.Name), err)
	}
	r.a.files.Add(1)
	r.a.bytes.Add(written)
	r.prog.AddDone(1, 0)
	return nil
}
