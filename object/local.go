package object

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Local is a Backend on the local filesystem rooted at a directory. Files are
// written to a temporary name in the same directory, fsynced, renamed into
// place, and the directory is fsynced. Every file operation goes through
// its FS.
type Local struct {
	root string
	fs   FS

	mu      sync.Mutex
	madeDir map[string]bool
}

// NewLocal returns a backend rooted at dir, which need not exist yet, on
// the operating system's file system.
func NewLocal(dir string) *Local { return NewLocalFS(dir, OSFS) }

// NewLocalFS returns a backend rooted at dir on fsys (nil: OSFS). Tests
// pass an object/errorfs wrapper to fail chosen operations.
func NewLocalFS(dir string, fsys FS) *Local {
	if fsys == nil {
		fsys = OSFS
	}
	return &Local{root: filepath.Clean(dir), fs: fsys, madeDir: map[string]bool{}}
}

// FS returns the file system the backend works on. A Repository over the
// backend writes the temporary files of its packs through it too.
func (l *Local) FS() FS { return l.fs }

// Location returns the root directory.
func (l *Local) Location() string { return l.root }

// Root returns the root directory.
func (l *Local) Root() string { return l.root }

func (l *Local) path(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
		return "", fmt.Errorf("object: bad backend name %q", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("object: bad backend name %q", name)
		}
	}
	return filepath.Join(l.root, filepath.FromSlash(name)), nil
}

func (l *Local) mkdir(dir string) error {
	l.mu.Lock()
	done := l.madeDir[dir]
	l.mu.Unlock()
	if done {
		if _, err := l.fs.Stat(dir); err == nil {
			return nil
		}
	}
	// A new directory's entry lives in its parent, which commit never
	// syncs: sync the parent of every directory MkdirAll creates, or a
	// power loss could drop a new shard directory (packs/ab/) and the pack
	// renamed into it after Put returned (DESIGN invariant 1).
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := l.fs.Lstat(d); err == nil || filepath.Dir(d) == d {
			break
		}
		created = append(created, d)
	}
	if err := l.fs.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range created {
		if err := l.fs.SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	l.mu.Lock()
	l.madeDir[dir] = true
	l.mu.Unlock()
	return nil
}

func notFound(name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return err
}

// Put writes r to a temporary file beside name, syncs it and renames it.
func (l *Local) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	p, err := l.path(name)
	if err != nil {
		return err
	}
	if _, err := l.fs.Lstat(p); err == nil {
		return nil
	}
	tmp, err := l.writeTemp(ctx, name, p, r, size)
	if err != nil {
		return err
	}
	return l.commit(tmp, p)
}

