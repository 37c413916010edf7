package store

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store/config"
)

// putTree uploads a tree blob and returns its id.
func putTree(t *testing.T, u *Uploads, nodes []snapshot.Node) object.ID {
	t.Helper()
	data := snapshot.EncodeTree(nodes)
	id := object.Hash(data)
	if _, err := u.Put(context.Background(), object.TreeBlob, id, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	return id
}

// fanTree uploads levels of trees whose width entries all name the tree
// below, over a leaf with one file: width^levels paths from a few blobs.
func fanTree(t *testing.T, u *Uploads, width, levels int) object.ID {
	t.Helper()
	data := []byte("leaf file")
	leaf := putTree(t, u, []snapshot.Node{{Name: "f", Type: snapshot.File, Mode: 0o644, Size: uint64(len(data)),
		Content: []object.ID{uploadBlob(t, u, data)}}})
	for range levels {
		var nodes []snapshot.Node
		for i := range width {
			nodes = append(nodes, snapshot.Node{Name: fmt.Sprintf("d%02d", i), Type: snapshot.Dir, Mode: 0o755, Subtree: leaf})
		}
		leaf = putTree(t, u, nodes)
	}
	return leaf
}

// A commit checks each distinct tree once: 2^30 paths described by 31
// small trees are counted (and refused past max_entries) in moments, not
// walked path by path; a small fan commits with every path counted.
func TestCommitVerifiesEachTreeOnce(t *testing.T) {
	e := newEnv(t)
	u := e.s.NewUploads(time.Hour)
	defer u.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	start := time.Now()
	bomb := fanTree(t, u, 2, 30)
	_, err := u.Commit(ctx, CommitOptions{SaveOptions: SaveOptions{Project: "bomb"}, Tree: bomb})
	if !errors.Is(err, ErrQuota) || !errors.Is(err, snapshot.ErrEntryLimit) || !strings.Contains(err.Error(), "max_entries 10000000") {
		t.Fatalf("commit of 2^30 paths = %v, want ErrQuota naming max_entries", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing 2^30 paths took %v", d)
	}

	small := fanTree(t, u, 3, 4) // 81 files, 3+9+27+81 = 120 dirs
	res, err := u.Commit(ctx, CommitOptions{SaveOptions: SaveOptions{Project: "fan"}, Tree: small, Files: 81, Dirs: 121, Size: 81 * 9})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Files() != 81 || res.Stats.Dirs != 121 || res.Stats.Size != 81*9 {
		t.Errorf("stats %+v", res.Stats)
	}
	p, err := e.s.Get("fan")
	if err != nil || p.SizeBytes != 81*9 {
		t.Errorf("project %+v, %v", p, err)
	}
}

// max_entries is configurable and applies to every way in: a commit, a tar
// upload and a directory store.
func TestMaxEntries(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.MaxEntries = 100 })
	u := e.s.NewUploads(time.Hour)
	defer u.Close()
	ctx := context.Background()
	_, err := u.Commit(ctx, CommitOptions{SaveOptions: SaveOptions{Project: "fan"}, Tree: fanTree(t, u, 3, 4)})
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "max_entries 100 ") {
		t.Errorf("commit of 201 entries under max_entries 100 = %v", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range 101 {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%d", i), Typeflag: tar.TypeReg, Mode: 0o644})
	}
	tw.Close()
	_, err = e.s.SaveTar(ctx, bytes.NewReader(buf.Bytes()), SaveOptions{Project: "many"})
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "storage.max_entries") {
		t.Errorf("tar of 101 files under max_entries 100 = %v", err)
	}
	dir := e.path("src")
	for i := range 101 {
		writeFile(t, dir, fmt.Sprintf("f%03d", i), nil)
	}
	if _, err := e.s.Save(ctx, dir, SaveOptions{Project: "many"}); !errors.Is(err, ErrQuota) {
		t.Errorf("directory of 101 files under max_entries 100 = %v", err)
	}
	if _, err := e.s.Get("many"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("a refused store recorded something: %v", err)
	}
}

