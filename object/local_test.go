package object_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/object/backendtest"
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
