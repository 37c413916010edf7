//go:build unix

package snapshot_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// odd but legal names: unicode (NFC and NFD), invalid UTF-8, control
// characters, a leading dash, dots that are not "." or "..", 255 bytes
var oddNames = []string{
	"ünïcødé.txt",
	"u\u0308nicode-nfd.txt",
	"日本語のファイル.md",
	"emoji-🙂🚀.bin",
	"new\nline",
	"tab\tand space ",
	`back\slash`,
	"invalid-\xff\xfe-utf8",
	"-rf",
	".hidden",
	"..dotdot-prefix",
	"...",
	"a:b*c?d|e<f>g\"",
	strings.Repeat("x", 251) + ".txt",
}

type treeCounts struct {
	files, dirs, links int64
	size               int64
}

// buildMixedTree writes the round-trip corpus under root and returns what it holds.
func buildMixedTree(t *testing.T, root string) treeCounts {
	var c treeCounts
	file := func(rel, data string, mode uint32) {
		p := filepath.Join(root, rel)
		writeFile(t, p, data)
		chmod(t, p, mode)
		c.files++
		c.size += int64(len(data))
	}
	random := func(rel string, seed uint64, size int64) {
		writeRandom(t, filepath.Join(root, rel), seed, size)
		c.files++
		c.size += size
	}
	dirModes := map[string]uint32{}
	dir := func(rel string, mode uint32) {
		mkdir(t, filepath.Join(root, rel))
		dirModes[rel] = mode
		c.dirs++
	}
	link := func(target, rel string) {
		symlink(t, target, filepath.Join(root, rel))
		c.links++
	}
	dir("empty-dir", 0o700)
	file("empty", "", 0o644)
	file("empty-0600", "", 0o600)
	file("script.sh", "#!/bin/sh\necho hi\n", 0o755)
	file("readonly.txt", "cannot touch this\n", 0o444)
	file("setuid-bin", "pretend binary", 0o4755)
	file("setgid-bin", "pretend binary 2", 0o2711)
	dir("names", 0o755)
	for i, n := range oddNames {
		file("names/"+n, strings.Repeat(n, i+1), 0o644)
	}
	dir("names/目录-ディレクトリ", 0o755)
	file("names/目录-ディレクトリ/"+oddNames[3], "nested unicode", 0o640)
	dir("modes", 0o755)
	dir("modes/private", 0o700)
	file("modes/private/secret", "s3cret", 0o600)
	dir("modes/setgid", 0o2775)
	file("modes/setgid/inherits", "group", 0o664)
	dir("modes/sticky", 0o1777)
	dir("modes/readonly-dir", 0o500)
	file("modes/readonly-dir/inside", "written before the dir became read-only", 0o400)
	dir("links", 0o755)
	link("/etc/passwd", "links/absolute")
	link("../ünïcødé.txt", "links/relative")
	link("../names/"+oddNames[0], "links/to-unicode")
	link("does/not/exist", "links/dangling")
	link("../modes", "links/to-dir") // never followed: "modes" must not appear twice
	link("self-loop", "links/self-loop")
	link(strings.Repeat("long/", 200)+"target", "links/long-target")
	dir("deep", 0o755)
	deep := "deep"
	for i := range 12 {
		deep += "/" + strings.Repeat(string(rune('a'+i)), i+1)
		dir(deep, 0o755)
	}
	file(deep+"/bottom.txt", "at the bottom", 0o644)
	dir("big", 0o755)
	// larger than the 8 MiB maximum chunk; chunk boundaries everywhere
	random("big/random-17M", 1, 17<<20+12345)
	random("big/max-chunk-plus-one", 2, chunk.MaxSize+1)
	random("big/exactly-max-chunk", 3, chunk.MaxSize)
	random("big/min-chunk-minus-one", 4, chunk.MinSize-1)
	random("big/min-chunk", 5, chunk.MinSize)
	writeFrom(t, filepath.Join(root, "big/zeros-9M"), io.LimitReader(zeroReader{}, 9<<20))
	c.files++
	c.size += 9 << 20
	// a fifo is skipped with a warning, never restored
	if err := unix.Mkfifo(filepath.Join(root, "a-fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	// modes of directories last: a 0500 directory is still writable by root,
	// but set them after the content anyway
	for rel, mode := range dirModes {
		chmod(t, filepath.Join(root, rel), mode)
	}
	scrambleTimes(t, root, 7)
	return c
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestRoundTripMixedTree(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	mkdir(t, src)
	chmod(t, src, 0o750)
	want := buildMixedTree(t, src)
	res := r.store(t, src, object.ID{})
	st := res.Stats
	if st.FilesNew != want.files || st.FilesChanged != 0 || st.FilesUnchanged != 0 {
		t.Errorf("files new/changed/unchanged = %d/%d/%d, want %d/0/0", st.FilesNew, st.FilesChanged, st.FilesUnchanged, want.files)
	}
	if st.Dirs != want.dirs+1 || st.Symlinks != want.links || st.Skipped != 1 {
		t.Errorf("dirs %d symlinks %d skipped %d, want %d %d 1", st.Dirs, st.Symlinks, st.Skipped, want.dirs+1, want.links)
	}
	if st.Size != want.size || st.BytesRead != want.size {
		t.Errorf("size %d read %d, want %d", st.Size, st.BytesRead, want.size)
	}
	if res.RootMode != 0o750 {
		t.Errorf("root mode %o", res.RootMode)
	}
	dest := r.restore(t, res)
	compareTrees(t, src, dest, true)

	// every chunk respects the chunker's bounds and the chunks add up
	ctx := context.Background()
	err := snapshot.Walk(ctx, r.repo, res.Tree, func(p string, n *snapshot.Node) error {
		if n.Type != snapshot.File {
			return nil
		}
		var sum uint64
		for i, id := range n.Content {
			loc, ok, err := r.db.Lookup(id)
			if err != nil || !ok {
				t.Fatalf("%s: chunk %d not indexed (%v)", p, i, err)
			}
			if loc.Type != object.DataBlob {
				t.Errorf("%s: chunk %d is a %s blob", p, i, loc.Type)
			}
			if loc.RawLength > chunk.MaxSize {
				t.Errorf("%s: chunk %d of %d bytes", p, i, loc.RawLength)
			}
			if i < len(n.Content)-1 && loc.RawLength < chunk.MinSize {
				t.Errorf("%s: inner chunk %d of %d bytes", p, i, loc.RawLength)
			}
			sum += uint64(loc.RawLength)
		}
		if sum != n.Size {
			t.Errorf("%s: chunks hold %d bytes, node says %d", p, sum, n.Size)
		}
		if strings.HasPrefix(p, "big/random") && len(n.Content) < 3 {
			t.Errorf("%s: only %d chunks", p, len(n.Content))
		}
		if p == "empty" && len(n.Content) != 0 {
			t.Errorf("empty file has %d chunks", len(n.Content))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// the symlink to a directory was stored as a link, not followed
	n, err := snapshot.Find(ctx, r.repo, res.Tree, "links/to-dir")
	if err != nil || n.Type != snapshot.Symlink || n.Target != "../modes" {
		t.Errorf("links/to-dir = %+v, %v", n, err)
	}

	// restoring over the restored tree (everything exists) gives the same
	// files; the existing directories keep their modes (the stored ones,
	// from the first restore) and the kernel's mtimes
	_, err = snapshot.Restore(ctx, r.repo, res.Tree, dest, snapshot.RestoreOptions{RootMode: res.RootMode, RootMTime: res.RootMTime})
	if err != nil {
		t.Fatalf("restore over an existing tree: %v", err)
	}
	compareTreesOpt(t, src, dest, false, false)
}

func TestRoundTripManySmallFiles(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	const dirs, perDir = 100, 100 // 10,000 files
	rng := randReader(9)
	buf := make([]byte, 300)
	for d := range dirs {
		dir := filepath.Join(src, "d"+itoa(d))
		mkdir(t, dir)
		for f := range perDir {
			io.ReadFull(rng, buf)
			n := int(buf[0]) % 257 // 0..256 bytes
			if err := os.WriteFile(filepath.Join(dir, "f"+itoa(f)+".txt"), buf[1:1+n], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	scrambleTimes(t, src, 11)
	res := r.store(t, src, object.ID{})
	if got := res.Stats.Files(); got != dirs*perDir {
		t.Fatalf("stored %d files, want %d", got, dirs*perDir)
	}
	dest := r.restore(t, res)
	compareTrees(t, src, dest, true)

	// an unchanged re-store reads nothing and adds nothing
	again := r.store(t, src, res.Tree)
	if again.Stats.FilesUnchanged != dirs*perDir || again.Stats.BytesRead != 0 || again.Stats.BlobsAdded != 0 || again.Tree != res.Tree {
		t.Errorf("unchanged re-store: %+v, tree %s vs %s", again.Stats, again.Tree.Short(), res.Tree.Short())
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func TestIncludeRestore(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	mkdir(t, src)
	buildMixedTree(t, src)
	res := r.store(t, src, object.ID{})
	ctx := context.Background()

	restoreInclude := func(include ...string) (string, error) {
		dest := filepath.Join(t.TempDir(), "dest")
		_, err := snapshot.Restore(ctx, r.repo, res.Tree, dest, snapshot.RestoreOptions{Include: include,
			RootMode: res.RootMode, RootMTime: res.RootMTime})
		return dest, err
	}
	// only the included path and its parents exist under dest
	onlyPath := func(dest, rel string) {
		t.Helper()
		parts := strings.Split(rel, "/")
		cur := dest
		for i, p := range parts {
			ents, err := os.ReadDir(cur)
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != 1 || ents[0].Name() != p {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Fatalf("%s holds %q, want only %q", cur, names, p)
			}
			cur = filepath.Join(cur, p)
			if i < len(parts)-1 {
				// intermediate directories get their metadata too
				ws, gs := lstat(t, filepath.Join(src, strings.Join(parts[:i+1], "/"))), lstat(t, cur)
				if ws.Mode != gs.Mode || ws.Mtim != gs.Mtim {
					t.Errorf("intermediate %s: mode %o mtime %v, want %o %v", cur, gs.Mode, gs.Mtim, ws.Mode, ws.Mtim)
				}
			}
		}
	}

	t.Run("subtree", func(t *testing.T) {
		for _, inc := range []string{"modes", "deep/a/bb", "names/目录-ディレクトリ", "/modes/setgid/"} {
			dest, err := restoreInclude(inc)
			if err != nil {
				t.Fatalf("include %q: %v", inc, err)
			}
			rel := strings.Trim(inc, "/")
			onlyPath(dest, rel)
			compareTrees(t, filepath.Join(src, rel), filepath.Join(dest, rel), true)
		}
	})
	t.Run("file", func(t *testing.T) {
		for _, inc := range []string{"big/random-17M", "names/" + oddNames[7], "modes/private/secret", "empty"} {
			dest, err := restoreInclude(inc)
			if err != nil {
				t.Fatalf("include %q: %v", inc, err)
			}
			onlyPath(dest, inc)
			ws, gs := lstat(t, filepath.Join(src, inc)), lstat(t, filepath.Join(dest, inc))
			if ws.Mode != gs.Mode || ws.Mtim != gs.Mtim || ws.Size != gs.Size {
				t.Errorf("%s: mode %o mtime %v size %d, want %o %v %d", inc, gs.Mode, gs.Mtim, gs.Size, ws.Mode, ws.Mtim, ws.Size)
			}
			if err := sameContent(filepath.Join(src, inc), filepath.Join(dest, inc)); err != nil {
				t.Errorf("%s: %v", inc, err)
			}
		}
	})
	t.Run("symlink", func(t *testing.T) {
		dest, err := restoreInclude("links/dangling")
		if err != nil {
			t.Fatal(err)
		}
		onlyPath(dest, "links/dangling")
		if l, err := os.Readlink(filepath.Join(dest, "links/dangling")); err != nil || l != "does/not/exist" {
			t.Errorf("link = %q, %v", l, err)
		}
		ws, gs := lstat(t, filepath.Join(src, "links/dangling")), lstat(t, filepath.Join(dest, "links/dangling"))
		if ws.Mtim != gs.Mtim {
			t.Errorf("symlink mtime %v, want %v", gs.Mtim, ws.Mtim)
		}
	})
	t.Run("several", func(t *testing.T) {
		// two files of one directory, a subtree beside them, a path inside
		// that subtree (adds nothing) and a second top-level subtree
		dest, err := restoreInclude("modes/private/secret", "modes/setgid", "deep/a/bb", "deep/a/bb/", "deep/a/bb/x", "empty")
		if err != nil {
			t.Fatal(err)
		}
		top, err := os.ReadDir(dest)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range top {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, []string{"deep", "empty", "modes"}) {
			t.Fatalf("dest holds %q", names)
		}
		compareTrees(t, filepath.Join(src, "modes/setgid"), filepath.Join(dest, "modes/setgid"), true)
		compareTrees(t, filepath.Join(src, "deep/a/bb"), filepath.Join(dest, "deep/a/bb"), true)
		if err := sameContent(filepath.Join(src, "modes/private/secret"), filepath.Join(dest, "modes/private/secret")); err != nil {
			t.Error(err)
		}
		if ents, _ := os.ReadDir(filepath.Join(dest, "modes")); len(ents) != 2 {
			t.Errorf("modes/ holds %d entries, want private and setgid", len(ents))
		}
		for _, d := range []string{"modes", "modes/private", "deep", "deep/a"} {
			ws, gs := lstat(t, filepath.Join(src, d)), lstat(t, filepath.Join(dest, d))
			if ws.Mode != gs.Mode || ws.Mtim != gs.Mtim {
				t.Errorf("intermediate %s: mode %o mtime %v, want %o %v", d, gs.Mode, gs.Mtim, ws.Mode, ws.Mtim)
			}
		}
		if _, err := restoreInclude("modes/setgid", "nope"); !errors.Is(err, snapshot.ErrNotFound) || !strings.Contains(err.Error(), "nope") {
			t.Errorf("one missing include among two: %v", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		for _, inc := range []string{"nope", "modes/nope", "empty/below-a-file", "links/to-dir/private"} {
			dest, err := restoreInclude(inc)
			if err == nil {
				t.Errorf("include %q succeeded", inc)
			} else if !errors.Is(err, snapshot.ErrNotFound) && !strings.Contains(err.Error(), "not a directory") {
				t.Errorf("include %q: %v", inc, err)
			}
			// nothing escaped through the symlink to ../modes
			if _, err := os.Lstat(filepath.Join(dest, "modes")); err == nil && !strings.HasPrefix(inc, "modes") {
				t.Errorf("include %q created modes/", inc)
			}
		}
	})
}
