package snapshot_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// hostileTar writes entries with full control over their headers.
func hostileTar(t testing.TB, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1700000000, 0)
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg && h.Size > 0 {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func storeTar(data []byte, opts snapshot.StoreOptions) (*snapshot.StoreResult, error) {
	opts.Pol = fuzzPol
	repo := &memRepo{blobs: map[object.ID][]byte{}}
	return snapshot.StoreTar(context.Background(), repo, bytes.NewReader(data), opts)
}

// Hard links count toward the size limit: 200 links to a 900 KB file make
// a 180 MB tree (a restore writes every copy), not a 900 KB one.
func TestStoreTarHardLinksCountTowardLimit(t *testing.T) {
	hdrs := []*tar.Header{{Name: "big.bin", Size: 900_000}}
	for i := range 200 {
		hdrs = append(hdrs, &tar.Header{Name: fmt.Sprintf("l%d", i), Typeflag: tar.TypeLink, Linkname: "big.bin"})
	}
	data := hostileTar(t, hdrs...)
	_, err := storeTar(data, snapshot.StoreOptions{Limit: 1_000_000})
	if !errors.Is(err, snapshot.ErrLimit) || !strings.Contains(err.Error(), "hard link") {
		t.Fatalf("StoreTar with 200 hard links under a 1 MB limit = %v, want ErrLimit naming the hard link", err)
	}
	res, err := storeTar(data, snapshot.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Size != 201*900_000 || res.Stats.FilesNew != 201 {
		t.Errorf("without a limit: size %d files %d, want %d and 201", res.Stats.Size, res.Stats.FilesNew, 201*900_000)
	}
}

// Odd shapes are refused up front with an error naming the entry (cut
// short), before they cost memory or time.
func TestStoreTarRefusesOddShapes(t *testing.T) {
	name255 := strings.Repeat("n", 255)
	tests := []struct {
		name string
		hdrs []*tar.Header
		opts snapshot.StoreOptions
		want []error
		msg  string
	}{
		{"a path of 65,537 bytes", []*tar.Header{{Name: strings.Repeat(name255+"/", 256) + "x"}}, snapshot.StoreOptions{},
			[]error{snapshot.ErrBadTar, snapshot.ErrPathLimit}, "65537 bytes long (at most 65536)"},
		{"32,769 levels in one name", []*tar.Header{{Name: strings.Repeat("d/", 32768) + "f"}}, snapshot.StoreOptions{MaxPath: 1 << 20},
			[]error{snapshot.ErrBadTar, snapshot.ErrPathLimit}, "32769 levels deep (at most 32768)"},
		{"a directory entry past the depth", []*tar.Header{{Name: strings.Repeat("d/", 4), Typeflag: tar.TypeDir}},
			snapshot.StoreOptions{MaxDepth: 3}, []error{snapshot.ErrPathLimit}, "4 levels deep (at most 3)"},
		{"a path past MaxPath", []*tar.Header{{Name: "d/" + strings.Repeat("n", 200) + "/" + strings.Repeat("x/", 1946) + "yy"}},
			snapshot.StoreOptions{MaxPath: 4096}, []error{snapshot.ErrPathLimit}, "4097 bytes long"},
		{"a hard link to a path past MaxPath", []*tar.Header{{Name: "l", Typeflag: tar.TypeLink, Linkname: strings.Repeat("d/", 40000)}},
			snapshot.StoreOptions{}, []error{snapshot.ErrBadTar}, "hard link"},
		{"a 256-byte name", []*tar.Header{{Name: "dir/" + strings.Repeat("n", 256)}}, snapshot.StoreOptions{},
			[]error{snapshot.ErrBadTar, snapshot.ErrUnsafePath}, "256 bytes long (at most 255 can be restored)"},
		{"a 256-byte directory name on the way", []*tar.Header{{Name: strings.Repeat("n", 256) + "/f"}}, snapshot.StoreOptions{},
			[]error{snapshot.ErrUnsafePath}, "256 bytes long"},
		{"70 KB of PAX records", []*tar.Header{{Name: "meta", PAXRecords: map[string]string{"SILO.junk": strings.Repeat("j", 70<<10)}}},
			snapshot.StoreOptions{}, []error{snapshot.ErrBadTar}, "bytes of PAX records (at most 65536)"},
		{"more entries than allowed", []*tar.Header{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}},
			snapshot.StoreOptions{MaxEntries: 3}, []error{snapshot.ErrEntryLimit}, `more than 3 entries (at entry "d")`},
		{"implicit directories are entries", []*tar.Header{{Name: "a/b/c/f"}},
			snapshot.StoreOptions{MaxEntries: 3}, []error{snapshot.ErrEntryLimit}, "more than 3 entries"},
		{"hard links are entries", []*tar.Header{{Name: "f"}, {Name: "l1", Typeflag: tar.TypeLink, Linkname: "f"},
			{Name: "l2", Typeflag: tar.TypeLink, Linkname: "f"}}, snapshot.StoreOptions{MaxEntries: 2},
			[]error{snapshot.ErrEntryLimit}, `at entry "l2"`},
		{"../ escape", []*tar.Header{{Name: "ok/../../x"}}, snapshot.StoreOptions{},
			[]error{snapshot.ErrBadTar, snapshot.ErrUnsafePath}, "climbs out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := storeTar(hostileTar(t, tc.hdrs...), tc.opts)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("StoreTar = %v, want %v", err, w)
				}
			}
			if err != nil && (!strings.Contains(err.Error(), tc.msg) || len(err.Error()) > 600) {
				t.Errorf("message %q (%d bytes) does not say %q in a few words", err, len(err.Error()), tc.msg)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v to refuse", d)
			}
		})
	}
	// at the limits, all is well: 32,768 levels in 65,535 bytes (a path
	// longer than MaxHeaderMeta: its PAX record does not count), a
	// 255-byte name, 60 KB of other PAX records
	ok := []*tar.Header{{Name: strings.Repeat("d/", 32767) + "f"}, {Name: name255, Size: 1},
		{Name: "meta", PAXRecords: map[string]string{"SILO.note": strings.Repeat("j", 60<<10)}}}
	if _, err := storeTar(hostileTar(t, ok...), snapshot.StoreOptions{MaxEntries: 32771}); err != nil {
		t.Errorf("entries at the limits: %v", err)
	}
}

