package snapshot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/windows"
)

// On Windows a restore works by path: Windows has no openat or mkdirat,
// so every entry is reached as the destination joined with the names of
// its directories. What the descriptors guarantee on Unix is kept as far
// as paths allow:
//
//   - a name that Windows cannot hold as one plain name is refused with
//     ErrUnsafePath (CheckWindowsName, in names.go, where its rules are
//     tested on every platform): one holding '\' or ':' (a path, a drive
//     or an alternate data stream), <>"|?* or a control character, ending
//     in a dot or a space (Windows drops them, so it would land on another
//     entry), a reserved device name (CON, NUL, COM1, ..., also with an
//     extension), or not UTF-8;
//   - a directory holding two names that differ only in case is refused
//     before any of its entries is created (CaseCollision): NTFS ignores
//     case, so the second would replace or enter the first;
//   - an existing entry is entered only if it is a plain directory, never
//     a symlink or junction; one that is not a directory is removed (not
//     followed) before a file or symlink is created in its place;
//   - times are set on the entry itself (FILE_FLAG_OPEN_REPARSE_POINT).
//
// Unlike descriptors, paths do not stop another process from swapping a
// directory for a junction while the restore runs: restore into a
// destination that no one else writes to.
//
// Windows has one permission bit, the read-only attribute: a file whose
// stored mode lacks the owner's write bit is made read-only. Directories
// keep their attributes (Windows does not treat a read-only directory as
// one that cannot be written to) but get their mtime. A symlink is created
// with os.Symlink, which needs Developer Mode or the
// SeCreateSymbolicLinkPrivilege; without them (ERROR_PRIVILEGE_NOT_HELD)
// the link is skipped with a warning naming it, counted in
// RestoreStats.SymlinksSkipped, and the restore goes on, as git does with
// core.symlinks=false (git writes a file holding the target in its place;
// silo creates nothing there, so no file poses as the link, and what was
// in the link's way is gone as for any restored entry). Any other
// failure to create a link stops the restore. A link's target is written
// with '\' for '/', and it is a directory link when the target is a
// directory at the time it is created. Links are never followed by the
// restore, whatever they point to.

// rdir is a directory being restored. It holds its parent until every
// child is done; then its mtime is set if the restore created it. It is
// reached by its path, built from its parents when needed, so no
// directory holds a path string.
type rdir struct {
	parent  *rdir
	name    string // name in parent
	node    *Node  // nil for the destination itself
	created bool   // made by this restore (an existing directory keeps its mtime)
	pending atomic.Int64
}

// platformRefusesCaseCollisions: NTFS (and FAT, exFAT, ReFS) ignore case.
const platformRefusesCaseCollisions = true

// platformChecksWindowsNames: see path.
const platformChecksWindowsNames = true

// processUmask is 0: Windows has no umask.
func processUmask() uint32 { return 0 }

// openRoot stands for the destination, which Restore has created.
func (r *restorer) openRoot() (*rdir, error) { return &rdir{}, nil }

// closeRoot has nothing to close: no directory is held open.
func (r *restorer) closeRoot(*rdir) {}

// setRootMeta gives the destination the root's stored mtime (its mode is a
// directory's: see above).
func (r *restorer) setRootMeta(_ *rdir, _ uint32, mtime int64) error {
	t := time.Unix(0, mtime)
	if err := os.Chtimes(r.dest, t, t); err != nil {
		return fmt.Errorf("restore: set times of %s: %w", r.dest, err)
	}
	return nil
}

// push enters child.
func (r *restorer) push(child *rdir) { r.stack = append(r.stack, child) }

// pop leaves the top directory.
func (r *restorer) pop() error {
	r.stack = r.stack[:len(r.stack)-1]
	return nil
}

// pinOpen and unpin keep nothing open on Windows: a directory is reached
// by its path.
func (r *restorer) pinOpen(*rdir) {}
func (r *restorer) unpin(*rdir)   {}

// path is where the entry name in dir is restored, once name is known to
// name one plain entry on Windows.
func (r *restorer) path(dir *rdir, name string) (string, error) {
	err := CheckWindowsName(name)
	if err == nil && !filepath.IsLocal(name) {
		// CheckWindowsName's device names are Go's and more; this keeps
		// the restore from ever writing where Go itself would not
		err = fmt.Errorf("%w: name %q is not a local name on Windows", ErrUnsafePath, name)
	}
	if err != nil {
		return "", fmt.Errorf("restore: refusing entry %q in %s: %w", name, r.whereDir(dir, ""), err)
	}
	return r.where(dir, name), nil
}

// isPlainDir reports whether fi (from Lstat) is a directory and not a
// symlink, junction or other reparse point.
func isPlainDir(fi fs.FileInfo) bool { return fi.Mode().Type() == fs.ModeDir }

