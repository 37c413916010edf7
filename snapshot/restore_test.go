package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store/storetest"
)

// openUnder lists this process's open descriptors of files under root
// (the repository keeps pack files open; those are not counted).
func openUnder(t testing.TB, root string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && (l == root || strings.HasPrefix(l, root+"/")) {
			out = append(out, l)
		}
	}
	return out
}

// flipBlobByte flips a byte in the middle of a blob in its pack.
func flipBlobByte(t testing.TB, r *testRepo, id object.ID) {
	t.Helper()
	loc, ok, err := r.db.Lookup(id)
	if err != nil || !ok {
		t.Fatalf("lookup %s: %v %v", id.Short(), ok, err)
	}
	flipByte(t, filepath.Join(r.dir, filepath.FromSlash(object.PackName(loc.Pack))), int64(loc.Offset)+int64(loc.Length)/2)
}

// TestRestoreContinueOnError: a version with one damaged file (its last
// chunk, so part of it was written) and one damaged directory tree among
// many files. Without ContinueOnError the restore stops with ErrCorrupt;
// with it every other file restores identical, the damaged ones are
// listed, nothing stands in their place, and the error still says corrupt.
// No descriptor is left open either way.
func TestRestoreContinueOnError(t *testing.T) { testRestoreContinueOnError(t, newTestRepo(t)) }

// TestRestoreContinueOnErrorReadAhead: the same through a backend without
// random access, where a restore reads files' chunks ahead in batches.
func TestRestoreContinueOnErrorReadAhead(t *testing.T) {
	r := newTestRepo(t)
	r.remoteLike(t)
	testRestoreContinueOnError(t, r)
}

func testRestoreContinueOnError(t *testing.T, r *testRepo) {
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	for i := range 30 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("dir%d", i%4), fmt.Sprintf("file%02d.txt", i)), strings.Repeat(fmt.Sprintf("line %d\n", i), 50+i))
	}
	// over the chunker's 8 MiB maximum, so it is two chunks whatever the
	// repository's random polynomial
	writeRandom(t, filepath.Join(src, "dir1", "big.bin"), 7, 12<<20)
	writeFile(t, filepath.Join(src, "gone", "inside.txt"), "in a damaged tree")
	writeFile(t, filepath.Join(src, "gone", "deeper", "more.txt"), "also lost")
	symlink(t, "dir0/file00.txt", filepath.Join(src, "link"))
	res := r.store(t, src, object.ID{})

	big, err := snapshot.Find(ctx, r.repo, res.Tree, "dir1/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	if len(big.Content) < 2 {
		t.Fatalf("big.bin has %d chunks; the test needs a file written in part", len(big.Content))
	}
	gone, err := snapshot.Find(ctx, r.repo, res.Tree, "gone")
	if err != nil {
		t.Fatal(err)
	}
	want := storetest.Take(t, src)
	flipBlobByte(t, r, big.Content[len(big.Content)-1])
	flipBlobByte(t, r, gone.Subtree)

	t.Run("stop", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "dest")
		st, err := snapshot.Restore(ctx, r.repo, res.Tree, dest, snapshot.RestoreOptions{})
		if !errors.Is(err, object.ErrCorrupt) || st != nil {
			t.Fatalf("Restore = %v, %v; want ErrCorrupt and no stats", st, err)
		}
		if open := openUnder(t, dest); len(open) > 0 {
			t.Errorf("descriptors left open after a failed restore: %q", open)
		}
	})

	t.Run("continue", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "dest")
		st, err := snapshot.Restore(ctx, r.repo, res.Tree, dest, snapshot.RestoreOptions{ContinueOnError: true,
			RootMode: res.RootMode, RootMTime: res.RootMTime})
		if !errors.Is(err, object.ErrCorrupt) {
			t.Fatalf("Restore with ContinueOnError = %v, want an error wrapping ErrCorrupt", err)
		}
		if st == nil {
			t.Fatal("no stats with the error")
		}
		if open := openUnder(t, dest); len(open) > 0 {
			t.Errorf("descriptors left open after the restore: %q", open)
		}
		if len(st.Skipped) != 2 || st.Skipped[0].Path != "dir1/big.bin" || st.Skipped[1].Path != "gone/" {
			t.Fatalf("skipped %+v, want dir1/big.bin and gone/", st.Skipped)
		}
		if !strings.Contains(st.Skipped[0].Reason, big.Content[len(big.Content)-1].String()) ||
			!strings.Contains(st.Skipped[1].Reason, gone.Subtree.Short()) {
			t.Errorf("reasons do not name the damaged blobs: %+v", st.Skipped)
		}
		if st.Files != 30 || st.Symlinks != 1 {
			t.Errorf("stats %+v, want 30 files and 1 symlink", st)
		}
		// everything else is identical; nothing stands in for the damaged
		got := storetest.Take(t, dest)
		for k := range want {
			if k == "dir1/big.bin" || k == "gone" || strings.HasPrefix(k, "gone/") {
				if _, ok := got[k]; ok {
					t.Errorf("%s restored, want it left out", k)
				}
				delete(want, k)
			}
		}
		if d := want.Diff(got); len(d) > 0 {
			t.Errorf("restore differs:\n  %s", strings.Join(d, "\n  "))
		}
	})
}

