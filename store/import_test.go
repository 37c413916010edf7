package store

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/snapshot"
)

// tarOf writes the tree at root as a tar stream to w (regular files,
// directories, symlinks).
func tarOf(t testing.TB, w io.Writer, root string) { t.Helper(); testutil.TarTree(t, w, root) }

func writeTar(t testing.TB, file, root string) {
	t.Helper()
	var b bytes.Buffer
	tarOf(t, &b, root)
	if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// tarGzOf returns the tree at root as a .tar.gz stream (see tarOf).
func tarGzOf(t testing.TB, root string) []byte {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tarOf(t, gz, root)
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeTarGz(t testing.TB, file, root string) {
	t.Helper()
	if err := os.WriteFile(file, tarGzOf(t, root), 0o644); err != nil {
		t.Fatal(err)
	}
}

// untarGz extracts a .tar.gz of regular files, directories and symlinks
// (from silo's own export, so trusted) into dest.
func untarGz(t testing.TB, file, dest string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dest, filepath.FromSlash(hdr.Name))
		if !strings.HasPrefix(p, dest) {
			t.Fatalf("export entry %q escapes", hdr.Name)
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(hdr.Mode)&0o7777|0o700); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			os.MkdirAll(filepath.Dir(p), 0o755)
			out, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(hdr.Mode)&0o7777)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			out.Close()
			os.Chmod(p, os.FileMode(hdr.Mode)&0o7777)
		case tar.TypeSymlink:
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.Symlink(hdr.Linkname, p); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("export holds a %c entry %q", hdr.Typeflag, hdr.Name)
		}
	}
	// directory modes as in the export (set last, like a restore)
	tr = nil
	f.Seek(0, io.SeekStart)
	gz, _ = gzip.NewReader(f)
	tr = tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		if hdr.Typeflag == tar.TypeDir {
			os.Chmod(filepath.Join(dest, filepath.FromSlash(hdr.Name)), os.FileMode(hdr.Mode)&0o7777)
		}
	}
}

// tarEntry is one entry of a hand-made archive.
type tarEntry struct {
	hdr  tar.Header
	body string
}

func makeTar(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	tes := make([]testutil.TarEntry, len(entries))
	for i, en := range entries {
		tes[i] = testutil.TarEntry{Header: en.hdr, Body: []byte(en.body)}
	}
	return testutil.Tar(t, tes...)
}

// rawTarHeader builds a 512-byte ustar header block with a correct checksum,
// whatever the size field says (archive/tar's writer refuses what these
// tests need).
func rawTarHeader(name string, typeflag byte, size int64) []byte {
	h := make([]byte, 512)
	copy(h[0:100], name)
	copy(h[100:108], "0000644\x00")
	copy(h[108:116], "0000000\x00")
	copy(h[116:124], "0000000\x00")
	copy(h[124:136], fmt.Sprintf("%011o\x00", size))
	copy(h[136:148], "00000000000\x00")
	h[156] = typeflag
	copy(h[257:263], "ustar\x00")
	copy(h[263:265], "00")
	for i := 148; i < 156; i++ {
		h[i] = ' '
	}
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return h
}

// hugeHeaderTar is an archive whose first entry is a special header (PAX
// extended header or GNU long name) of size bytes.
func hugeHeaderTar(typeflag byte, size int) []byte {
	var b bytes.Buffer
	b.Write(rawTarHeader("././@LongLink", typeflag, int64(size)))
	if typeflag == tar.TypeXHeader {
		rec := fmt.Sprintf(" comment=%s\n", strings.Repeat("A", size))
		// a PAX record starts with its own length
		n := len(rec)
		for len(fmt.Sprint(n))+len(rec) != n {
			n = len(fmt.Sprint(n)) + len(rec)
		}
		full := fmt.Sprint(n) + rec
		b.WriteString(full[:size])
	} else {
		b.Write(bytes.Repeat([]byte("n"), size))
	}
	if pad := b.Len() % 512; pad != 0 {
		b.Write(make([]byte, 512-pad))
	}
	b.Write(rawTarHeader("victim.txt", tar.TypeReg, 0))
	b.Write(make([]byte, 1024))
	return b.Bytes()
}

