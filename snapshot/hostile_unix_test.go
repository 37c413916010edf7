//go:build unix

package snapshot_test

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/silo-dev/silo/snapshot"
)

// Restoring into directories that exist leaves their mode and mtime alone
// (extracting into a 0700 directory once made it 0777 with an mtime in
// 1970), while directories the restore creates get the stored ones; no
// setuid, setgid or sticky bit is ever restored.
func TestRestoreKeepsExistingDirectoriesAndDropsSpecialBits(t *testing.T) {
	r := newTestRepo(t)
	ctx := context.Background()
	epoch := time.Unix(0, 0)
	data := hostileTar(t,
		&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o777, ModTime: epoch},
		&tar.Header{Name: "keep/", Typeflag: tar.TypeDir, Mode: 0o777, ModTime: epoch},
		&tar.Header{Name: "keep/f", Size: 1},
		&tar.Header{Name: "new/", Typeflag: tar.TypeDir, Mode: 0o2775, ModTime: time.Unix(1600000000, 0)},
		&tar.Header{Name: "new/suid", Size: 2, Mode: 0o4755},
		&tar.Header{Name: "new/sgid", Size: 2, Mode: 0o2711},
		&tar.Header{Name: "sticky/", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: time.Unix(1600000000, 0)},
	)
	res, err := snapshot.StoreTar(ctx, r.repo, bytes.NewReader(data), snapshot.StoreOptions{Pol: r.pol})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if res.RootMode != 0o777 || res.RootMTime != 0 {
		t.Fatalf("root %o %d", res.RootMode, res.RootMTime)
	}
	base := t.TempDir()
	dest := filepath.Join(base, "ws")
	mkdir(t, filepath.Join(dest, "keep"))
	chmod(t, dest, 0o700)
	chmod(t, filepath.Join(dest, "keep"), 0o700)
	before := time.Now().Add(-time.Second)
	if _, err := snapshot.Restore(ctx, r.repo, res.Tree, dest, snapshot.RestoreOptions{RootMode: res.RootMode, RootMTime: res.RootMTime}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dest, filepath.Join(dest, "keep")} {
		st := lstat(t, p)
		if st.Mode&0o7777 != 0o700 || time.Unix(0, st.Mtim.Nano()).Before(before) {
			t.Errorf("existing %s: mode %04o mtime %v, want 0700 and its own mtime", p, st.Mode&0o7777, time.Unix(0, st.Mtim.Nano()))
		}
	}
	for p, want := range map[string]uint32{"new": 0o775, "new/suid": 0o755, "new/sgid": 0o711, "sticky": 0o777} {
		st := lstat(t, filepath.Join(dest, p))
		if uint32(st.Mode)&0o7777 != want {
			t.Errorf("%s: mode %04o, want %04o (no setuid, setgid or sticky)", p, st.Mode&0o7777, want)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && st.Mtim.Sec != 1600000000 {
			t.Errorf("%s: created by the restore, mtime %d, want the stored one", p, st.Mtim.Sec)
		}
	}
	// a destination the restore creates gets the stored root mode and mtime
	fresh := filepath.Join(base, "fresh")
	if _, err := snapshot.Restore(ctx, r.repo, res.Tree, fresh, snapshot.RestoreOptions{RootMode: res.RootMode, RootMTime: res.RootMTime}); err != nil {
		t.Fatal(err)
	}
	if st := lstat(t, fresh); st.Mode&0o7777 != 0o777 || st.Mtim.Nano() != 0 {
		t.Errorf("new destination: mode %04o mtime %d, want 0777 and 0", st.Mode&0o7777, st.Mtim.Nano())
	}
	if _, err := os.Stat(filepath.Join(fresh, "keep", "f")); err != nil {
		t.Error(err)
	}
}