// mkdir creates (or reuses) a directory under dir; an existing entry must
// be a plain directory. The child holds dir.
func (r *restorer) mkdir(dir *rdir, n *Node) (*rdir, error) {
	p, err := r.path(dir, n.Name)
	if err != nil {
		return nil, err
	}
	err = os.Mkdir(p, 0o700)
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("restore: mkdir %s: %w", p, err)
	}
	created := err == nil
	if !created {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("restore: stat %s: %w", p, err)
		}
		if !isPlainDir(fi) {
			return nil, fmt.Errorf("restore: %w: %s exists and is not a directory (refusing to write through it)", ErrUnsafePath, p)
		}
	}
	dir.pending.Add(1)
	node := *n
	node.Content = nil
	child := &rdir{parent: dir, name: n.Name, node: &node, created: created}
	child.pending.Store(1)
	r.a.dirs.Add(1)
	return child, nil
}

// done drops a hold on d. The last hold sets d's mtime (if the restore
// created it) and drops d's hold on its parent, and so on up.
func (r *restorer) done(d *rdir) {
	for d.pending.Add(-1) == 0 && d.parent != nil {
		if r.ctx.Err() == nil && d.created {
			p := r.where(d, "")
			if err := setTimes(p, d.node.MTime); err != nil {
				r.fail(fmt.Errorf("restore: set times of %s: %w", p, err))
			}
		}
		d = d.parent
	}
}

// setTimes sets the access and modification times of the entry at p
// itself, not of what a symlink or junction there points to.
func setTimes(p string, mtime int64) error {
	name, err := windows.UTF16PtrFromString(longPath(p))
	if err != nil {
		return err
	}
	h, err := windows.CreateFile(name, windows.FILE_WRITE_ATTRIBUTES,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	ft := windows.NsecToFiletime(mtime)
	return windows.SetFileTime(h, nil, &ft, &ft)
}

// longPath gives the Windows API a path it takes past MAX_PATH, as package
// os does for its own calls: absolute, prefixed with \\?\ (\\?\UNC\ for a
// share).
func longPath(p string) string {
	if len(p) < 248 || strings.HasPrefix(p, `\\?\`) || strings.HasPrefix(p, `\\.\`) {
		return p
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	if strings.HasPrefix(abs, `\\`) {
		return `\\?\UNC\` + abs[2:]
	}
	return `\\?\` + abs
}

// removeExisting clears a non-directory entry in the way of a restore at
// p (a symlink or junction is removed, not followed).
func removeExisting(p string) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if isPlainDir(fi) {
		return fmt.Errorf("restore: %s is a directory in the way", p)
	}
	return os.Remove(p)
}

// symlink creates the link n in dir, after removing (not following) what
// is in its way. Where this process may not create symbolic links it
// leaves the link out with a warning and reports made false; any other
// failure is an error.
func (r *restorer) symlink(dir *rdir, n *Node) (made bool, err error) {
	p, err := r.path(dir, n.Name)
	if err != nil {
		return false, err
	}
	if err := removeExisting(p); err != nil {
		return false, fmt.Errorf("restore: symlink %s: %w", p, err)
	}
	if err := os.Symlink(n.Target, p); err != nil {
		if isNoSymlinkPrivilege(err) {
			r.log.Warn("symlink not restored: Windows creates symbolic links only in Developer Mode or with the SeCreateSymbolicLinkPrivilege",
				"path", p, "target", n.Target)
			return false, nil
		}
		return false, fmt.Errorf("restore: symlink %s: %w", p, err)
	}
	if err := setTimes(p, n.MTime); err != nil {
		return false, fmt.Errorf("restore: set times of %s: %w", p, err)
	}
	return true, nil
}

// isNoSymlinkPrivilege reports whether err says that this process may not
// create symbolic links.
func isNoSymlinkPrivilege(err error) bool {
	return errors.Is(err, windows.ERROR_PRIVILEGE_NOT_HELD)
}

// restoreFile writes one file. With ContinueOnError a file whose data is
// damaged is removed again. The file is closed before its times are set
// and it is made read-only, so neither the last write nor the attribute
// stands in the way.
func (r *restorer) restoreFile(j restoreJob, buf *[]byte) (err error) {
	n := &j.node
	p, err := r.path(j.dir, n.Name)
	if err != nil {
		return err
	}
	if err := removeExisting(p); err != nil {
		return fmt.Errorf("restore: create %s: %w", p, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("restore: create %s: %w", p, err)
	}
	open := true
	defer func() {
		if open {
			f.Close()
		}
		if err != nil && r.keepOn && isDamage(err) {
			// no partial file in place of a damaged one
			if uerr := os.Remove(p); uerr != nil && !errors.Is(uerr, fs.ErrNotExist) {
				err = fmt.Errorf("restore: remove the partly written %s: %w (after: %v)", p, uerr, err)
			}
		}
	}()
	written, err := r.writeContent(f, j.dir, n, buf)
	if err != nil {
		return err
	}
	open = false
	if err := f.Close(); err != nil {
		return fmt.Errorf("restore: write %s: %w", p, err)
	}
	if err := setTimes(p, n.MTime); err != nil {
		return fmt.Errorf("restore: set times of %s: %w", p, err)
	}
	if mode := restoreMode(n.Mode); mode&0o200 == 0 {
		if err := os.Chmod(p, os.FileMode(mode)); err != nil {
			return fmt.Errorf("restore: chmod %s: %w", p, err)
		}
	}
	r.a.files.Add(1)
	r.a.bytes.Add(written)
	r.prog.AddDone(1, 0)
	return nil
}