// snapshotTree lists the names under dir (recursively) except under skip,
// for "nothing was written outside" checks.
func snapshotTree(t testing.TB, dir string, skip ...string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && slices.Contains(skip, p) {
			return filepath.SkipDir
		}
		if err == nil {
			out = append(out, p)
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func TestImportHostileTar(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// a project that exists already, so refusals of new versions are seen too
	good := e.path("good")
	smallProject(t, good, 1, 4)
	e.save(t, good, "existing")

	// the sandbox: the repository lives in sandbox/repo; escapes would land
	// in sandbox/ or at an absolute path
	abs := filepath.Join(t.TempDir(), "absolute-target")
	cases := []struct {
		name string
		data []byte
	}{
		{"dotdot", makeTar(t, []tarEntry{{hdr: tar.Header{Name: "../escape.txt"}, body: "pwned"}})},
		{"dotdot inside", makeTar(t, []tarEntry{{hdr: tar.Header{Name: "ok.txt"}, body: "fine"},
			{hdr: tar.Header{Name: "a/b/../../../escape.txt"}, body: "pwned"}})},
		{"dotdot directory", makeTar(t, []tarEntry{{hdr: tar.Header{Name: "../outside/", Typeflag: tar.TypeDir, Mode: 0o755}}})},
		{"absolute", makeTar(t, []tarEntry{{hdr: tar.Header{Name: abs + "/x.txt"}, body: "pwned"}})},
		{"symlink then file", makeTar(t, []tarEntry{
			{hdr: tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: abs}},
			{hdr: tar.Header{Name: "link/pwned.txt"}, body: "pwned"}})},
		{"symlink to parent then file", makeTar(t, []tarEntry{
			{hdr: tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: ".."}},
			{hdr: tar.Header{Name: "up/escape.txt"}, body: "pwned"}})},
		{"symlink then directory", makeTar(t, []tarEntry{
			{hdr: tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: "/"}},
			{hdr: tar.Header{Name: "d/etc/", Typeflag: tar.TypeDir, Mode: 0o755}}})},
		{"file then file through it", makeTar(t, []tarEntry{
			{hdr: tar.Header{Name: "f"}, body: "x"},
			{hdr: tar.Header{Name: "f/g"}, body: "y"}})},
		{"hard link to a missing target", makeTar(t, []tarEntry{
			{hdr: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "missing.txt"}}})},
		{"hard link to a later file", makeTar(t, []tarEntry{
			{hdr: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "later.txt"}},
			{hdr: tar.Header{Name: "later.txt"}, body: "x"}})},
		{"hard link outside", makeTar(t, []tarEntry{
			{hdr: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../../etc/passwd"}}})},
		{"hard link to a directory", makeTar(t, []tarEntry{
			{hdr: tar.Header{Name: "d/", Typeflag: tar.TypeDir, Mode: 0o755}},
			{hdr: tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "d"}}})},
		{"huge PAX header", hugeHeaderTar(tar.TypeXHeader, 3<<20)},
		{"huge GNU long name", hugeHeaderTar(tar.TypeGNULongName, 3<<20)},
		{"truncated file", makeTar(t, []tarEntry{{hdr: tar.Header{Name: "big.bin"}, body: strings.Repeat("z", 4096)}})[:1536]},
	}
	sandbox := e.dir
	before := snapshotTree(t, sandbox, e.cfg.BasePath)
	catBefore := catalogueDump(t, e.s)
	snapsBefore, _ := e.s.Snapshots("")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, gz := range []bool{false, true} {
				data := c.data
				file := e.path("..", "hostile.tar") // outside the sandbox, so the sandbox stays comparable
				if gz {
					var b bytes.Buffer
					w := gzip.NewWriter(&b)
					w.Write(data)
					w.Close()
					data = b.Bytes()
					file += ".gz"
				}
				if err := os.WriteFile(file, data, 0o644); err != nil {
					t.Fatal(err)
				}
				for _, project := range []string{"hostile", "existing"} {
					_, err := e.s.Import(ctx, file, nil, SaveOptions{Project: project})
					if err == nil {
						t.Fatalf("gz=%v into %s: import succeeded", gz, project)
					}
					if !errors.Is(err, snapshot.ErrBadTar) && !errors.Is(err, snapshot.ErrUnsafePath) {
						t.Errorf("gz=%v: error %v is neither ErrBadTar nor ErrUnsafePath", gz, err)
					}
				}
				// standard input too
				if _, err := e.s.Import(ctx, "-", bytes.NewReader(data), SaveOptions{Project: "hostile"}); err == nil {
					t.Fatalf("gz=%v: import from a reader succeeded", gz)
				}
				os.Remove(file)
			}
		})
	}
	if after := snapshotTree(t, sandbox, e.cfg.BasePath); !slices.Equal(after, before) {
		t.Errorf("files appeared or vanished around the repository:\nbefore %v\nafter  %v", before, after)
	}
	if _, err := os.Lstat(abs); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists after the imports: %v", abs, err)
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(sandbox), "escape.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("escape.txt written beside the sandbox")
	}
	catAfter := catalogueDump(t, e.s)
	if len(catAfter) != len(catBefore) {
		t.Errorf("%d projects after the refused imports, was %d", len(catAfter), len(catBefore))
	}
	for id, p := range catBefore {
		if !projectsEqual(catAfter[id], p) {
			t.Errorf("project %s changed:\n%+v\nwas\n%+v", p.Name, catAfter[id], p)
		}
	}
	if snaps, _ := e.s.Snapshots(""); len(snaps) != len(snapsBefore) {
		t.Errorf("%d snapshots, was %d", len(snaps), len(snapsBefore))
	}
	checkClean(t, e.s)

	// the control: a well-formed archive with links and modes imports and
	// restores exactly
	ok := makeTar(t, []tarEntry{
		{hdr: tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}},
		{hdr: tar.Header{Name: "src/", Typeflag: tar.TypeDir, Mode: 0o750}},
		{hdr: tar.Header{Name: "src/main.go", Mode: 0o600}, body: "package main\n"},
		{hdr: tar.Header{Name: "src/copy.go", Typeflag: tar.TypeLink, Linkname: "src/main.go"}},
		{hdr: tar.Header{Name: "cur", Typeflag: tar.TypeSymlink, Linkname: "src"}},
		{hdr: tar.Header{Name: "outside", Typeflag: tar.TypeSymlink, Linkname: "../../etc/passwd"}},
	})
	res, err := e.s.Import(ctx, "-", bytes.NewReader(ok), SaveOptions{Project: "control"})
	if err != nil {
		t.Fatalf("well-formed archive: %v", err)
	}
	if res.Stats.Files() != 2 || res.Stats.Symlinks != 2 {
		t.Errorf("control import stats %+v", res.Stats)
	}
	dest := e.path("..", "control-restore")
	if _, _, err := e.s.Restore(ctx, "control", dest, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "src", "copy.go")); err != nil || string(b) != "package main\n" {
		t.Errorf("hard link copy: %q %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(dest, "outside")); err != nil || l != "../../etc/passwd" {
		t.Errorf("symlink kept as a link, never followed: %q %v", l, err)
	}
	if fi, err := os.Stat(filepath.Join(dest, "src")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("directory mode: %v %v", fi, err)
	}
}
