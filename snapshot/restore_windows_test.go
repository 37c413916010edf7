package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// The Windows restore (restore_windows.go) and store (store_windows.go),
// checked the Windows way: content, mtimes (100 ns apart at best), the
// read-only attribute, names Windows reads as more than a name, and links
// and junctions in the way.

// caseFoldingByDefault: restores on Windows refuse case collisions
// without being asked.
const caseFoldingByDefault = true

// lutimes sets the times of the entry at p itself.
func lutimes(t testing.TB, p string, ns int64) {
	t.Helper()
	name, err := windows.UTF16PtrFromString(p)
	if err != nil {
		t.Fatal(err)
	}
	h, err := windows.CreateFile(name, windows.FILE_WRITE_ATTRIBUTES,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE, nil, windows.OPEN_EXISTING,
		windows.FILE_FLAG_BACKUP_SEMANTICS|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(h)
	ft := windows.NsecToFiletime(ns)
	if err := windows.SetFileTime(h, nil, &ft, &ft); err != nil {
		t.Fatal(err)
	}
}

// canSymlink reports whether this process may create symbolic links
// (Developer Mode or the SeCreateSymbolicLinkPrivilege).
func canSymlink(t testing.TB) bool {
	t.Helper()
	err := os.Symlink("x", filepath.Join(t.TempDir(), "probe"))
	if errors.Is(err, windows.ERROR_PRIVILEGE_NOT_HELD) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// junction makes link a junction (mount point) to the directory target,
// which needs no privilege.
func junction(t testing.TB, target, link string) {
	t.Helper()
	out, err := exec.Command("cmd", "/c", "mklink", "/J", link, target).CombinedOutput()
	if err != nil {
		t.Fatalf("mklink /J: %v: %s", err, out)
	}
	// some cmd.exe look-alikes (Wine's) fail and still exit 0
	if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() == fs.ModeDir {
		t.Skipf("no junction made at %s (%v): %s", link, err, out)
	}
}

// compareWindowsTrees checks that got holds what want holds: the same
// entries and types, file sizes, content and read-only attribute, link
// targets, and every mtime, the roots' included.
func compareWindowsTrees(t testing.TB, want, got string) {
	t.Helper()
	var problems []string
	seen := map[string]bool{}
	err := filepath.WalkDir(want, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		seen[rel] = true
		ws, err := os.Lstat(p)
		if err != nil {
			return err
		}
		gs, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			problems = append(problems, rel+": "+err.Error())
			return nil
		}
		if gs.Mode().Type() != ws.Mode().Type() {
			problems = append(problems, rel+": type "+gs.Mode().Type().String()+", want "+ws.Mode().Type().String())
			return nil
		}
		if g, w := gs.ModTime().UnixNano(), ws.ModTime().UnixNano(); g != w {
			problems = append(problems, rel+": mtime "+strconv.FormatInt(g, 10)+", want "+strconv.FormatInt(w, 10))
		}
		switch ws.Mode().Type() {
		case 0:
			if gs.Mode().Perm()&0o200 != ws.Mode().Perm()&0o200 {
				problems = append(problems, rel+": read-only attribute differs")
			}
			if gs.Size() != ws.Size() {
				problems = append(problems, rel+": size differs")
			} else if err := sameContent(p, filepath.Join(got, rel)); err != nil {
				problems = append(problems, rel+": "+err.Error())
			}
		case fs.ModeSymlink:
			wl, _ := os.Readlink(p)
			gl, _ := os.Readlink(filepath.Join(got, rel))
			if wl != gl {
				problems = append(problems, rel+": link target "+gl+", want "+wl)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(got, func(p string, _ fs.DirEntry, err error) error {
		if rel, _ := filepath.Rel(got, p); err == nil && !seen[rel] {
			problems = append(problems, rel+": extra")
		}
		return err
	})
	if len(problems) > 0 {
		t.Fatalf("%s differs from %s:\n  %s", got, want, strings.Join(problems, "\n  "))
	}
}

// TestWindowsRoundTrip stores a tree and restores it into a new directory:
// content, mtimes and the read-only attribute come back; a second store
// finds every file unchanged by its change time and file index.
func TestWindowsRoundTrip(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a.txt"), "alpha\n")
	writeRandom(t, filepath.Join(src, "sub", "deeper", "big.bin"), 1, 3<<20+17)
	writeFile(t, filepath.Join(src, "sub", "empty"), "")
	writeFile(t, filepath.Join(src, "read-only.txt"), "do not touch\n")
	mkdir(t, filepath.Join(src, "empty-dir"))
	if err := os.Chmod(filepath.Join(src, "read-only.txt"), 0o444); err != nil {
		t.Fatal(err)
	}
	var paths []string
	filepath.WalkDir(src, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	slices.Reverse(paths) // children before parents
	for i, p := range paths {
		lutimes(t, p, time.Date(2021, 5, 1, 0, 0, 0, 0, time.UTC).UnixNano()+int64(i)*(3600e9+1234500))
	}

	res := r.store(t, src, object.ID{})
	if st := res.Stats; st.Files() != 4 || st.Dirs != 4 || st.Skipped != 0 {
		t.Fatalf("store stats %+v", st)
	}
	dest := r.restore(t, res)
	compareWindowsTrees(t, src, dest)

	again := r.store(t, src, res.Tree)
	if again.Tree != res.Tree || again.Stats.FilesUnchanged != 4 {
		t.Errorf("second store: tree %s (first %s), %d files unchanged, want 4", again.Tree.Short(), res.Tree.Short(), again.Stats.FilesUnchanged)
	}
}

// TestWindowsRestoreRefusesNames: a name that Windows reads as a path, a
// stream or a device, or that it would shorten, is refused with
// ErrUnsafePath naming it, and nothing is written outside dest.
func TestWindowsRestoreRefusesNames(t *testing.T) {
	r := newTestRepo(t)
	ctx := context.Background()
	data := []byte("pwned\n")
	dataID := r.saveRaw(t, object.DataBlob, data)
	payloadTree := r.saveRaw(t, object.TreeBlob, rawTree(rawEntry{name: "pwned", typ: snapshot.File, content: []object.ID{dataID}, size: uint64(len(data))}))
	for _, name := range []string{`..\..\outside\pwned`, `a\b`, `C:pwned`, `f:stream`, "CON", "nul", "COM1", "CONOUT$", "dot.", "space ",
		"nul.txt", "AUX .c", "lpt¹", "a<b", "a|b", "what?", "*", `say"hi"`, "tab\tname", "a\xffb"} {
		for _, typ := range []snapshot.NodeType{snapshot.File, snapshot.Dir, snapshot.Symlink} {
			e := rawEntry{name: name, typ: typ, content: []object.ID{dataID}, size: uint64(len(data)), subtree: payloadTree, target: "x"}
			if typ != snapshot.File {
				e.content, e.size = nil, 0
			}
			tree := r.saveRaw(t, object.TreeBlob, rawTree(e))
			box := newEscapeBox(t)
			box.snapshotOutside(t)
			_, err := snapshot.Restore(ctx, r.repo, tree, box.dest, snapshot.RestoreOptions{})
			if !errors.Is(err, snapshot.ErrUnsafePath) || !strings.Contains(err.Error(), strconv.Quote(name)) {
				t.Errorf("%s %q: restore = %v, want ErrUnsafePath naming it", typ, name, err)
			}
			box.assertOutsideUnchanged(t)
		}
	}
}

// TestWindowsRestoreJunctionInTheWay: a junction where the tree has a
// directory is not entered; one where it has a file is removed, not
// followed.
func TestWindowsRestoreJunctionInTheWay(t *testing.T) {
	r := newTestRepo(t)
	ctx := context.Background()
	data := []byte("pwned\n")
	dataID := r.saveRaw(t, object.DataBlob, data)
	file := rawEntry{name: "pwned", typ: snapshot.File, content: []object.ID{dataID}, size: uint64(len(data))}
	sub := r.saveRaw(t, object.TreeBlob, rawTree(file))

	box := newEscapeBox(t)
	junction(t, filepath.Join(box.outside, "dir"), filepath.Join(box.dest, "d"))
	box.snapshotOutside(t)
	tree := r.saveRaw(t, object.TreeBlob, rawTree(rawEntry{name: "d", typ: snapshot.Dir, mode: 0o755, subtree: sub}))
	_, err := snapshot.Restore(ctx, r.repo, tree, box.dest, snapshot.RestoreOptions{})
	if !errors.Is(err, snapshot.ErrUnsafePath) || !strings.Contains(err.Error(), filepath.Join(box.dest, "d")) {
		t.Errorf("restore through a junction = %v, want ErrUnsafePath naming it", err)
	}
	box.assertOutsideUnchanged(t)

	box = newEscapeBox(t)
	junction(t, filepath.Join(box.outside, "dir"), filepath.Join(box.dest, "pwned"))
	box.snapshotOutside(t)
	tree = r.saveRaw(t, object.TreeBlob, rawTree(file))
	if _, err := snapshot.Restore(ctx, r.repo, tree, box.dest, snapshot.RestoreOptions{}); err != nil {
		t.Fatalf("restore of a file over a junction: %v", err)
	}
	box.assertOutsideUnchanged(t)
	if b, err := os.ReadFile(filepath.Join(box.dest, "pwned")); err != nil || string(b) != string(data) {
		t.Errorf("the file in place of the junction holds %q, %v", b, err)
	}
}

// TestWindowsRestoreSymlink: a symlink is restored with its target and its
// own mtime where this process may create one; elsewhere it is skipped
// with a warning naming it, counted, and the restore goes on.
func TestWindowsRestoreSymlink(t *testing.T) {
	r := newTestRepo(t)
	ctx := context.Background()
	data := []byte("target\n")
	dataID := r.saveRaw(t, object.DataBlob, data)
	tree := r.saveRaw(t, object.TreeBlob, rawTree(
		rawEntry{name: "link", typ: snapshot.Symlink, mode: 0o777, target: "sub/target.txt"},
		rawEntry{name: "target.txt", typ: snapshot.File, content: []object.ID{dataID}, size: uint64(len(data))}))
	dest := filepath.Join(t.TempDir(), "dest")
	var logged bytes.Buffer
	st, err := snapshot.Restore(ctx, r.repo, tree, dest, snapshot.RestoreOptions{Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "target.txt")); err != nil || string(b) != string(data) {
		t.Errorf("target.txt, after the link: %q, %v", b, err)
	}
	link := filepath.Join(dest, "link")
	if !canSymlink(t) {
		if st.Symlinks != 0 || st.SymlinksSkipped != 1 {
			t.Errorf("stats: %d symlinks, %d skipped; want 0 and 1", st.Symlinks, st.SymlinksSkipped)
		}
		if _, err := os.Lstat(link); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("skipped link: Lstat = %v, want not there", err)
		}
		if out := logged.String(); !strings.Contains(out, "symlink not restored") ||
			!(strings.Contains(out, link) || strings.Contains(out, strconv.Quote(link))) {
			t.Errorf("warning %q does not name %s", out, link)
		}
		t.Skip("creating symbolic links needs Developer Mode or SeCreateSymbolicLinkPrivilege: checked the skip only")
	}
	if st.Symlinks != 1 || st.SymlinksSkipped != 0 {
		t.Errorf("stats: %d symlinks, %d skipped; want 1 and 0", st.Symlinks, st.SymlinksSkipped)
	}
	if got, err := os.Readlink(link); err != nil || got != `sub\target.txt` {
		t.Errorf("link target %q, %v", got, err)
	}
	const mtime = 1700000000123456789 // rawTree's
	if fi, err := os.Lstat(link); err != nil || fi.ModTime().UnixNano() != mtime-mtime%100 {
		t.Errorf("link: %v, %v; want its own mtime", fi, err)
	}
}
