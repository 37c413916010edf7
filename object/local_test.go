package object_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/object/backendtest"
	"github.com/silo-dev/silo/object/errorfs"
)

func TestLocalConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) object.Backend {
		return object.NewLocal(t.TempDir())
	})
}

func TestLocalPutWritesFile(t *testing.T) {
	root := t.TempDir()
	be := object.NewLocal(root)
	ctx := context.Background()
	want := []byte("the exact bytes\x00\xff of a pack")
	if err := be.Put(ctx, "packs/ab/abcdef", bytes.NewReader(want), int64(len(want))); err != nil {
		t.Fatal(err)
	}
	// a failed put must clean up its temporary file too
	if err := be.Put(ctx, "packs/ab/short", bytes.NewReader(want), int64(len(want))+1); err == nil {
		t.Fatal("short put returned nil")
	}
	got, err := os.ReadFile(filepath.Join(root, "packs", "ab", "abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("file holds %q, want %q", got, want)
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		if !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Errorf("files under the root: %q, want only the pack", files)
	}
}

func TestLocalPutFile(t *testing.T) {
	be := object.NewLocal(t.TempDir())
	ctx := context.Background()
	want := []byte("pack content")
	if err := os.MkdirAll(be.TempDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second PutFile finds the name taken
		tmp := filepath.Join(be.TempDir(), "pack.tmp")
		if err := os.WriteFile(tmp, want, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := be.PutFile(ctx, "packs/cd/cdef", tmp); err != nil {
			t.Fatalf("PutFile #%d: %v", i+1, err)
		}
		if _, err := os.Stat(tmp); !os.IsNotExist(err) {
			t.Errorf("PutFile #%d left the local file: %v", i+1, err)
		}
	}
	rc, err := be.Get(ctx, "packs/cd/cdef", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("got %q, want %q", buf.Bytes(), want)
	}
}

// RemoveTemporary deletes the temporary files of interrupted Puts and
// nothing else.
func TestLocalRemoveTemporary(t *testing.T) {
	root := t.TempDir()
	l := object.NewLocal(root)
	keep := filepath.Join(root, "packs", "ab", "abcd")
	leftovers := []string{
		filepath.Join(root, ".tmp-1"),
		filepath.Join(root, "backups", ".tmp-2"),
		filepath.Join(root, "packs", "ab", ".tmp-3"),
	}
	// a Put in progress in another process: too young to be a leftover
	young := filepath.Join(root, "packs", "ab", ".tmp-4")
	old := time.Now().Add(-2 * time.Hour)
	for _, p := range append(leftovers, keep, young) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if p != young {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	l.RemoveTemporary(time.Hour)
	for _, p := range leftovers {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s survived: %v", p, err)
		}
	}
	for _, p := range []string{keep, young} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}

// noLinkFS is the OS filesystem without hard links or a rename that
// refuses to replace (the last resort of Create).
type noLinkFS struct{ object.FS }

// fatFS is the OS filesystem as a FAT drive sees it: no hard links, but a
// rename that refuses to replace.
type fatFS struct{ object.FS }

func (f fatFS) RenameNoReplace(a, b string) error {
	return f.FS.(object.ExclusiveRenamer).RenameNoReplace(a, b)
}

// refusedLinkFS is a share whose hard links fail with "access denied":
// Create goes on with the rename that refuses to replace.
type refusedLinkFS struct{ fatFS }

func (refusedLinkFS) Link(a, b string) error {
	return &os.LinkError{Op: "link", Old: a, New: b, Err: fs.ErrPermission}
}

// Create links its file into place; a failed link is reported (a full
// disk is no reason to fall back), except on a filesystem without hard
// links, where it falls back to check and rename; either way a second
// Create of the name leaves the first file, and no temporary file stays.
func TestLocalCreate(t *testing.T) {
	ctx := context.Background()
	full := errors.New("no space left on device")
	links := func(op errorfs.Op) bool { return op.Kind == errorfs.OpRename }
	root := t.TempDir()
	be := object.NewLocalFS(root, errorfs.Wrap(object.OSFS, errorfs.FailEvery(full, links)))
	if ok, err := be.Create(ctx, "config.json", strings.NewReader("one"), 3); ok || !errors.Is(err, full) {
		t.Fatalf("Create with the link failing: %v, %v; want the error", ok, err)
	}
	for name, fsys := range map[string]object.FS{"links": object.OSFS, "FAT": fatFS{object.OSFS},
		"links refused": refusedLinkFS{fatFS{object.OSFS}}, "neither": noLinkFS{object.OSFS}} {
		root := t.TempDir()
		be := object.NewLocalFS(root, fsys)
		if ok, err := be.Create(ctx, "config.json", strings.NewReader("one"), 3); !ok || err != nil {
			t.Fatalf("%s: first Create: %v, %v", name, ok, err)
		}
		if ok, err := be.Create(ctx, "config.json", strings.NewReader("two!"), 4); ok || err != nil {
			t.Fatalf("%s: second Create: %v, %v", name, ok, err)
		}
		if b, err := os.ReadFile(filepath.Join(root, "config.json")); err != nil || string(b) != "one" {
			t.Fatalf("%s: config.json holds %q (%v)", name, b, err)
		}
		if ents, _ := os.ReadDir(root); len(ents) != 1 {
			t.Errorf("%s: %d entries at the root, want config.json alone", name, len(ents))
		}
	}
}

// Without hard links, a rename that refuses to replace still lets exactly
// one of many writers create a name.
func TestLocalCreateWithoutLinks(t *testing.T) {
	be := object.NewLocalFS(t.TempDir(), fatFS{object.OSFS})
	for round := range 5 {
		name := fmt.Sprintf("config-%d.json", round)
		var winners atomic.Int64
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Go(func() {
				b := []byte(strings.Repeat("x", 100+i))
				ok, err := be.Create(context.Background(), name, bytes.NewReader(b), int64(len(b)))
				if err != nil {
					t.Errorf("Create: %v", err)
				}
				if ok {
					winners.Add(1)
				}
			})
		}
		wg.Wait()
		if n := winners.Load(); n != 1 {
			t.Fatalf("round %d: %d writers created %s, want 1", round, n, name)
		}
	}
}
