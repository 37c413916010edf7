//go:build unix

package snapshot_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// A file or symlink entry whose name is taken in dest by a symlink pointing
// outside: the symlink is replaced, never followed.
func TestRestoreReplacesSymlinkInTheWay(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "f"), "new content")
	writeFile(t, filepath.Join(src, "dangling"), "no file appears outside")
	writeFile(t, filepath.Join(src, "hardlinked"), "replaced, not written into")
	symlink(t, "relative/target", filepath.Join(src, "l"))
	chmod(t, filepath.Join(src, "f"), 0o600)
	scrambleTimes(t, src, 5)
	res := r.store(t, src, object.ID{})

	box := newEscapeBox(t)
	outsideFile := filepath.Join(box.outside, "target.txt")
	symlink(t, outsideFile, filepath.Join(box.dest, "f"))
	symlink(t, filepath.Join(box.outside, "created-by-restore"), filepath.Join(box.dest, "dangling"))
	symlink(t, filepath.Join(box.outside, "dir"), filepath.Join(box.dest, "l"))
	if err := os.Link(outsideFile, filepath.Join(box.dest, "hardlinked")); err != nil {
		t.Fatal(err)
	}
	box.snapshotOutside(t)
	before := lstat(t, outsideFile)
	_, err := snapshot.Restore(context.Background(), r.repo, res.Tree, box.dest,
		snapshot.RestoreOptions{RootMode: res.RootMode, RootMTime: res.RootMTime})
	if err != nil {
		t.Fatal(err)
	}
	box.assertOutsideUnchanged(t)
	after := lstat(t, outsideFile)
	if after.Mode != before.Mode || after.Mtim != before.Mtim || after.Size != before.Size {
		t.Errorf("outside file metadata changed: mode %o->%o mtime %v->%v", before.Mode, after.Mode, before.Mtim, after.Mtim)
	}
	// dest existed, so it keeps its own mode and mtime
	compareTrees(t, src, box.dest, false)
}