// The directory walk keeps the same bounds as the tar import.
func TestStoreDirLimits(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a", "b", "c", "d", "f"), "deep")
	writeFile(t, filepath.Join(src, "top"), "x")
	ctx := context.Background()
	_, err := snapshot.Store(ctx, r.repo, src, snapshot.StoreOptions{Pol: r.pol, MaxDepth: 4})
	if !errors.Is(err, snapshot.ErrPathLimit) || !strings.Contains(err.Error(), `"a/b/c/d/f" is 5 levels deep (at most 4)`) {
		t.Errorf("Store with MaxDepth 4 = %v, want ErrPathLimit naming a/b/c/d/f", err)
	}
	_, err = snapshot.Store(ctx, r.repo, src, snapshot.StoreOptions{Pol: r.pol, MaxPath: 8})
	if !errors.Is(err, snapshot.ErrPathLimit) || !strings.Contains(err.Error(), "9 bytes long (at most 8)") {
		t.Errorf("Store with MaxPath 8 = %v, want ErrPathLimit", err)
	}
	_, err = snapshot.Store(ctx, r.repo, src, snapshot.StoreOptions{Pol: r.pol, MaxEntries: 5})
	if !errors.Is(err, snapshot.ErrEntryLimit) {
		t.Errorf("Store of 6 entries with MaxEntries 5 = %v, want ErrEntryLimit", err)
	}
	if _, err := snapshot.Store(ctx, r.repo, src, snapshot.StoreOptions{Pol: r.pol, MaxEntries: 6, MaxDepth: 5}); err != nil {
		t.Errorf("Store at the limits: %v", err)
	}
}

// A tree stored before names were limited to 255 bytes still decodes
// (check and gc keep working), and its long name is refused at restore
// with a message that says why, not ENAMETOOLONG halfway through.
func TestLongNameInOldTree(t *testing.T) {
	long := strings.Repeat("n", 300)
	if err := snapshot.CheckName(strings.Repeat("n", 255)); err != nil {
		t.Errorf("CheckName of 255 bytes: %v", err)
	}
	if err := snapshot.CheckName(long); !errors.Is(err, snapshot.ErrUnsafePath) {
		t.Errorf("CheckName of 300 bytes = %v", err)
	}
	repo := &memRepo{blobs: map[object.ID][]byte{}}
	ctx := context.Background()
	data := []byte("hi")
	repo.SaveBlob(ctx, object.DataBlob, object.Hash(data), data)
	tree := snapshot.EncodeTree([]snapshot.Node{{Name: long, Type: snapshot.File, Mode: 0o644, Size: 2, Content: []object.ID{object.Hash(data)}}})
	repo.SaveBlob(ctx, object.TreeBlob, object.Hash(tree), tree)
	if _, err := snapshot.DecodeTree(tree); err != nil {
		t.Fatalf("a stored tree with a 300-byte name no longer decodes: %v", err)
	}
	_, err := snapshot.Restore(ctx, repo, object.Hash(tree), t.TempDir(), snapshot.RestoreOptions{})
	if !errors.Is(err, snapshot.ErrUnsafePath) || !strings.Contains(err.Error(), "300 bytes long") {
		t.Errorf("Restore = %v, want ErrUnsafePath naming the 300-byte name", err)
	}
}
