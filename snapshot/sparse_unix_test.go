//go:build unix

package snapshot_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// A sparse file restores sparse: a 64 MiB hole between two bits of data,
// and one at the end, come back as holes (far fewer blocks than bytes),
// with the same content and length.
func TestRestoreSparse(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		parts []int64 // offsets of 4 KiB of data; then the length
	}{
		{"middle.img", []int64{0, 64<<20 + 4096, 64<<20 + 8192}},
		{"tail.img", []int64{0, 64 << 20}},
	} {
		f, err := os.Create(filepath.Join(src, c.name))
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 4096)
		for i := range data {
			data[i] = byte(i%251 + 1)
		}
		for _, off := range c.parts[:len(c.parts)-1] {
			if _, err := f.WriteAt(data, off); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Truncate(c.parts[len(c.parts)-1]); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	res := r.store(t, src, object.ID{})
	dest := filepath.Join(t.TempDir(), "dest")
	if _, err := snapshot.Restore(context.Background(), r.repo, res.Tree, dest, snapshot.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"middle.img", "tail.img"} {
		if err := sameContent(filepath.Join(src, name), filepath.Join(dest, name)); err != nil {
			t.Fatal(err)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(dest, name), &st); err != nil {
			t.Fatal(err)
		}
		if used := st.Blocks * 512; used > st.Size/4 {
			t.Errorf("%s: %d bytes long, %d allocated: not sparse", name, st.Size, used)
		}
	}
}