// TestRestoreReadAhead: through a backend without random access (as S3),
// a restore reads the chunks of many small files with a few requests for
// many files each, and a large file in pieces ahead of its writes; it
// reads the packs about once, restores everything identical, and leaves
// no descriptor open, also when cancelled half way.
func TestRestoreReadAhead(t *testing.T) {
	r := newTestRepo(t)
	ctx := context.Background()
	src := filepath.Join(t.TempDir(), "src")
	const small = 900
	for i := range small {
		writeFile(t, filepath.Join(src, fmt.Sprintf("d%02d", i%30), fmt.Sprintf("f%03d.txt", i)),
			strings.Repeat(fmt.Sprintf("file %d line\n", i), 20+i%300))
	}
	for i := range 4 { // incompressible, a few chunks each
		writeRandom(t, filepath.Join(src, "bin", fmt.Sprintf("r%d.bin", i)), uint64(20+i), 300<<10)
	}
	writeRandom(t, filepath.Join(src, "big", "big.bin"), 9, 13<<20) // over a batch: read in pieces
	res := r.store(t, src, object.ID{})
	want := storetest.Take(t, src)
	var packBytes int64
	filepath.WalkDir(filepath.Join(r.dir, "packs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			fi, _ := d.Info()
			packBytes += fi.Size()
		}
		return nil
	})
	r.remoteLike(t)

	dest := filepath.Join(t.TempDir(), "dest")
	st, err := snapshot.Restore(ctx, r.repo, res.Tree, dest, snapshot.RestoreOptions{RootMode: res.RootMode, RootMTime: res.RootMTime})
	if err != nil {
		t.Fatal(err)
	}
	if d := want.Diff(storetest.Take(t, dest)); len(d) > 0 {
		t.Fatalf("restore differs:\n  %s", strings.Join(d, "\n  "))
	}
	gets, read := r.gets.gets.Load(), r.gets.bytes.Load()
	t.Logf("%d files, %d bytes of packs: %d Gets, %d bytes read", st.Files, packBytes, gets, read)
	// 32 directories' trees, one Get each (no pack cache here), and the
	// data in batches of up to 256 files
	if gets > 32+40 {
		t.Errorf("%d Gets for %d files: not read ahead in batches", gets, st.Files)
	}
	if read > packBytes*11/10 {
		t.Errorf("read %d bytes of %d bytes of packs", read, packBytes)
	}
	if open := openUnder(t, dest); len(open) > 0 {
		t.Errorf("descriptors left open after the restore: %q", open)
	}

	// cancelled while reading ahead: it stops with the context's error
	cctx, cancel := context.WithCancel(ctx)
	dest = filepath.Join(t.TempDir(), "dest")
	prog := &cancelAfter{n: 300, cancel: cancel}
	if _, err := snapshot.Restore(cctx, r.repo, res.Tree, dest, snapshot.RestoreOptions{Progress: prog}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled restore: %v", err)
	}
	if open := openUnder(t, dest); len(open) > 0 {
		t.Errorf("descriptors left open after a cancelled restore: %q", open)
	}
}

// cancelAfter is a Progress that cancels once n files are done.
type cancelAfter struct {
	n      int64
	done   atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelAfter) AddTotal(files, bytes int64) {}

func (c *cancelAfter) AddDone(files, bytes int64) {
	if c.done.Add(files) >= c.n && files > 0 {
		c.cancel()
	}
}
