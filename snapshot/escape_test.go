package snapshot_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// rawEntry is a tree entry encoded by hand: no sorting, no name checks.
type rawEntry struct {
	name    string
	typ     snapshot.NodeType
	mode    uint32
	content []object.ID // file
	size    uint64      // file
	subtree object.ID   // dir
	target  string      // symlink
}

// rawTree encodes entries in the documented tree format (see doc.go),
// independently of EncodeTree, so hostile trees can be built.
func rawTree(entries ...rawEntry) []byte {
	b := []byte("SLT1")
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = binary.AppendUvarint(b, uint64(len(e.name)))
		b = append(b, e.name...)
		b = append(b, byte(e.typ))
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		b = binary.AppendUvarint(b, uint64(mode))
		b = binary.AppendVarint(b, 1700000000123456789) // mtime
		b = binary.AppendVarint(b, 1700000000123456789) // ctime
		b = binary.AppendUvarint(b, 1)                  // inode
		b = binary.AppendUvarint(b, 0)                  // uid
		b = binary.AppendUvarint(b, 0)                  // gid
		b = binary.AppendUvarint(b, e.size)
		switch e.typ {
		case snapshot.File:
			b = binary.AppendUvarint(b, uint64(len(e.content)))
			for _, id := range e.content {
				b = append(b, id[:]...)
			}
		case snapshot.Dir:
			b = append(b, e.subtree[:]...)
		case snapshot.Symlink:
			b = binary.AppendUvarint(b, uint64(len(e.target)))
			b = append(b, e.target...)
		}
	}
	return b
}

// escapeBox is a destination inside a box, next to an "outside" directory
// that restore must never touch.
type escapeBox struct {
	base, outside, dest string
	before              []string
}

func newEscapeBox(t *testing.T) *escapeBox {
	base := t.TempDir()
	b := &escapeBox{base: base, outside: filepath.Join(base, "outside"), dest: filepath.Join(base, "box", "dest")}
	writeFile(t, filepath.Join(b.outside, "target.txt"), "original outside content\n")
	mkdir(t, filepath.Join(b.outside, "dir"))
	mkdir(t, b.dest)
	return b
}

// snapshotOutside records everything outside dest.
func (b *escapeBox) snapshotOutside(t *testing.T) {
	b.before = b.listOutside(t)
}

func (b *escapeBox) listOutside(t *testing.T) []string {
	var out []string
	for _, l := range listAll(t, b.base) {
		if !strings.HasPrefix(l, "box/dest/") && !strings.HasPrefix(l, "box/dest ") {
			out = append(out, l)
		}
	}
	return out
}

func (b *escapeBox) assertOutsideUnchanged(t *testing.T) {
	t.Helper()
	if after := b.listOutside(t); !slices.Equal(after, b.before) {
		t.Errorf("restore wrote outside its destination:\nbefore %q\nafter  %q", b.before, after)
	}
}

func TestRestoreRefusesHostileNames(t *testing.T) {
	r := newTestRepo(t)
	ctx := context.Background()
	data := []byte("pwned\n")
	dataID := r.saveRaw(t, object.DataBlob, data)
	payload := rawEntry{name: "pwned", typ: snapshot.File, content: []object.ID{dataID}, size: uint64(len(data))}
	payloadTree := r.saveRaw(t, object.TreeBlob, rawTree(payload))
	abs := filepath.Join(os.TempDir(), "silo-escape-"+strconv.Itoa(os.Getpid()))

	cases := []struct {
		name  string
		entry rawEntry
	}{
		{"dotdot dir", rawEntry{name: "..", typ: snapshot.Dir, subtree: payloadTree}},
		{"dot dir", rawEntry{name: ".", typ: snapshot.Dir, subtree: payloadTree}},
		{"dotdot file", rawEntry{name: "..", typ: snapshot.File, content: []object.ID{dataID}, size: uint64(len(data))}},
		{"slash file", rawEntry{name: "../../outside/pwned", typ: snapshot.File, content: []object.ID{dataID}, size: uint64(len(data))}},
		{"inner slash", rawEntry{name: "a/b", typ: snapshot.File, content: []object.ID{dataID}, size: uint64(len(data))}},
		{"absolute file", rawEntry{name: abs, typ: snapshot.File, content: []object.ID{dataID}, size: uint64(len(data))}},
		{"absolute dir", rawEntry{name: abs, typ: snapshot.Dir, subtree: payloadTree}},
		{"NUL", rawEntry{name: "x\x00y", typ: snapshot.File, content: []object.ID{dataID}, size: uint64(len(data))}},
		{"empty", rawEntry{name: "", typ: snapshot.File, content: []object.ID{dataID}, size: uint64(len(data))}},
		{"symlink dotdot", rawEntry{name: "..", typ: snapshot.Symlink, target: "/"}},
		{"trailing slash", rawEntry{name: "dir/", typ: snapshot.Dir, subtree: payloadTree}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// at the root, and one level down under a harmless directory
			hostile := r.saveRaw(t, object.TreeBlob, rawTree(tc.entry))
			nested := r.saveRaw(t, object.TreeBlob, rawTree(
				rawEntry{name: "a-harmless-file", typ: snapshot.File, content: []object.ID{dataID}, size: uint64(len(data))},
				rawEntry{name: "inner", typ: snapshot.Dir, mode: 0o755, subtree: hostile}))
			for _, tree := range []object.ID{hostile, nested} {
				box := newEscapeBox(t)
				box.snapshotOutside(t)
				_, err := snapshot.Restore(ctx, r.repo, tree, box.dest, snapshot.RestoreOptions{})
				if err == nil {
					t.Fatalf("restore of a tree with entry %q succeeded", tc.entry.name)
				}
				if !errors.Is(err, snapshot.ErrBadTree) && !errors.Is(err, snapshot.ErrUnsafePath) {
					t.Errorf("error %v wraps neither ErrBadTree nor ErrUnsafePath", err)
				}
				if q := strconv.Quote(tc.entry.name); !strings.Contains(err.Error(), q) {
					t.Errorf("error %q does not name the entry %s", err, q)
				}
				box.assertOutsideUnchanged(t)
				if _, err := os.Lstat(abs); err == nil {
					os.RemoveAll(abs)
					t.Errorf("restore created %s", abs)
				}
				// nothing hostile landed inside dest either
				for _, l := range listAll(t, box.dest) {
					if strings.Contains(l, "pwned") && !strings.HasPrefix(l, "inner") {
						t.Errorf("dest holds %s", l)
					}
				}
			}
		})
	}
}

