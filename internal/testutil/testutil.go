// Package testutil holds the helpers several packages' tests share. It
// imports nothing of silo, so any package's tests may use it.
package testutil

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// FlipByte XORs the byte at off in the file at path with mask: the damage
// tests' one way of corrupting a pack, an index or a restored file.
func FlipByte(t testing.TB, path string, off int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("read %s at %d: %v", path, off, err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatalf("write %s at %d: %v", path, off, err)
	}
}

// Long reports whether the heavy variants of the tests run
// (SILO_LONG_TESTS=1).
func Long() bool { return os.Getenv("SILO_LONG_TESTS") == "1" }

// RandomBytes returns n incompressible bytes determined by seed (the same
// bytes on every machine and run).
func RandomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	key[31] = 0x5a
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// TarEntry is one entry of a hand-made tar archive: its header (Typeflag
// 0 is a regular file, Mode 0 is 0644, and a regular file's Size is its
// body's length; other entries get Size 0) and its body.
type TarEntry struct {
	tar.Header
	Body []byte
}

// Tar writes entries as a PAX tar archive: the hostile and import tests'
// one way of making one. Errors fail t (nil t: they panic).
func Tar(t testing.TB, entries ...TarEntry) []byte {
	fail := func(err error) {
		if t == nil {
			panic(err)
		}
		t.Helper()
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.Header
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		h.Size = 0
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			fail(fmt.Errorf("tar header %q: %w", h.Name, err))
		}
		if _, err := tw.Write(e.Body); err != nil {
			fail(err)
		}
	}
	if err := tw.Close(); err != nil {
		fail(err)
	}
	return buf.Bytes()
}

// TarTree writes the tree at root (not root itself: regular files,
// directories, symlinks) as a tar stream to w.
func TarTree(t testing.TB, w io.Writer, root string) {
	t.Helper()
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
}
