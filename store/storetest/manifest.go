// Package storetest holds helpers for the tests of silo's packages: a
// tree's exact state, to compare restores and exports with their source.
package storetest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Manifest maps each path under a root ("." for the root itself) to its
// type, permission bits and mtime in nanoseconds, plus size and content hash
// (files) or target (symlinks): everything a restore must bring back.
// Sockets, fifos and devices are left out, as silo does not store them.
// Take is per platform: manifest_unix.go, manifest_windows.go.
type Manifest map[string]string

// Diff lists how got differs from m (at most 15 lines).
func (m Manifest) Diff(got Manifest) []string {
	var out []string
	for k, v := range m {
		if w, ok := got[k]; !ok {
			out = append(out, fmt.Sprintf("missing %q", k))
		} else if v != w {
			out = append(out, fmt.Sprintf("%q: got %s, want %s", k, w, v))
		}
	}
	for k := range got {
		if _, ok := m[k]; !ok {
			out = append(out, fmt.Sprintf("extra %q", k))
		}
	}
	slices.Sort(out)
	if len(out) > 15 {
		out = append(out[:15], fmt.Sprintf("... %d more", len(out)-15))
	}
	return out
}

// contentLine is the size and content hash of the file at p, as a
// manifest line ends for a regular file.
func contentLine(p string, buf []byte) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(" %d %x", n, h.Sum(nil)[:12]), nil
}

// Take records the tree at root.
func Take(t testing.TB, root string) Manifest {
	t.Helper()
	m := Manifest{}
	buf := make([]byte, 1<<20)
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line, ok, err := entryLine(p, buf)
		if ok {
			m[filepath.ToSlash(rel)] = line // keys as on Unix
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}
