//go:build unix

package snapshot_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// TestRestoreDeepDescriptors: a chain deeper than the descriptors the
// walk keeps open, with a file at every level, restores every file and
// every directory's mode and mtime (ancestors closed and reopened on the
// way back up), and leaves no descriptor open.
func TestRestoreDeepDescriptors(t *testing.T) {
	const depth = 300
	r := newTestRepo(t)
	ctx := context.Background()
	save := func(typ object.BlobType, data []byte) object.ID {
		id := object.Hash(data)
		if _, err := r.repo.SaveBlob(ctx, typ, id, data); err != nil {
			t.Fatal(err)
		}
		return id
	}
	var nodes []snapshot.Node
	var tree object.ID
	for i := depth; i >= 0; i-- {
		content := []byte(fmt.Sprintf("level %d\n", i))
		data := save(object.DataBlob, content)
		nodes = append(nodes, snapshot.Node{Name: "f", Type: snapshot.File, Mode: 0o640, MTime: int64(i) * 1e9,
			Size: uint64(len(content)), Content: []object.ID{data}})
		tree = save(object.TreeBlob, snapshot.EncodeTree(nodes))
		nodes = []snapshot.Node{{Name: "d", Type: snapshot.Dir, Mode: 0o700 + uint32(i%8)*0o10, MTime: int64(i)*1e9 + 7, Subtree: tree}}
	}
	if err := r.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "dest")
	st, err := snapshot.Restore(ctx, r.repo, tree, dest, snapshot.RestoreOptions{Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	if open := openUnder(t, dest); len(open) > 0 {
		t.Errorf("descriptors left open after the restore: %d", len(open))
	}
	if st.Files != depth+1 || st.Dirs != depth {
		t.Errorf("stats %+v", st)
	}
	p := dest
	for i := 0; i <= depth; i++ {
		b, err := os.ReadFile(filepath.Join(p, "f"))
		if want := fmt.Sprintf("level %d\n", i); err != nil || !bytes.Equal(b, []byte(want)) {
			t.Fatalf("level %d: file holds %q (%v)", i, b, err)
		}
		if i == depth {
			break
		}
		p = filepath.Join(p, "d")
		var s unix.Stat_t
		if err := unix.Lstat(p, &s); err != nil {
			t.Fatal(err)
		}
		if mode, want := uint32(s.Mode)&0o777, 0o700+uint32((i+1)%8)*0o10; mode != want || s.Mtim.Nano() != int64(i+1)*1e9+7 {
			t.Fatalf("level %d: directory mode %o mtime %d, want %o and %d", i+1, mode, s.Mtim.Nano(), want, int64(i+1)*1e9+7)
		}
	}
}
