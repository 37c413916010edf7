package snapshot_test

import (
	"context"
	"errors"
	"github.com/silo-dev/silo/internal/testutil"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// flipByte inverts one byte of a file in place.
func flipByte(t testing.TB, path string, off int64) { testutil.FlipByte(t, path, off, 0xff) }

func TestRestoreReportsCorruptBlob(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "docs", "readme.txt"), strings.Repeat("compressible text ", 20000))
	writeRandom(t, filepath.Join(src, "bin", "random.bin"), 3, 700<<10)
	writeFile(t, filepath.Join(src, "other", "fine.txt"), "this one is fine")
	res := r.store(t, src, object.ID{})
	ctx := context.Background()

	for _, tc := range []struct{ path, comp string }{
		{"docs/readme.txt", "zstd"},
		{"bin/random.bin", "raw"},
	} {
		t.Run(tc.comp, func(t *testing.T) {
			n, err := snapshot.Find(ctx, r.repo, res.Tree, tc.path)
			if err != nil {
				t.Fatal(err)
			}
			blob := n.Content[0]
			loc, ok, err := r.db.Lookup(blob)
			if err != nil || !ok {
				t.Fatalf("lookup: %v %v", ok, err)
			}
			if want := map[string]object.Compression{"zstd": object.Zstd, "raw": object.Raw}[tc.comp]; loc.Comp != want {
				t.Fatalf("blob stored with compression %d, want %s", loc.Comp, tc.comp)
			}
			flipByte(t, filepath.Join(r.dir, filepath.FromSlash(object.PackName(loc.Pack))), int64(loc.Offset)+int64(loc.Length)/2)

			_, err = r.repo.LoadBlob(ctx, blob, nil)
			if !errors.Is(err, object.ErrCorrupt) {
				t.Fatalf("LoadBlob of a flipped blob = %v, want ErrCorrupt", err)
			}
			for _, s := range []string{blob.String(), loc.Pack.String()} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("LoadBlob error %q does not name %s", err, s)
				}
			}

			dest := filepath.Join(t.TempDir(), "dest")
			_, err = snapshot.Restore(ctx, r.repo, res.Tree, dest, snapshot.RestoreOptions{})
			if !errors.Is(err, object.ErrCorrupt) {
				t.Fatalf("Restore = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), filepath.Join(dest, tc.path)) {
				t.Errorf("Restore error %q does not name the file %s", err, tc.path)
			}
			// the corruption is confined: another file restores
			dest2 := filepath.Join(t.TempDir(), "dest")
			if _, err := snapshot.Restore(ctx, r.repo, res.Tree, dest2, snapshot.RestoreOptions{Include: []string{"other/fine.txt"}}); err != nil {
				t.Fatalf("restore of an intact file: %v", err)
			}
			if b, _ := os.ReadFile(filepath.Join(dest2, "other/fine.txt")); string(b) != "this one is fine" {
				t.Errorf("intact file = %q", b)
			}

			// VerifyPack names the blob and rejects the pack's hash
			var bad []object.ID
			err = r.repo.VerifyPack(ctx, loc.Pack, func(b object.Blob, err error) {
				if err != nil {
					if !errors.Is(err, object.ErrCorrupt) {
						t.Errorf("VerifyPack blob error %v, want ErrCorrupt", err)
					}
					bad = append(bad, b.ID)
				}
			})
			if !errors.Is(err, object.ErrCorrupt) {
				t.Errorf("VerifyPack = %v, want ErrCorrupt (pack hash)", err)
			}
			if len(bad) != 1 || bad[0] != blob {
				t.Errorf("VerifyPack flagged %v, want only %s", bad, blob.Short())
			}
			// undo, so the next case starts clean
			flipByte(t, filepath.Join(r.dir, filepath.FromSlash(object.PackName(loc.Pack))), int64(loc.Offset)+int64(loc.Length)/2)
		})
	}
}

func TestRestoreReportsCorruptTree(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "sub", "file"), "x")
	res := r.store(t, src, object.ID{})
	ctx := context.Background()
	n, err := snapshot.Find(ctx, r.repo, res.Tree, "sub")
	if err != nil {
		t.Fatal(err)
	}
	loc, _, _ := r.db.Lookup(n.Subtree)
	flipByte(t, filepath.Join(r.dir, filepath.FromSlash(object.PackName(loc.Pack))), int64(loc.Offset))
	_, err = snapshot.Restore(ctx, r.repo, res.Tree, filepath.Join(t.TempDir(), "d"), snapshot.RestoreOptions{})
	if !errors.Is(err, object.ErrCorrupt) || !strings.Contains(err.Error(), "sub") {
		t.Errorf("Restore = %v, want ErrCorrupt naming sub", err)
	}
	// a store with the damaged parent still succeeds: it reads everything afresh
	res2, err := snapshot.Store(ctx, r.repo, src, snapshot.StoreOptions{Pol: r.pol, ParentTree: res.Tree})
	if err != nil {
		t.Fatalf("store with a damaged parent: %v", err)
	}
	if res2.Stats.FilesNew+res2.Stats.FilesChanged != 1 {
		t.Errorf("stats %+v", res2.Stats)
	}
}