// writeTemp writes exactly size bytes of r, synced, to a temporary file
// beside p (name's path) and returns its path.
func (l *Local) writeTemp(ctx context.Context, name, p string, r io.Reader, size int64) (string, error) {
	dir := filepath.Dir(p)
	if err := l.mkdir(dir); err != nil {
		return "", err
	}
	f, err := l.fs.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	tmp := f.Name()
	n, err := io.Copy(f, r)
	if err == nil && n != size {
		err = fmt.Errorf("object: put %s: got %d bytes, want %d", name, n, size)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		l.fs.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// Create stores exactly size bytes of r under name unless a file has that
// name, and reports whether this call created it: of writers that create
// one name at once, exactly one does. The file goes in place as a hard
// link of a synced temporary file, which fails when the name exists; where
// the link fails for another reason (FAT and exFAT have no hard links, a
// share may refuse them), by a rename that refuses to replace (Linux,
// macOS, Windows), whose own failure is reported. Only where neither
// exists does it fall back to Put's check and rename, where of two writers
// within a few milliseconds the later one's file is kept and both are told
// they created it (a caller that must know reads the file back).
func (l *Local) Create(ctx context.Context, name string, r io.Reader, size int64) (bool, error) {
	p, err := l.path(name)
	if err != nil {
		return false, err
	}
	if _, err := l.fs.Lstat(p); err == nil {
		return false, nil
	}
	tmp, err := l.writeTemp(ctx, name, p, r, size)
	if err != nil {
		return false, err
	}
	// a link that fails for another reason than the name (no hard links
	// here, a share that refuses them, a full disk) leaves it to the
	// rename, which is as exclusive and reports a real failure itself
	var linkErr error = errors.ErrUnsupported
	if lk, ok := l.fs.(Linker); ok {
		linkErr = lk.Link(tmp, p)
		switch {
		case linkErr == nil:
			l.fs.Remove(tmp)
			return true, l.fs.SyncDir(filepath.Dir(p))
		case errors.Is(linkErr, fs.ErrExist):
			l.fs.Remove(tmp)
			return false, nil
		}
	}
	if r, ok := l.fs.(ExclusiveRenamer); ok {
		err := r.RenameNoReplace(tmp, p)
		switch {
		case err == nil:
			return true, l.fs.SyncDir(filepath.Dir(p))
		case errors.Is(err, fs.ErrExist):
			l.fs.Remove(tmp)
			return false, nil
		case !errors.Is(err, errors.ErrUnsupported):
			l.fs.Remove(tmp)
			return false, err
		}
	}
	// neither is exclusive here: check and rename, unless the link failed
	// for a reason of its own, which is reported
	if !linkUnsupported(linkErr) {
		l.fs.Remove(tmp)
		return false, linkErr
	}
	if _, err := l.fs.Lstat(p); err == nil {
		l.fs.Remove(tmp)
		return false, nil
	}
	return true, l.commit(tmp, p)
}

// PutFile renames the local file at path to name; path must be on the same
// filesystem (see TempDir). The file must already be synced.
func (l *Local) PutFile(ctx context.Context, name, path string) error {
	p, err := l.path(name)
	if err == nil {
		if _, serr := l.fs.Lstat(p); serr == nil {
			l.fs.Remove(path)
			return nil
		}
		err = l.mkdir(filepath.Dir(p))
	}
	if err != nil {
		l.fs.Remove(path)
		return err
	}
	return l.commit(path, p)
}

func (l *Local) commit(tmp, p string) error {
	if err := l.fs.Rename(tmp, p); err != nil {
		l.fs.Remove(tmp)
		return err
	}
	return l.fs.SyncDir(filepath.Dir(p))
}

// RemoveTemporary deletes the temporary files that a Put or PutFile
// interrupted by a crash left beside their names (at the root, one level
// down, and in the pack shards), once they are older than olderThan: a
// younger one may be another process's Put in progress.
func (l *Local) RemoveTemporary(olderThan time.Duration) {
	cut := time.Now().Add(-olderThan)
	clean := func(dir string) {
		ents, _ := l.fs.ReadDir(dir)
		for _, e := range ents {
			if e.IsDir() || !strings.HasPrefix(e.Name(), ".tmp-") {
				continue
			}
			n := filepath.Join(dir, e.Name())
			if fi, err := l.fs.Lstat(n); err == nil && fi.ModTime().Before(cut) {
				l.fs.Remove(n)
			}
		}
	}
	clean(l.root)
	top, _ := l.fs.ReadDir(l.root)
	for _, d := range top {
		if d.IsDir() {
			clean(filepath.Join(l.root, d.Name()))
		}
	}
	shards, _ := l.fs.ReadDir(filepath.Join(l.root, "packs"))
	for _, d := range shards {
		if d.IsDir() {
			clean(filepath.Join(l.root, "packs", d.Name()))
		}
	}
}

// TempDir is a directory on the backend's filesystem for files that
// PutFile will later move into place. Leftovers there are garbage.
func (l *Local) TempDir() string { return filepath.Join(l.root, "tmp") }

type sectionCloser struct {
	*io.SectionReader
	f File
}

func (s sectionCloser) Close() error { return s.f.Close() }

// Get opens name at offset.
func (l *Local) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	p, err := l.path(name)
	if err != nil {
		return nil, err
	}
	f, err := l.fs.Open(p)
	if err != nil {
		return nil, notFound(name, err)
	}
	if length < 0 {
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		length = st.Size() - offset
	}
	return sectionCloser{io.NewSectionReader(f, offset, length), f}, nil
}

// OpenReaderAt opens name for random access.
func (l *Local) OpenReaderAt(ctx context.Context, name string) (ReaderAtCloser, error) {
	p, err := l.path(name)
	if err != nil {
		return nil, err
	}
	f, err := l.fs.Open(p)
	if err != nil {
		return nil, notFound(name, err)
	}
	return f, nil
}

// Stat returns the file's size and mtime.
func (l *Local) Stat(ctx context.Context, name string) (FileInfo, error) {
	p, err := l.path(name)
	if err != nil {
		return FileInfo{}, err
	}
	st, err := l.fs.Stat(p)
	if err != nil {
		return FileInfo{}, notFound(name, err)
	}
	return FileInfo{Name: name, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// List walks the files under prefix. Temporary files are skipped.
func (l *Local) List(ctx context.Context, prefix string, fn func(FileInfo) error) error {
	if slices.Contains(strings.Split(prefix, "/"), "..") || strings.HasPrefix(prefix, "/") {
		return fmt.Errorf("object: bad list prefix %q", prefix)
	}
	start := l.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(l.root, filepath.FromSlash(prefix[:i]))
	}
	return l.walk(ctx, start, prefix, fn)
}

// walk lists the files under dir (in name order, not following symlinks,
// as filepath.WalkDir) whose names start with prefix. A directory that
// vanishes meanwhile holds nothing.
func (l *Local) walk(ctx context.Context, dir, prefix string, fn func(FileInfo) error) error {
	ents, err := l.fs.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return err
	}
	for _, d := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(dir, d.Name())
		if d.IsDir() {
			if err := l.walk(ctx, p, prefix, fn); err != nil {
				return err
			}
			continue
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			continue
		}
		rel, err := filepath.Rel(l.root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		info, err := l.fs.Lstat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
		if err := fn(FileInfo{Name: name, Size: info.Size(), ModTime: info.ModTime()}); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes name and syncs its directory.
func (l *Local) Delete(ctx context.Context, name string) error {
	p, err := l.path(name)
	if err != nil {
		return err
	}
	if err := l.fs.Remove(p); err != nil {
		return notFound(name, err)
	}
	return l.fs.SyncDir(filepath.Dir(p))
}
