//go:build unix

package snapshot_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/silo-dev/silo/snapshot"
)

// TestDeepTarRestores restores deep imports and reads them back level by
// level (no path of that length can be opened whole): a path of 6,001
// bytes, past PATH_MAX, and the hostile 20,001 levels. Restore holds a
// descriptor per level it is in, so the deepest one is tried only where
// RLIMIT_NOFILE allows 20,001.
func TestDeepTarRestores(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	for _, depth := range []int{3001, 20001} {
		if uint64(depth)+64 > uint64(lim.Cur) {
			t.Logf("depth %d: not restored: restore holds a descriptor per level, RLIMIT_NOFILE is %d", depth, lim.Cur)
			continue
		}
		data, _ := deepTar(t, depth)
		r := newTestRepo(t)
		ctx := context.Background()
		res, err := snapshot.StoreTar(ctx, r.repo, bytes.NewReader(data), snapshot.StoreOptions{Pol: r.pol})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.repo.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(t.TempDir(), "restored")
		_, err = snapshot.Restore(ctx, r.repo, res.Tree, dest, snapshot.RestoreOptions{})
		if err != nil {
			t.Fatalf("restore of depth %d: %.300s", depth, err)
		}
		checkDeep(t, dest, depth)
	}
}

// checkDeep reads a restored deep tree by descending one directory at a
// time: depth-1 directories "a", each holding only the next, and the file
// f with its content, mode and mtime.
func checkDeep(t *testing.T, dest string, depth int) {
	t.Helper()
	fd, err := unix.Open(dest, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for level := 1; level < depth; level++ {
		d := os.NewFile(uintptr(fd), "level")
		names, err := d.Readdirnames(-1)
		if err != nil || len(names) != 1 || names[0] != "a" {
			d.Close()
			t.Fatalf("level %d holds %q, %v; want only a", level, names, err)
		}
		next, err := unix.Openat(fd, "a", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		d.Close()
		if err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		fd = next
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstatat(fd, "f", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatalf("the deepest file: %v", err)
	}
	if st.Mode&0o777 != 0o644 || st.Mtim.Sec != 1700000000 || st.Size != 4 {
		t.Errorf("the deepest file: mode %o, mtime %d, size %d", st.Mode&0o777, st.Mtim.Sec, st.Size)
	}
	ffd, err := unix.Openat(fd, "f", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(ffd), "f")
	defer f.Close()
	if got, err := io.ReadAll(f); err != nil || string(got) != "xxxx" {
		t.Errorf("the deepest file holds %q, %v", got, err)
	}
}
