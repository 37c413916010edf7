package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/snapshot"
)

// snapshotOf returns the snapshot a save recorded.
func snapshotOf(t testing.TB, s *Store, res *SaveResult) *snapshot.Snapshot {
	t.Helper()
	var sn *snapshot.Snapshot
	err := s.db.View(func(tx *index.Tx) error {
		var err error
		sn, err = catalog.LoadSnapshot(tx, res.Snapshot)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return sn
}

// TestDetectionFromParentTallies changes a project in many ways, version
// after version (through Save and through a tar import), and checks that
// each version, counted from its parent's tallies and the files that
// changed, detects what a new project storing the same tree detects, and
// keeps the same tallies.
func TestDetectionFromParentTallies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.path("src")
	writeTree(t, src, map[string][]byte{
		"main.go":                         textBytes(1, 9000),
		"internal/x/x.go":                 textBytes(2, 4000),
		"include/a.h":                     textBytes(3, 800),
		"src/a.c":                         textBytes(4, 3000),
		"web/app.ts":                      textBytes(5, 5000),
		"web/view.tsx":                    textBytes(6, 2000),
		"web/package.json":                []byte(`{"dependencies":{"react":"^18","next":"14"}}`),
		"node_modules/react/index.js":     textBytes(7, 20000),
		"node_modules/react/package.json": []byte(`{"dependencies":{"vue":"3"}}`),
		"vendor/github.com/x/y/y.go":      textBytes(8, 20000),
		"docs/guide.md":                   textBytes(9, 3000),
		".github/workflows/ci.yml":        textBytes(10, 300),
		"gen/api.pb.go":                   textBytes(11, 7000),
		"web/app.min.js":                  textBytes(12, 9000),
		"scripts/run.sh":                  textBytes(13, 700),
		"README.md":                       textBytes(14, 1000),
		"py/app.py":                       textBytes(15, 1500),
		"py/requirements.txt":             []byte("flask\n"),
	})
	steps := []struct {
		name string
		edit func(t *testing.T)
		tar  bool // store through a tar stream
		opts func(*SaveOptions)
	}{
		{name: "first"},
		{name: "unchanged"},
		{name: "edited", edit: func(t *testing.T) {
			writeFile(t, src, "main.go", textBytes(20, 30000))            // grows
			writeFile(t, src, "web/app.ts", textBytes(21, 100))           // shrinks
			writeFile(t, src, "lib/new.rs", textBytes(22, 9000))          // a new language
			writeFile(t, src, "include/b.h", textBytes(23, 500))          // ambiguous
			writeFile(t, src, "node_modules/vue/x.js", textBytes(24, 10)) // vendored
			os.Remove(filepath.Join(src, "src/a.c"))
		}},
		{name: "dirs replaced", edit: func(t *testing.T) {
			os.RemoveAll(filepath.Join(src, "internal"))
			writeFile(t, src, "internal", textBytes(25, 100)) // a directory became a file
			os.Remove(filepath.Join(src, "scripts/run.sh"))
			writeFile(t, src, "scripts/run.sh/inner.go", textBytes(26, 4000)) // a file became a directory
			os.RemoveAll(filepath.Join(src, "py"))
		}},
		{name: "excluded", opts: func(o *SaveOptions) { o.Excludes = []string{"web/", "*.rs"} }},
		{name: "included again"},
		{name: "tar", tar: true, edit: func(t *testing.T) {
			writeFile(t, src, "more/m.go", textBytes(27, 4000))
		}},
		{name: "after tar"},
		{name: "emptied", edit: func(t *testing.T) {
			ents, _ := os.ReadDir(src)
			for _, ent := range ents {
				os.RemoveAll(filepath.Join(src, ent.Name()))
			}
		}},
		{name: "refilled", edit: func(t *testing.T) {
			writeFile(t, src, "a.py", textBytes(28, 100))
		}},
	}
	for i, st := range steps {
		if st.edit != nil {
			st.edit(t)
		}
		save := func(project string) *SaveResult {
			opts := SaveOptions{Project: project}
			if st.opts != nil {
				st.opts(&opts)
			}
			if !st.tar {
				return e.save(t, src, project, func(o *SaveOptions) { *o = opts })
			}
			tarPath := e.path(fmt.Sprintf("step%d.tar.gz", i))
			writeTarGz(t, tarPath, src)
			res, err := e.s.Import(ctx, tarPath, nil, opts)
			if err != nil {
				t.Fatalf("%s: import: %v", st.name, err)
			}
			return res
		}
		// versions of one time have no order: the parent must be the last
		e.clock.Advance(time.Second)
		got := save("p")
		fresh := fmt.Sprintf("fresh%d", i)
		want := save(fresh)
		if !slices.Equal(got.Languages, want.Languages) || !slices.Equal(got.Frameworks, want.Frameworks) {
			t.Errorf("%s: from the parent's tallies %q %q, afresh %q %q", st.name, got.Languages, got.Frameworks, want.Languages, want.Frameworks)
		}
		gotSn, wantSn := snapshotOf(t, e.s, got), snapshotOf(t, e.s, want)
		if gotSn.Tree != wantSn.Tree {
			t.Fatalf("%s: trees differ", st.name)
		}
		if len(wantSn.Detection) == 0 || string(gotSn.Detection) != string(wantSn.Detection) {
			t.Errorf("%s: tallies from the parent's\n%s\nafresh\n%s", st.name, gotSn.Detection, wantSn.Detection)
		}
		if i == 0 && len(want.Languages) < 3 {
			t.Errorf("first: languages %q: the tree should show several", want.Languages)
		}
	}
}

// TestDetectionTalliesAfterUpgrade: a project whose newest version kept no
// tallies (stored by an older silo; here an upload, which keeps none)
// gets them from its next store, even an unchanged one, and later stores
// count from them.
func TestDetectionTalliesAfterUpgrade(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.path("src")
	writeTree(t, src, map[string][]byte{
		"main.go": textBytes(1, 9000), "web/app.ts": textBytes(2, 5000), "lib/x.rs": textBytes(3, 3000),
	})
	a := e.save(t, src, "a")
	u := e.s.NewUploads(time.Minute)
	defer u.Close()
	up, err := u.Commit(ctx, CommitOptions{SaveOptions: SaveOptions{Project: "b"}, Tree: snapshotOf(t, e.s, a).Tree, RootMTime: 1})
	if err != nil {
		t.Fatal(err)
	}
	if d := snapshotOf(t, e.s, up).Detection; len(d) != 0 {
		t.Fatalf("an upload kept tallies %s", d)
	}
	e.clock.Advance(time.Second)
	b := e.save(t, src, "b")
	if snapshotOf(t, e.s, b).Tree != snapshotOf(t, e.s, up).Tree {
		t.Fatal("the store changed the tree")
	}
	want := snapshotOf(t, e.s, a).Detection
	if got := snapshotOf(t, e.s, b).Detection; string(got) != string(want) || !slices.Equal(b.Languages, a.Languages) {
		t.Errorf("unchanged store after a version without tallies: %s %q, want %s %q", got, b.Languages, want, a.Languages)
	}
	// the next one carries them over
	e.clock.Advance(time.Second)
	b = e.save(t, src, "b")
	if got := snapshotOf(t, e.s, b).Detection; string(got) != string(want) || !slices.Equal(b.Languages, a.Languages) {
		t.Errorf("unchanged store after that: %s %q, want %s %q", got, b.Languages, want, a.Languages)
	}
}