func TestRestoreRefusesMalformedTrees(t *testing.T) {
	r := newTestRepo(t)
	ctx := context.Background()
	dataID := r.saveRaw(t, object.DataBlob, []byte("x"))
	file := func(name string) rawEntry {
		return rawEntry{name: name, typ: snapshot.File, content: []object.ID{dataID}, size: 1}
	}
	box := newEscapeBox(t)
	sub := r.saveRaw(t, object.TreeBlob, rawTree(file("f")))
	cases := map[string][]byte{
		// a symlink and a directory of the same name: the directory would be
		// written through the link
		"duplicate name": rawTree(rawEntry{name: "s", typ: snapshot.Symlink, target: box.outside},
			rawEntry{name: "s", typ: snapshot.Dir, subtree: sub}),
		"unsorted":     rawTree(file("b"), file("a")),
		"unknown type": rawTree(rawEntry{name: "dev", typ: 9}),
		"bad magic":    append([]byte("SLT2"), rawTree(file("a"))[4:]...),
		"trailing":     append(rawTree(file("a")), 0),
		"truncated":    rawTree(file("a"))[:20],
		"empty target": rawTree(rawEntry{name: "l", typ: snapshot.Symlink, target: ""}),
		"NUL target":   rawTree(rawEntry{name: "l", typ: snapshot.Symlink, target: "a\x00b"}),
		"huge mode":    rawTree(rawEntry{name: "m", typ: snapshot.File, mode: 0o170644}),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			tree := r.saveRaw(t, object.TreeBlob, data)
			box := newEscapeBox(t)
			box.snapshotOutside(t)
			_, err := snapshot.Restore(ctx, r.repo, tree, box.dest, snapshot.RestoreOptions{})
			if !errors.Is(err, snapshot.ErrBadTree) {
				t.Errorf("Restore = %v, want ErrBadTree", err)
			}
			box.assertOutsideUnchanged(t)
			if got := listAll(t, box.dest); len(got) != 1 {
				t.Errorf("dest holds %q", got)
			}
		})
	}
}

func TestRestoreRefusesIncludeEscape(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a", "f"), "x")
	res := r.store(t, src, object.ID{})
	for _, inc := range []string{"..", "../outside", "a/../../outside", "a/../..", "/../x", "a/\x00"} {
		box := newEscapeBox(t)
		box.snapshotOutside(t)
		_, err := snapshot.Restore(context.Background(), r.repo, res.Tree, box.dest, snapshot.RestoreOptions{Include: []string{inc}})
		if !errors.Is(err, snapshot.ErrUnsafePath) {
			t.Errorf("include %q: %v, want ErrUnsafePath", inc, err)
		}
		box.assertOutsideUnchanged(t)
	}
}

// A destination that already holds a symlink where the tree has a
// directory: restore must not write through it.
func TestRestoreDoesNotWriteThroughDirSymlink(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "sub", "file.txt"), "restored content")
	writeFile(t, filepath.Join(src, "sub", "deeper", "g.txt"), "more")
	res := r.store(t, src, object.ID{})
	for _, inc := range []string{"", "sub", "sub/file.txt", "sub/deeper"} {
		for _, target := range []string{"outside/dir", "outside/missing"} {
			t.Run(inc+"->"+target, func(t *testing.T) {
				box := newEscapeBox(t)
				symlink(t, filepath.Join(box.base, target), filepath.Join(box.dest, "sub"))
				box.snapshotOutside(t)
				_, err := snapshot.Restore(context.Background(), r.repo, res.Tree, box.dest, snapshot.RestoreOptions{Include: []string{inc}})
				if err == nil {
					t.Fatal("restore through a symlinked directory succeeded")
				}
				if !errors.Is(err, snapshot.ErrUnsafePath) || !strings.Contains(err.Error(), filepath.Join(box.dest, "sub")) {
					t.Errorf("error %q: want ErrUnsafePath naming %s", err, filepath.Join(box.dest, "sub"))
				}
				box.assertOutsideUnchanged(t)
				if l, err := os.Readlink(filepath.Join(box.dest, "sub")); err != nil || l != filepath.Join(box.base, target) {
					t.Errorf("the symlink in dest changed: %q %v", l, err)
				}
			})
		}
	}
}