// A commit refuses names that cannot be restored and paths past the
// bounds, naming the path, and records nothing.
func TestCommitRefusesOddTrees(t *testing.T) {
	e := newEnv(t)
	u := e.s.NewUploads(time.Hour)
	defer u.Close()
	ctx := context.Background()
	long := putTree(t, u, []snapshot.Node{{Name: strings.Repeat("n", 300), Type: snapshot.File, Mode: 0o644}})
	_, err := u.Commit(ctx, CommitOptions{SaveOptions: SaveOptions{Project: "long"}, Tree: long})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "300 bytes long") {
		t.Errorf("commit of a 300-byte name = %v", err)
	}
	// 257 levels of 255-byte names: a path of 65,791 bytes
	deep := putTree(t, u, nil)
	for i := range 257 {
		name := fmt.Sprintf("%d%s", i%2, strings.Repeat("n", 254))
		deep = putTree(t, u, []snapshot.Node{{Name: name, Type: snapshot.Dir, Mode: 0o755, Subtree: deep}})
	}
	_, err = u.Commit(ctx, CommitOptions{SaveOptions: SaveOptions{Project: "deep"}, Tree: deep})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "65791 bytes long") {
		t.Errorf("commit of a 65,791-byte path = %v", err)
	}
	// 32,769 levels of one distinct tree each (one-byte names), in
	// memory linear in the depth: keeping a path per level held 1 GB
	deeper := putTree(t, u, nil)
	for i := range 32769 {
		deeper = putTree(t, u, []snapshot.Node{{Name: fmt.Sprintf("%d", i%2), Type: snapshot.Dir, Mode: 0o755, Subtree: deeper}})
	}
	before := liveHeap()
	peak := watchHeap()
	_, err = u.Commit(ctx, CommitOptions{SaveOptions: SaveOptions{Project: "deeper"}, Tree: deeper})
	grew := peak() - before
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "32769 levels deep") {
		t.Errorf("commit of 32,769 levels = %v", err)
	}
	t.Logf("the commit of 32,769 levels took the heap %.1f MiB up", float64(grew)/(1<<20))
	if grew > 200<<20 {
		t.Errorf("the commit of 32,769 levels took the heap %d MiB up", grew>>20)
	}
	for _, name := range []string{"long", "deep", "deeper"} {
		if _, err := e.s.Get(name); !errors.Is(err, ErrProjectNotFound) {
			t.Errorf("%s: a refused commit recorded the project: %v", name, err)
		}
	}
}

// Tags, git_repository, languages and frameworks refuse control characters
// (terminal escapes) and invalid UTF-8, naming the field.
func TestCatalogueRefusesControlCharacters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.path("src")
	writeFile(t, src, "main.go", []byte("package main\n"))
	e.save(t, src, "clean", func(o *SaveOptions) { o.Tags = []string{"v1", "ünïcode ok"} })
	esc := "\x1b]0;owned\x07\x1b[31mred"
	for _, tc := range []struct {
		field string
		save  func(o *SaveOptions)
		set   SetOptions
	}{
		{"tag", func(o *SaveOptions) { o.Tags = []string{esc} }, SetOptions{AddTags: []string{"ok", "new\nline"}}},
		{"git_repository", func(o *SaveOptions) { o.GitRepository = "https://x/\x1b[2J" }, SetOptions{GitRepository: &esc}},
		{"language", func(o *SaveOptions) { o.Languages = []string{"Go\x00"} }, SetOptions{Languages: []string{"\xff\xfe"}}},
		{"framework", func(o *SaveOptions) { o.Frameworks = []string{"\u009b31m"} }, SetOptions{Frameworks: []string{"a\tb"}}},
	} {
		opts := SaveOptions{Project: "clean"}
		tc.save(&opts)
		_, err := e.s.Save(ctx, src, opts)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) || strings.ContainsRune(err.Error(), 0x1b) {
			t.Errorf("save with a bad %s = %v", tc.field, err)
		}
		_, err = e.s.Set(ctx, "clean", tc.set)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("set with a bad %s = %v", tc.field, err)
		}
	}
	p, err := e.s.Get("clean")
	if err != nil || len(p.Versions) != 1 || strings.Join(p.Tags, ",") != "v1,ünïcode ok" || p.GitRepository != "" {
		t.Errorf("refused changes changed the project: %+v %v", p, err)
	}
}

// liveHeap is the heap still reachable after a collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// watchHeap samples the heap every millisecond until the returned
// function is called, which returns the highest sample.
func watchHeap() func() int64 {
	stop := make(chan struct{})
	done := make(chan int64)
	go func() {
		var peak int64
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, int64(ms.HeapAlloc))
			select {
			case <-stop:
				done <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() int64 { close(stop); return <-done }
}
