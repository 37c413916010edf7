package snapshot_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// treeFiles lists the regular files of a stored tree as "path size".
func treeFiles(t testing.TB, r *testRepo, tree object.ID) []string {
	t.Helper()
	var files []string
	err := snapshot.Walk(context.Background(), r.repo, tree, func(p string, n *snapshot.Node) error {
		if n.Type == snapshot.File {
			files = append(files, fmt.Sprintf("%s %d", p, n.Size))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// deltaRecorder records StoreOptions.Delta's calls.
type deltaRecorder struct{ plus, minus []string }

func (d *deltaRecorder) delta(p string, n *snapshot.Node, sign int) {
	e := fmt.Sprintf("%s %d", p, n.Size)
	switch sign {
	case 1:
		d.plus = append(d.plus, e)
	case -1:
		d.minus = append(d.minus, e)
	default:
		panic(fmt.Sprintf("sign %d", sign))
	}
}

// apply returns parent less d.minus plus d.plus (as multisets), or an
// error when d.minus takes away a file parent does not hold.
func (d *deltaRecorder) apply(parent []string) ([]string, error) {
	out := slices.Clone(parent)
	for _, m := range d.minus {
		i := slices.Index(out, m)
		if i < 0 {
			return nil, fmt.Errorf("-1 for %q, not a file of the parent", m)
		}
		out = slices.Delete(out, i, i+1)
	}
	out = append(out, d.plus...)
	slices.Sort(out)
	return out, nil
}

// TestStoreDeltaLeadsFromParent changes a stored tree in every way the walk
// tells apart (changed, removed, excluded, new, replaced by a directory,
// a file or a symlink, removed directories), and checks that the parent's
// files less the -1 calls plus the +1 calls are the new tree's, and that no
// file reused unchanged gets a call.
func TestStoreDeltaLeadsFromParent(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	for _, p := range []string{"a/keep.txt", "a/change.txt", "a/gone.txt", "gone/x/y.txt", "gone/z.txt",
		"f2d", "d2f/inner.txt", "d2f/deep/more.txt", "f2l", "d2l/q.txt", "excl/e.txt", "excl2.txt", "zz/keep.go",
		"a/zgone.txt", "zzz/last.txt"} {
		writeFile(t, filepath.Join(src, p), "content of "+p)
	}
	symlink(t, "a", filepath.Join(src, "l2f"))
	parent := r.store(t, src, object.ID{})

	writeFile(t, filepath.Join(src, "a/change.txt"), "changed, and longer than before")
	// a/zgone.txt and zzz are last in their directories
	for _, p := range []string{"a/gone.txt", "gone", "f2d", "d2f", "f2l", "d2l", "l2f", "a/zgone.txt", "zzz"} {
		if err := os.RemoveAll(filepath.Join(src, p)); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(src, "f2d/now-a-dir.txt"), "x")
	writeFile(t, filepath.Join(src, "d2f"), "now a file")
	symlink(t, "a", filepath.Join(src, "f2l"))
	symlink(t, "a", filepath.Join(src, "d2l"))
	writeFile(t, filepath.Join(src, "l2f"), "was a symlink")
	writeFile(t, filepath.Join(src, "new/n.txt"), "new")

	var rec deltaRecorder
	ctx := context.Background()
	res, err := snapshot.Store(ctx, r.repo, src, snapshot.StoreOptions{Pol: r.pol, ParentTree: parent.Tree,
		Delta: rec.delta,
		Exclude: func(rel string, _ *snapshot.Node) bool {
			return rel == "excl" || rel == "excl2.txt"
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if res.DeltaBase != parent.Tree || res.DeltaBroken {
		t.Errorf("DeltaBase %s (parent %s), DeltaBroken %v", res.DeltaBase.Short(), parent.Tree.Short(), res.DeltaBroken)
	}
	got, err := rec.apply(treeFiles(t, r, parent.Tree))
	if err != nil {
		t.Fatal(err)
	}
	if want := treeFiles(t, r, res.Tree); !slices.Equal(got, want) {
		t.Errorf("parent - %q + %q\n= %q\nwant %q", rec.minus, rec.plus, got, want)
	}
	for _, e := range append(rec.plus, rec.minus...) {
		if strings.HasPrefix(e, "a/keep.txt ") || strings.HasPrefix(e, "zz/") {
			t.Errorf("a call for %q, reused unchanged", e)
		}
	}

	// an unchanged re-store makes no call at all
	rec = deltaRecorder{}
	res2, err := snapshot.Store(ctx, r.repo, src, snapshot.StoreOptions{Pol: r.pol, ParentTree: res.Tree, Delta: rec.delta,
		Exclude: func(rel string, _ *snapshot.Node) bool { return rel == "excl" || rel == "excl2.txt" }})
	if err != nil {
		t.Fatal(err)
	}
	if res2.Tree != res.Tree || len(rec.plus)+len(rec.minus) > 0 {
		t.Errorf("unchanged re-store: tree %s (want %s), +%q -%q", res2.Tree.Short(), res.Tree.Short(), rec.plus, rec.minus)
	}

	// without a parent every file is added
	rec = deltaRecorder{}
	res3, err := snapshot.Store(ctx, r.repo, src, snapshot.StoreOptions{Pol: r.pol, Delta: rec.delta})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	slices.Sort(rec.plus)
	if !res3.DeltaBase.IsZero() || len(rec.minus) > 0 || !slices.Equal(rec.plus, treeFiles(t, r, res3.Tree)) {
		t.Errorf("no parent: base %s, +%q -%q", res3.DeltaBase.Short(), rec.plus, rec.minus)
	}
}

// TestStoreDeltaBrokenParent: when a tree of the parent cannot be read (a
// directory still there, or one removed), the store goes on and says the
// delta missed files.
func TestStoreDeltaBrokenParent(t *testing.T) {
	for _, dir := range []string{"kept", "removed"} {
		t.Run(dir, func(t *testing.T) {
			r := newTestRepo(t)
			src := filepath.Join(t.TempDir(), "src")
			writeFile(t, filepath.Join(src, "kept/f"), "kept")
			writeFile(t, filepath.Join(src, "removed/f"), "removed")
			writeFile(t, filepath.Join(src, "top"), "top")
			parent := r.store(t, src, object.ID{})
			ctx := context.Background()
			n, err := snapshot.Find(ctx, r.repo, parent.Tree, dir)
			if err != nil {
				t.Fatal(err)
			}
			loc, _, _ := r.db.Lookup(n.Subtree)
			flipByte(t, filepath.Join(r.dir, filepath.FromSlash(object.PackName(loc.Pack))), int64(loc.Offset))
			if err := os.RemoveAll(filepath.Join(src, "removed")); err != nil {
				t.Fatal(err)
			}
			var rec deltaRecorder
			res, err := snapshot.Store(ctx, r.repo, src, snapshot.StoreOptions{Pol: r.pol, ParentTree: parent.Tree, Delta: rec.delta})
			if err != nil {
				t.Fatal(err)
			}
			if !res.DeltaBroken {
				t.Errorf("parent tree of %s damaged: DeltaBroken not set (+%q -%q)", dir, rec.plus, rec.minus)
			}
		})
	}
}

// TestStoreTarDelta: a tar stream has no parent; every file is added.
func TestStoreTarDelta(t *testing.T) {
	r := newTestRepo(t)
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, filepath.Join(src, "a/b.txt"), "b")
	writeFile(t, filepath.Join(src, "c.go"), "package c")
	res := r.store(t, src, object.ID{})
	ctx := context.Background()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(snapshot.WriteTar(ctx, r.repo, res.Tree, pw)) }()
	var rec deltaRecorder
	tres, err := snapshot.StoreTar(ctx, r.repo, pr, snapshot.StoreOptions{Pol: r.pol, Delta: rec.delta})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	slices.Sort(rec.plus)
	if !tres.DeltaBase.IsZero() || tres.DeltaBroken || len(rec.minus) > 0 || !slices.Equal(rec.plus, treeFiles(t, r, tres.Tree)) {
		t.Errorf("tar: base %s broken %v, +%q -%q", tres.DeltaBase.Short(), tres.DeltaBroken, rec.plus, rec.minus)
	}
}
