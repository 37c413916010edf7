package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store/config"
)

// detectFixtures is the directory of small projects, one per language and
// framework detection knows.
const detectFixtures = "../testdata/detect"

// projectKeys are the fields `silo projects show --json` prints: the
// orchestrator's metadata.json plus versions.
var projectKeys = []string{"project_id", "name", "type", "created_at", "updated_at", "size_bytes",
	"languages", "frameworks", "status", "tags", "git_repository", "versions"}

func jsonKeys(t testing.TB, v any) (map[string]json.RawMessage, []string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return m, keys
}

func dirSizeOf(t testing.TB, root string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestProjectMetadataFields(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.path("shop-api")
	if err := os.CopyFS(src, os.DirFS(filepath.Join(detectFixtures, "fastapi"))); err != nil {
		t.Fatal(err)
	}
	res := e.save(t, src, "shop-api", func(o *SaveOptions) {
		o.Type = TypeMigration
		o.Tags = []string{"backend", "python"}
		o.GitRepository = "https://git.example.com/shop-api.git"
		o.Languages = []string{"Shell"}
	})
	if !res.Created {
		t.Error("first save: Created = false")
	}
	p, err := e.s.Get("shop-api")
	if err != nil {
		t.Fatal(err)
	}
	m, keys := jsonKeys(t, p)
	want := slices.Clone(projectKeys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("JSON keys = %v\nwant exactly %v", keys, want)
	}
	if _, err := uuid.Parse(p.ID); err != nil || p.ID != res.ProjectID {
		t.Errorf("project_id = %q (save said %q): %v", p.ID, res.ProjectID, err)
	}
	size := dirSizeOf(t, src)
	checks := map[string]string{
		"name":           `"shop-api"`,
		"type":           `"migration"`,
		"created_at":     `"2024-03-04T12:00:00Z"`,
		"updated_at":     `"2024-03-04T12:00:00Z"`,
		"size_bytes":     fmt.Sprint(size),
		"languages":      `["shell","python"]`,
		"frameworks":     `["fastapi"]`,
		"status":         `"active"`,
		"tags":           `["backend","python"]`,
		"git_repository": `"https://git.example.com/shop-api.git"`,
		"versions":       fmt.Sprintf(`[{"id":"%s","time":"2024-03-04T12:00:00Z"}]`, res.Snapshot),
	}
	for k, v := range checks {
		if string(m[k]) != v {
			t.Errorf("%s = %s, want %s", k, m[k], v)
		}
	}

	// a second version an hour later: updated_at, size and versions move,
	// created_at and the user's values stay
	e.clock.Advance(time.Hour)
	writeFile(t, src, "app/extra.py", []byte("print('more')\n"))
	res2 := e.save(t, src, "shop-api", func(o *SaveOptions) { o.Tags = []string{"v2"} })
	if res2.Created || res2.Parent == nil || *res2.Parent != res.Snapshot {
		t.Errorf("second save: created=%v parent=%v, want parent %s", res2.Created, res2.Parent, res.Snapshot)
	}
	p2, err := e.s.Get(p.ID)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := jsonKeys(t, p2)
	checks2 := map[string]string{
		"created_at": `"2024-03-04T12:00:00Z"`,
		"updated_at": `"2024-03-04T13:00:00Z"`,
		"size_bytes": fmt.Sprint(size + int64(len("print('more')\n"))),
		"languages":  `["shell","python"]`,
		"tags":       `["backend","python","v2"]`,
		"type":       `"migration"`,
		"versions": fmt.Sprintf(`[{"id":"%s","time":"2024-03-04T13:00:00Z"},{"id":"%s","time":"2024-03-04T12:00:00Z"}]`,
			res2.Snapshot, res.Snapshot),
	}
	for k, v := range checks2 {
		if string(m2[k]) != v {
			t.Errorf("after the second version: %s = %s, want %s", k, m2[k], v)
		}
	}

	// empty lists are [] and not null, so the orchestrator can iterate them
	empty := e.path("empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	e.save(t, empty, "empty-project")
	pe, err := e.s.Get("empty-project")
	if err != nil {
		t.Fatal(err)
	}
	me, _ := jsonKeys(t, pe)
	for _, k := range []string{"languages", "frameworks", "tags"} {
		if string(me[k]) != "[]" {
			t.Errorf("empty project: %s = %s, want []", k, me[k])
		}
	}
	if string(me["size_bytes"]) != "0" || string(me["type"]) != `"generation"` || string(me["git_repository"]) != `""` {
		t.Errorf("empty project: size %s type %s git %s", me["size_bytes"], me["type"], me["git_repository"])
	}

	// Set changes what it is given and stamps updated_at
	e.clock.Advance(time.Minute)
	repo := ""
	ps, err := e.s.Set(ctx, "shop-api", SetOptions{Name: "shop", Type: TypeGeneration, GitRepository: &repo,
		AddTags: []string{"new"}, RemoveTags: []string{"python"}})
	if err != nil {
		t.Fatal(err)
	}
	if ps.Name != "shop" || ps.Type != TypeGeneration || ps.GitRepository != "" ||
		!slices.Equal(ps.Tags, []string{"backend", "v2", "new"}) || !ps.UpdatedAt.Equal(t0.Add(time.Hour+time.Minute)) ||
		len(ps.Versions) != 2 {
		t.Errorf("after Set: %+v", ps)
	}
	if _, err := e.s.Get("shop-api"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("old name after rename: %v, want ErrProjectNotFound", err)
	}
	if _, err := e.s.Set(ctx, "shop", SetOptions{Name: "empty-project"}); !errors.Is(err, ErrExists) {
		t.Errorf("rename onto a taken name: %v, want ErrExists", err)
	}
	// the refused rename reached no pack: a rebuilt index (as every other
	// machine) does not apply it
	emptyP, err := e.s.Get("empty-project")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.RebuildIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if p, err := e.s.Get("shop"); err != nil || p.ID != ps.ID {
		t.Errorf("shop after a refused rename and a rebuild: %+v, %v", p, err)
	}
	if p, err := e.s.Get("empty-project"); err != nil || p.ID != emptyP.ID {
		t.Errorf("empty-project after a refused rename onto it and a rebuild: %+v, %v", p, err)
	}
	if _, err := e.s.Set(ctx, "shop", SetOptions{Type: "library"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad type: %v, want ErrInvalid", err)
	}
}

// fixtureExpect is what detection finds in each fixture project.
var fixtureExpect = []struct {
	dir        string
	languages  []string
	frameworks []string
}{
	{"fastapi", []string{"python"}, []string{"fastapi"}},
	{"django", []string{"python", "html"}, []string{"django"}},
	{"flask", []string{"python"}, []string{"flask"}},
	{"react", []string{"typescript"}, []string{"react"}},
	{"next", []string{"typescript"}, []string{"next", "react"}},
	{"vue", []string{"vue", "javascript"}, []string{"vue"}},
	{"angular", []string{"typescript", "html"}, []string{"angular"}},
	{"svelte", []string{"svelte"}, []string{"svelte"}},
	{"express", []string{"javascript"}, []string{"express"}},
	{"nestjs", []string{"typescript"}, []string{"nestjs"}},
	{"gin", []string{"go"}, []string{"gin"}},
	{"echo", []string{"go"}, []string{"echo"}},
	{"fiber", []string{"go"}, []string{"fiber"}},
	{"chi", []string{"go"}, []string{"chi"}},
	{"axum", []string{"rust"}, []string{"axum"}},
	{"actix-web", []string{"rust"}, []string{"actix-web"}},
	{"spring-boot-maven", []string{"java"}, []string{"spring-boot"}},
	{"spring-boot-gradle", []string{"kotlin"}, []string{"spring-boot"}},
	{"spring-boot-gradle-groovy", []string{"java"}, []string{"spring-boot"}},
	{"rails", []string{"ruby", "html"}, []string{"rails"}},
}

// TestDetectionThroughSave stores every fixture project with Save (and a
// few through a tar stream and a template) and checks what the catalogue
// records.
func TestDetectionThroughSave(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ents, err := os.ReadDir(detectFixtures)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(fixtureExpect) {
		t.Errorf("%d fixture projects, the table knows %d", len(ents), len(fixtureExpect))
	}
	for _, fx := range fixtureExpect {
		t.Run(fx.dir, func(t *testing.T) {
			res := e.save(t, filepath.Join(detectFixtures, fx.dir), fx.dir)
			p, err := e.s.Get(fx.dir)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Languages, fx.languages) || !slices.Equal(res.Languages, fx.languages) {
				t.Errorf("languages = %q (save said %q), want %q", p.Languages, res.Languages, fx.languages)
			}
			if !slices.Equal(p.Frameworks, fx.frameworks) || !slices.Equal(res.Frameworks, fx.frameworks) {
				t.Errorf("frameworks = %q (save said %q), want %q", p.Frameworks, res.Frameworks, fx.frameworks)
			}
		})
	}

	// user-given values are kept beside the detected ones, first, without
	// duplicates (case-insensitively); languages in lower case, as the
	// storage guide writes them
	res := e.save(t, filepath.Join(detectFixtures, "next"), "next-user", func(o *SaveOptions) {
		o.Languages = []string{"Shell", "typescript"}
		o.Frameworks = []string{"tailwind", "React"}
	})
	if want := []string{"shell", "typescript"}; !slices.Equal(res.Languages, want) {
		t.Errorf("with user languages: %q, want %q", res.Languages, want)
	}
	if want := []string{"tailwind", "React", "next"}; !slices.Equal(res.Frameworks, want) {
		t.Errorf("with user frameworks: %q, want %q", res.Frameworks, want)
	}
	// and they survive a version that no longer holds the detected files
	empty := e.path("empty")
	os.MkdirAll(empty, 0o755)
	res = e.save(t, empty, "next-user")
	if !slices.Equal(res.Languages, []string{"shell", "typescript"}) || !slices.Equal(res.Frameworks, []string{"tailwind", "React"}) {
		t.Errorf("after an empty version: %q %q, want only the user's values", res.Languages, res.Frameworks)
	}

	// the same detection from a tar stream and from a template
	for _, fx := range fixtureExpect[:6] {
		tarPath := e.path(fx.dir + ".tar.gz")
		writeTarGz(t, tarPath, filepath.Join(detectFixtures, fx.dir))
		res, err := e.s.Import(ctx, tarPath, nil, SaveOptions{Project: fx.dir + "-tar"})
		if err != nil {
			t.Fatalf("import %s: %v", tarPath, err)
		}
		if !slices.Equal(res.Languages, fx.languages) || !slices.Equal(res.Frameworks, fx.frameworks) {
			t.Errorf("%s from tar: %q %q, want %q %q", fx.dir, res.Languages, res.Frameworks, fx.languages, fx.frameworks)
		}
	}
	if _, err := e.s.AddTemplate(ctx, "rails-tpl", "fullstack", filepath.Join(detectFixtures, "rails"), false); err != nil {
		t.Fatal(err)
	}
	res, err = e.s.NewFromTemplate(ctx, "rails-tpl", SaveOptions{Project: "from-rails"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Languages, []string{"ruby", "html"}) || !slices.Equal(res.Frameworks, []string{"rails"}) {
		t.Errorf("from template: %q %q", res.Languages, res.Frameworks)
	}
	if res.Stats.BytesAdded == 0 || res.Stats.BlobsAdded != 0 {
		t.Errorf("a project from a template wrote %d new blobs (%d bytes); want only its snapshot blob", res.Stats.BlobsAdded, res.Stats.BytesAdded)
	}
}

// ---- list filters over 1,000 projects ----

// bruteMatch is the filter semantics written out independently of
// Filter.Match.
func bruteMatch(f Filter, p Project) bool {
	switch f.Status {
	case "":
		if p.Status == StatusDeleted {
			return false
		}
	case "all":
	default:
		if p.Status != f.Status {
			return false
		}
	}
	has := func(list []string, v string, fold bool) bool {
		for _, x := range list {
			if x == v || (fold && strings.ToLower(x) == strings.ToLower(v)) {
				return true
			}
		}
		return false
	}
	if f.Language != "" && !has(p.Languages, f.Language, true) {
		return false
	}
	if f.Framework != "" && !has(p.Frameworks, f.Framework, true) {
		return false
	}
	if f.Tag != "" && !has(p.Tags, f.Tag, false) {
		return false
	}
	if f.Name != "" {
		if ok, _ := path.Match(f.Name, p.Name); !ok {
			return false
		}
	}
	return p.SizeBytes >= f.MinSize
}

var (
	genLanguages  = []string{"Go", "Python", "TypeScript", "JavaScript", "Rust", "Java", "Kotlin", "Ruby", "HTML", "python", "Vue"}
	genFrameworks = []string{"react", "next", "vue", "fastapi", "django", "gin", "axum", "spring-boot", "rails", "React", "express"}
	genTags       = []string{"prod", "Prod", "staging", "experiment", "team-a", "team-b", "legacy"}
	genPrefixes   = []string{"svc", "web", "lib", "App", "tool", "data"}
	genSizes      = []int64{0, 1, 1<<20 - 1, 1 << 20, 1<<20 + 1, 500 << 20, 1<<30 - 1, 1 << 30, 1<<30 + 1, 5 << 30}
)

func pick(r *rand.Rand, list []string, max int) []string {
	n := r.IntN(max + 1)
	var out []string
	for range n {
		v := list[r.IntN(len(list))]
		if !slices.ContainsFunc(out, func(x string) bool { return strings.EqualFold(x, v) }) {
			out = append(out, v)
		}
	}
	return out
}

// seedCatalogue writes n generated catalogue records, each with 1-3
// versions, straight into index.db in one transaction, exactly as commit
// writes them (a record, snapshot records and version refs). The versions
// all point to tree. It returns the projects as Get would show them.
func seedCatalogue(t testing.TB, s *Store, n int, seed uint64, tree object.ID) []Project {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	var out []Project
	err := s.db.Update(func(tx *index.Tx) error {
		for i := range n {
			created := t0.Add(-time.Duration(r.IntN(1000)) * time.Hour)
			rec := &catalog.Record{ID: uuid.NewString(), Type: TypeGeneration, CreatedAt: created,
				UpdatedAt: created.Add(time.Duration(r.IntN(100)) * time.Hour), SizeBytes: genSizes[r.IntN(len(genSizes))],
				Status: StatusActive, Tags: pick(r, genTags, 3), Rev: 1}
			rec.Name = fmt.Sprintf("%s-%03d", genPrefixes[r.IntN(len(genPrefixes))], i)
			if i%7 == 0 {
				rec.Name = fmt.Sprintf("%s.%d_x", genPrefixes[r.IntN(len(genPrefixes))], i)
			}
			rec.UserLanguages = pick(r, genLanguages, 3)
			rec.UserFrameworks = pick(r, genFrameworks, 2)
			rec.RefreshDerived()
			if r.IntN(3) == 0 {
				rec.Type = TypeMigration
			}
			switch r.IntN(6) {
			case 0:
				rec.Status = StatusArchived
			case 1:
				rec.Status = StatusDeleted
			}
			if r.IntN(4) == 0 {
				rec.GitRepository = "https://git.example.com/" + rec.Name
			}
			p := rec.Project()
			nv := 1 + r.IntN(3)
			for v := range nv {
				at := rec.CreatedAt.Add(time.Duration(v) * time.Minute)
				sn := &snapshot.Snapshot{Time: at, Tree: tree, ProjectID: rec.ID, ProjectName: rec.Name, Project: rec.Encode()}
				data := sn.Encode()
				id := object.Hash(data)
				if err := tx.PutSnapshot(index.SnapshotRef{ID: id, ProjectID: rec.ID, Time: at}, data); err != nil {
					return err
				}
				p.Versions = append([]Version{{ID: id.String(), Time: at.UTC()}}, p.Versions...)
			}
			if err := tx.PutProject(rec.ID, rec.EncodeIndex()); err != nil {
				return err
			}
			if rec.Status != StatusDeleted {
				if err := tx.SetName(rec.Name, rec.ID); err != nil {
					return err
				}
			}
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestListFilters1000(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// some projects through the real API, so the generated records are
	// checked against real ones
	src := e.path("src")
	smallProject(t, src, 1, 8)
	tpl, err := e.s.AddTemplate(ctx, "base", "backend", src, false)
	if err != nil {
		t.Fatal(err)
	}
	var real []string
	for i := range 30 {
		name := fmt.Sprintf("real-%02d", i)
		opts := SaveOptions{Project: name, Tags: []string{genTags[i%len(genTags)]},
			Languages: []string{genLanguages[i%len(genLanguages)]}, Frameworks: []string{genFrameworks[i%len(genFrameworks)]}}
		if i%2 == 0 {
			if _, err := e.s.NewFromTemplate(ctx, "base", opts); err != nil {
				t.Fatal(err)
			}
		} else {
			dir := e.path("real", name)
			writeFile(t, dir, "main.go", textBytes(uint64(i), 100+i*1000))
			if _, err := e.s.Save(ctx, dir, opts); err != nil {
				t.Fatal(err)
			}
		}
		switch i % 5 {
		case 1:
			if _, err := e.s.Archive(ctx, name, ArchiveOptions{}); err != nil {
				t.Fatal(err)
			}
		case 2:
			if _, err := e.s.Delete(ctx, name, false); err != nil {
				t.Fatal(err)
			}
		}
		real = append(real, name)
	}
	tree, err := object.ParseID(mustResolve(t, e.s, "base-project-tree", tpl.Snapshot))
	if err != nil {
		t.Fatal(err)
	}
	seeded := seedCatalogue(t, e.s, 1000-len(real), 42, tree)

	// the universe, as Get sees it (which also checks the seeded records
	// read back as they were written)
	all := catalogueDump(t, e.s)
	if len(all) != 1000 {
		t.Fatalf("%d projects, want 1000", len(all))
	}
	for _, p := range seeded {
		got := all[p.ID]
		if !projectsEqual(got, p) {
			t.Fatalf("seeded project reads back as\n%+v\nwant\n%+v", got, p)
		}
	}
	universe := make([]Project, 0, len(all))
	for _, p := range all {
		universe = append(universe, p)
	}

	filters := []Filter{{}, {Status: "all"}, {Status: StatusActive}, {Status: StatusArchived}, {Status: StatusDeleted},
		{Language: "python"}, {Language: "PYTHON", Status: "all"}, {Language: "cobol"}, {Framework: "react"},
		{Framework: "Spring-Boot"}, {Tag: "prod"}, {Tag: "Prod"}, {Tag: "PROD"}, {Name: "svc-*"}, {Name: "*_x"},
		{Name: "[a-l]*"}, {Name: "real-0?"}, {Name: "App-??5"}, {MinSize: 1 << 20}, {MinSize: 1<<20 + 1},
		{MinSize: 1 << 30}, {MinSize: 5 << 30}, {MinSize: 6 << 30}, {Status: "all", Tag: "legacy", MinSize: 1},
		{Language: "Go", Framework: "gin", Status: "all"}, {Name: "real-*", Status: StatusDeleted}}
	r := rand.New(rand.NewPCG(9, 9))
	statuses := []string{"", "all", StatusActive, StatusArchived, StatusDeleted}
	names := []string{"", "svc-*", "*1*", "web-0[0-4]?", "*.*", "real-*"}
	for range 50 {
		f := Filter{Status: statuses[r.IntN(len(statuses))]}
		if r.IntN(2) == 0 {
			f.Language = genLanguages[r.IntN(len(genLanguages))]
		}
		if r.IntN(3) == 0 {
			f.Framework = strings.ToUpper(genFrameworks[r.IntN(len(genFrameworks))])
		}
		if r.IntN(3) == 0 {
			f.Tag = genTags[r.IntN(len(genTags))]
		}
		f.Name = names[r.IntN(len(names))]
		if r.IntN(3) == 0 {
			f.MinSize = genSizes[r.IntN(len(genSizes))]
		}
		filters = append(filters, f)
	}
	nonEmpty := 0
	for _, f := range filters {
		got, err := e.s.List(f)
		if err != nil {
			t.Fatalf("List(%+v): %v", f, err)
		}
		var want []Project
		for _, p := range universe {
			if bruteMatch(f, p) {
				want = append(want, p)
			}
		}
		sort.Slice(want, func(i, j int) bool {
			if want[i].Name != want[j].Name {
				return want[i].Name < want[j].Name
			}
			return want[i].ID < want[j].ID
		})
		if len(got) != len(want) {
			t.Errorf("List(%+v): %d projects, brute force finds %d", f, len(got), len(want))
			continue
		}
		if len(want) > 0 {
			nonEmpty++
		}
		for i := range got {
			w := want[i]
			g := got[i]
			if g.ID != w.ID {
				t.Errorf("List(%+v)[%d] = %s %s, want %s %s", f, i, g.Name, g.ID, w.Name, w.ID)
				break
			}
			if g.VersionCount != len(w.Versions) || len(g.Versions) != 1 || g.Versions[0] != w.Versions[0] {
				t.Errorf("List(%+v): %s has %d versions (%v), want %d newest %v", f, g.Name, g.VersionCount, g.Versions, len(w.Versions), w.Versions[0])
				break
			}
		}
	}
	if nonEmpty < len(filters)/2 {
		t.Errorf("only %d of %d filters matched anything: the generated catalogue is too sparse to test with", nonEmpty, len(filters))
	}
	// default lists hide soft-deleted projects
	def, _ := e.s.List(Filter{})
	for _, it := range def {
		if it.Status == StatusDeleted {
			t.Fatalf("default list shows deleted %s", it.Name)
		}
	}
	for _, bad := range []Filter{{Status: "gone"}, {Name: "[a-"}, {MinSize: -1}} {
		if _, err := e.s.List(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("List(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func projectsEqual(a, b Project) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// mustResolve returns the tree of a snapshot id.
func mustResolve(t testing.TB, s *Store, what, snap string) string {
	t.Helper()
	info, err := s.ResolveSnapshot(snap)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return info.Tree
}

// ---- archive ages ----

func TestArchiveOlderInjectedClock(t *testing.T) {
	e := newEnv(t, func(c *config.Config) { c.ArchiveAfterDays = 90 })
	ctx := context.Background()
	mk := func(name string, seed uint64) string {
		dir := e.path("src", name)
		smallProject(t, dir, seed, 4)
		e.save(t, dir, name)
		return dir
	}
	oldDir := mk("old", 1)
	e.clock.Advance(time.Second)
	mk("young", 2)
	mk("gone", 3)
	if _, err := e.s.Delete(ctx, "gone", false); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * 24 * time.Hour)
	recentDir := mk("recent", 4)
	oldMan := takeManifest(t, oldDir)

	// extracted copies: archive removes the archived project's only
	wbOld, err := e.s.Extract(ctx, "old", ExtractOptions{Workbench: "wb-old"})
	if err != nil {
		t.Fatal(err)
	}
	wbRecent, err := e.s.Extract(ctx, "recent", ExtractOptions{Workbench: "wb-recent"})
	if err != nil {
		t.Fatal(err)
	}
	if wbOld.Path != filepath.Join(e.s.BaseDir(), "cache", "wb-old") {
		t.Errorf("workbench path %s", wbOld.Path)
	}

	status := func(name string) string {
		t.Helper()
		p, err := e.s.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		return p.Status
	}
	names := func(rs []ArchiveResult) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Name)
		}
		slices.Sort(out)
		return out
	}
	archive := func(dry bool) []string {
		t.Helper()
		rs, err := e.s.ArchiveOlder(ctx, 0, ArchiveOptions{}, dry)
		if err != nil {
			t.Fatal(err)
		}
		return names(rs)
	}

	// exactly 90 days after "old" was updated: not older than 90 days yet
	e.clock.Set(t0.Add(90 * 24 * time.Hour))
	if got := archive(false); len(got) != 0 {
		t.Fatalf("at exactly 90 days: archived %v, want none", got)
	}
	// one nanosecond later it is; dry run first changes nothing
	e.clock.Set(t0.Add(90*24*time.Hour + time.Nanosecond))
	if got := archive(true); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("dry run 90d+1ns: %v, want [old]", got)
	}
	if status("old") != StatusActive {
		t.Fatal("dry run archived")
	}
	if _, err := os.Stat(wbOld.Path); err != nil {
		t.Fatalf("dry run removed the cache copy: %v", err)
	}
	if got := archive(false); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("at 90d+1ns: archived %v, want [old]", got)
	}
	if status("old") != StatusArchived || status("young") != StatusActive || status("recent") != StatusActive {
		t.Fatalf("statuses: old %s young %s recent %s", status("old"), status("young"), status("recent"))
	}
	if p, _ := e.s.Get("gone"); p.Status != StatusDeleted {
		t.Errorf("soft-deleted project became %s", p.Status)
	}
	var rec *catalog.Record
	e.s.db.View(func(tx *index.Tx) error { rec, err = catalog.FindRecord(tx, "old"); return err })
	if rec.ArchivedAt == nil || !rec.ArchivedAt.Equal(t0.Add(90*24*time.Hour+time.Nanosecond)) {
		t.Errorf("archived_at = %v, want the injected clock", rec.ArchivedAt)
	}
	if _, err := os.Stat(wbOld.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cache copy of the archived project: %v, want it removed", err)
	}
	if _, err := os.Stat(wbOld.Path + ".json"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cache sidecar of the archived project: %v, want it removed", err)
	}
	if _, err := os.Stat(wbRecent.Path); err != nil {
		t.Errorf("cache copy of an active project: %v", err)
	}
	// the archived project still lists by default and still extracts
	def, _ := e.s.List(Filter{})
	if !slices.ContainsFunc(def, func(it ListItem) bool { return it.Name == "old" }) {
		t.Error("archived project missing from the default list")
	}
	dest := e.path("out-old")
	if _, err := e.s.Extract(ctx, "old", ExtractOptions{Dest: dest}); err != nil {
		t.Fatal(err)
	}
	if d := oldMan.Diff(takeManifest(t, dest)); len(d) > 0 {
		t.Errorf("extract of an archived project differs: %v", d)
	}
	// a second later "young" goes too
	e.clock.Set(t0.Add(90*24*time.Hour + time.Second + time.Nanosecond))
	if got := archive(false); !slices.Equal(got, []string{"young"}) {
		t.Fatalf("at 90d+1s+1ns: %v, want [young]", got)
	}
	// an explicit age: --older-than 30d archives "recent" (updated at t0+10d+1s)
	rs, err := e.s.ArchiveOlder(ctx, 30*24*time.Hour, ArchiveOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(rs); !slices.Equal(got, []string{"recent"}) {
		t.Fatalf("older than 30d: %v, want [recent]", got)
	}

	// export: archives/YYYY/MM from the injected clock, a tar.gz of the
	// newest version
	e.clock.Set(time.Date(2025, 11, 30, 23, 0, 0, 0, time.UTC))
	ar, err := e.s.Archive(ctx, "recent", ArchiveOptions{Export: true})
	if err != nil {
		t.Fatal(err)
	}
	if !ar.AlreadyExists {
		t.Error("archiving an archived project: already_archived = false")
	}
	p, _ := e.s.Get("recent")
	wantExport := filepath.Join(e.s.BaseDir(), "archives", "2025", "11", p.ID+".tar.gz")
	if ar.ExportPath != wantExport {
		t.Fatalf("export path %s, want %s", ar.ExportPath, wantExport)
	}
	ex := e.path("export-check")
	untarGz(t, wantExport, ex)
	if d := takeManifest(t, recentDir).Diff(takeManifest(t, ex)); len(d) > 0 {
		// mtimes survive tar at second resolution only: compare contents
		if dd := contentOnly(takeManifest(t, recentDir)).Diff(contentOnly(takeManifest(t, ex))); len(dd) > 0 {
			t.Errorf("export differs from the project: %v", dd)
		}
	}
	// unarchive makes it active; a deleted project cannot be archived
	if p, err := e.s.Unarchive(ctx, "recent"); err != nil || p.Status != StatusActive {
		t.Errorf("unarchive: %v %v", p, err)
	}
	if _, err := e.s.Unarchive(ctx, "recent"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unarchive of an active project: %v, want ErrInvalid", err)
	}
	if _, err := e.s.Archive(ctx, "gone", ArchiveOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("archive of a deleted project: %v, want ErrInvalid", err)
	}
}

// contentOnly drops mtimes from a manifest.
func contentOnly(m manifest) manifest {
	out := manifest{}
	for k, v := range m {
		if i := strings.Index(v, " mtime="); i >= 0 {
			v = v[:i]
		}
		out[k] = v
	}
	return out
}

// ---- quotas ----

func TestQuotaMaxProjectSize(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("p")
	smallProject(t, dir, 1, 16)
	size := dirSizeOf(t, dir)
	e.cfg.MaxProjectSize = size

	// one byte over, for a new project: refused, nothing recorded
	big := e.path("big")
	smallProject(t, big, 2, 16)
	writeFile(t, big, "pad", make([]byte, size-dirSizeOf(t, big)+1))
	if dirSizeOf(t, big) != size+1 {
		t.Fatal("bad fixture")
	}
	before := catalogueDump(t, e.s)
	snapsBefore, _ := e.s.Snapshots("")
	_, err := e.s.Save(ctx, big, SaveOptions{Project: "big"})
	// the limit was set in code, not in the file or the environment
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "(storage.max_project_size, the default)") {
		t.Fatalf("save of limit+1 bytes: %v, want ErrQuota naming max_project_size and its source", err)
	}
	if _, err := e.s.Get("big"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("refused project exists: %v", err)
	}
	if after := catalogueDump(t, e.s); len(after) != len(before) {
		t.Errorf("catalogue changed: %d projects, was %d", len(after), len(before))
	}
	if snaps, _ := e.s.Snapshots(""); len(snaps) != len(snapsBefore) {
		t.Errorf("%d snapshots after a refused save, was %d", len(snaps), len(snapsBefore))
	}

	// exactly at the limit: stored
	res := e.save(t, dir, "p")
	if res.Stats.Size != size {
		t.Fatalf("stored size %d, want %d", res.Stats.Size, size)
	}
	// a next version one byte over: refused; the project is as it was
	e.clock.Advance(time.Hour)
	writeFile(t, dir, "one-more", []byte{1})
	before = catalogueDump(t, e.s)
	_, err = e.s.Save(ctx, dir, SaveOptions{Project: "p", Tags: []string{"should-not-stick"}})
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "max_project_size") || !strings.Contains(err.Error(), `"p"`) {
		t.Fatalf("next version of limit+1 bytes: %v, want ErrQuota naming the project and max_project_size", err)
	}
	if after := catalogueDump(t, e.s); !projectsEqual(after[res.ProjectID], before[res.ProjectID]) {
		t.Errorf("project changed by a refused version:\n%+v\nwas\n%+v", after[res.ProjectID], before[res.ProjectID])
	}
	// the same through a tar stream and a template
	tarPath := e.path("big.tar")
	writeTar(t, tarPath, big)
	if _, err := e.s.Import(ctx, tarPath, nil, SaveOptions{Project: "big-tar"}); !errors.Is(err, ErrQuota) {
		t.Errorf("tar import of limit+1 bytes: %v, want ErrQuota", err)
	}
	if _, err := e.s.Get("big-tar"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("refused tar import recorded a project: %v", err)
	}
	e.cfg.MaxProjectSize = 0
	if _, err := e.s.AddTemplate(ctx, "big-tpl", "backend", big, false); err != nil {
		t.Fatal(err)
	}
	e.cfg.MaxProjectSize = size
	if _, err := e.s.NewFromTemplate(ctx, "big-tpl", SaveOptions{Project: "from-big"}); !errors.Is(err, ErrQuota) {
		t.Errorf("project from a template of limit+1 bytes: %v, want ErrQuota", err)
	}
	if _, err := e.s.Get("from-big"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("refused template project recorded: %v", err)
	}
	checkClean(t, e.s)
}

// TestQuotaTotal: total_quota counts the stored bytes of the packs before a
// store plus the stored bytes of the blobs the store adds (data and trees;
// the snapshot record and pack tables are not counted).
func TestQuotaTotal(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	first := filepath.Join(base, "first")
	smallProject(t, first, 1, 64)
	second := filepath.Join(base, "second")
	writeTree(t, second, map[string][]byte{
		"a.txt":     textBytes(100, 40<<10),
		"b.bin":     testutil.RandomBytes(101, 20<<10),
		"dir/c.txt": textBytes(102, 5000),
	})

	// measure what storing "second" adds after "first", in a twin with the
	// same chunker polynomial
	twin := newEnv(t)
	twin.save(t, first, "first")
	before := indexedBlobs(t, twin.s)
	twin.save(t, second, "second")
	var counted int64
	for id, l := range indexedBlobs(t, twin.s) {
		if _, ok := before[id]; !ok && (l.Type == object.DataBlob || l.Type == object.TreeBlob) {
			counted += int64(l.Length)
		}
	}
	pol := twin.s.rc.ChunkerPolynomial

	open := func(t *testing.T) *testEnv {
		e := &testEnv{dir: t.TempDir(), clock: newClock(t0)}
		e.cfg = testConfig(e.dir)
		s, err := Open(ctx, Options{Config: e.cfg, Create: true, Now: e.clock.Now, Polynomial: pol})
		if err != nil {
			t.Fatal(err)
		}
		e.s = s
		t.Cleanup(func() { e.close(t) })
		e.save(t, first, "first")
		return e
	}
	t.Run("at the limit", func(t *testing.T) {
		e := open(t)
		stored, _ := packBytes(t, e.s)
		e.cfg.TotalQuota = stored + counted
		if _, err := e.s.Save(ctx, second, SaveOptions{Project: "second"}); err != nil {
			t.Fatalf("save exactly at total_quota: %v", err)
		}
		after, _ := packBytes(t, e.s)
		t.Logf("quota %d, stored after %d (pack tables and the snapshot record are not counted)", e.cfg.TotalQuota, after)
		// the repository is now at or past the quota: the next store is refused
		third := e.path("third")
		writeFile(t, third, "x", []byte("x"))
		before := catalogueDump(t, e.s)
		_, err := e.s.Save(ctx, third, SaveOptions{Project: "third"})
		if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "total_quota") {
			t.Fatalf("save into a full repository: %v, want ErrQuota naming total_quota", err)
		}
		if after := catalogueDump(t, e.s); len(after) != len(before) {
			t.Error("a refused save changed the catalogue")
		}
		if _, err := e.s.Get("third"); !errors.Is(err, ErrProjectNotFound) {
			t.Errorf("refused project exists: %v", err)
		}
	})
	t.Run("one byte over", func(t *testing.T) {
		e := open(t)
		stored, _ := packBytes(t, e.s)
		e.cfg.TotalQuota = stored + counted - 1
		before := catalogueDump(t, e.s)
		_, err := e.s.Save(ctx, second, SaveOptions{Project: "second"})
		if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "total_quota") {
			t.Fatalf("save one byte over total_quota: %v, want ErrQuota naming total_quota", err)
		}
		if after := catalogueDump(t, e.s); len(after) != len(before) {
			t.Error("a refused save changed the catalogue")
		}
		if _, err := e.s.Get("second"); !errors.Is(err, ErrProjectNotFound) {
			t.Errorf("refused project exists: %v", err)
		}
		// a new version of an existing project is refused the same way
		e.clock.Advance(time.Hour)
		p0, _ := e.s.Get("first")
		dir := e.path("first-v2")
		if err := os.CopyFS(dir, os.DirFS(first)); err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, "more.bin", testutil.RandomBytes(7, int(counted)))
		if _, err := e.s.Save(ctx, dir, SaveOptions{Project: "first"}); !errors.Is(err, ErrQuota) {
			t.Fatalf("new version past total_quota: %v", err)
		}
		if p1, _ := e.s.Get("first"); !projectsEqual(*p0, *p1) {
			t.Errorf("refused version changed the project:\n%+v\nwas\n%+v", p1, p0)
		}
		checkClean(t, e.s)
	})
}

// ---- catalogue and index rebuild ----

func TestCatalogueSurvivesRebuild(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := func(name string, seed uint64) string {
		d := e.path("src", name)
		smallProject(t, d, seed, 4)
		return d
	}
	step := func() { e.clock.Advance(time.Minute) }

	alpha := src("alpha", 1)
	e.save(t, alpha, "alpha", func(o *SaveOptions) {
		o.Type, o.Tags, o.GitRepository, o.Languages = TypeMigration, []string{"t1"}, "https://x/alpha", []string{"Shell"}
	})
	step()
	writeFile(t, alpha, "v2.txt", []byte("v2"))
	e.save(t, alpha, "alpha")
	step()
	if _, err := e.s.Set(ctx, "alpha", SetOptions{Name: "alpha-renamed", AddTags: []string{"t2"}}); err != nil {
		t.Fatal(err)
	}
	step()
	e.save(t, src("beta", 2), "beta")
	if _, err := e.s.Archive(ctx, "beta", ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	step()
	e.save(t, src("gamma", 3), "gamma")
	if _, err := e.s.Delete(ctx, "gamma", false); err != nil {
		t.Fatal(err)
	}
	step()
	oldDelta := e.save(t, src("delta", 4), "delta")
	if _, err := e.s.Delete(ctx, "delta", true); err != nil {
		t.Fatal(err)
	}
	step()
	// the hard-deleted project's name, reused
	newDelta := e.save(t, src("delta2", 5), "delta")
	step()
	// an active project and a soft-deleted one with the same name (Save
	// refuses a deleted project's name, a deleted project may take any)
	zeta := e.save(t, src("zeta", 7), "zeta")
	step()
	e.save(t, src("zeta-old", 6), "zeta-old")
	if _, err := e.s.Delete(ctx, "zeta-old", false); err != nil {
		t.Fatal(err)
	}
	step()
	if _, err := e.s.Set(ctx, "zeta-old", SetOptions{Name: "zeta"}); err != nil {
		t.Fatalf("rename a deleted project onto an active project's name: %v", err)
	}
	step()
	// a soft-deleted then undeleted project
	e.save(t, src("eta", 8), "eta")
	if _, err := e.s.Delete(ctx, "eta", false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Undelete(ctx, "eta"); err != nil {
		t.Fatal(err)
	}
	step()
	// templates, one replaced
	if _, err := e.s.AddTemplate(ctx, "tpl-a", "backend", src("tpl-a", 9), false); err != nil {
		t.Fatal(err)
	}
	step()
	if _, err := e.s.AddTemplate(ctx, "tpl-b", "frontend", src("tpl-b", 10), false); err != nil {
		t.Fatal(err)
	}
	step()
	if _, err := e.s.AddTemplate(ctx, "tpl-b", "fullstack", src("tpl-b2", 11), true); err != nil {
		t.Fatal(err)
	}
	step()
	if _, err := e.s.NewFromTemplate(ctx, "tpl-a", SaveOptions{Project: "from-tpl", Tags: []string{"tpl"}}); err != nil {
		t.Fatal(err)
	}

	wantCat := catalogueDump(t, e.s)
	wantTpl, _ := e.s.Templates()
	wantSnaps, _ := e.s.Snapshots("")
	if len(wantCat) != 8 || len(wantTpl) != 2 {
		t.Fatalf("setup: %d projects, %d templates", len(wantCat), len(wantTpl))
	}

	verify := func(t *testing.T, how string) {
		t.Helper()
		got := catalogueDump(t, e.s)
		if len(got) != len(wantCat) {
			t.Errorf("%s: %d projects, want %d", how, len(got), len(wantCat))
		}
		for id, w := range wantCat {
			if g, ok := got[id]; !ok {
				t.Errorf("%s: project %s (%s) lost", how, w.Name, id)
			} else if !projectsEqual(g, w) {
				t.Errorf("%s: project %s is\n%+v\nwant\n%+v", how, w.Name, g, w)
			}
		}
		if _, ok := got[oldDelta.ProjectID]; ok {
			t.Errorf("%s: the hard-deleted project came back", how)
		}
		gotTpl, _ := e.s.Templates()
		if fmt.Sprint(gotTpl) != fmt.Sprint(wantTpl) {
			t.Errorf("%s: templates %+v, want %+v", how, gotTpl, wantTpl)
		}
		gotSnaps, _ := e.s.Snapshots("")
		if len(gotSnaps) != len(wantSnaps) {
			t.Errorf("%s: %d snapshots, want %d", how, len(gotSnaps), len(wantSnaps))
		}
		for _, sn := range gotSnaps {
			if sn.ProjectID == oldDelta.ProjectID {
				t.Errorf("%s: a version of the hard-deleted project came back", how)
			}
		}
		// names resolve as before
		for name, id := range map[string]string{"alpha-renamed": wantCatByName(wantCat, "alpha-renamed"),
			"delta": newDelta.ProjectID, "zeta": zeta.ProjectID} {
			if p, err := e.s.Get(name); err != nil || p.ID != id {
				t.Errorf("%s: %s resolves to %v (%v), want %s", how, name, p, err, id)
			}
		}
		if _, err := e.s.Get("alpha"); !errors.Is(err, ErrProjectNotFound) {
			t.Errorf("%s: the old name of a renamed project resolves: %v", how, err)
		}
		if _, err := e.s.Get(oldDelta.ProjectID); !errors.Is(err, ErrProjectNotFound) {
			t.Errorf("%s: the hard-deleted project's id resolves: %v", how, err)
		}
		if _, err := e.s.ResolveSnapshot(oldDelta.Snapshot.String()); err == nil {
			t.Errorf("%s: the hard-deleted project's version resolves", how)
		}
		checkClean(t, e.s)
	}

	t.Run("RebuildIndex", func(t *testing.T) {
		st, err := e.s.RebuildIndex(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if st.Projects != len(wantCat) || st.Templates != 2 || len(st.BadPacks) != 0 {
			t.Errorf("rebuild stats %+v", st)
		}
		verify(t, "after RebuildIndex")
	})
	t.Run("index.db deleted", func(t *testing.T) {
		e.close(t)
		if err := os.Remove(filepath.Join(e.cfg.BasePath, "index.db")); err != nil {
			t.Fatal(err)
		}
		e.s = e.open(t)
		verify(t, "after deleting index.db")
	})
	t.Run("after gc", func(t *testing.T) {
		if _, err := e.s.GC(ctx, GCOptions{}); err != nil {
			t.Fatal(err)
		}
		verify(t, "after gc")
		e.close(t)
		if err := os.Remove(filepath.Join(e.cfg.BasePath, "index.db")); err != nil {
			t.Fatal(err)
		}
		e.s = e.open(t)
		verify(t, "after gc and deleting index.db")
	})
}

func wantCatByName(cat map[string]Project, name string) string {
	for id, p := range cat {
		if p.Name == name {
			return id
		}
	}
	return ""
}

// TestWorkbenchReuse: extracting into a workbench id in use is refused,
// naming what it holds, and changes nothing; with Force the workbench
// holds exactly the new version (no file of the old project left) and its
// sidecar names the new project; no half-built copy is listed.
func TestWorkbenchReuse(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.path("a"), e.path("b")
	writeFile(t, a, "only-in-a.txt", []byte("a"))
	writeFile(t, a, "shared.txt", []byte("from a"))
	writeFile(t, b, "shared.txt", []byte("from b"))
	writeFile(t, b, "sub/only-in-b.txt", []byte("b"))
	e.save(t, a, "A")
	e.save(t, b, "B")
	first, err := e.s.Extract(ctx, "A", ExtractOptions{Workbench: "wb1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Extract(ctx, "B", ExtractOptions{Workbench: "wb1"})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), `project "A"`) || !strings.Contains(err.Error(), "wb1") {
		t.Fatalf("extract into a workbench in use: %v", err)
	}
	if d := takeManifest(t, a).Diff(takeManifest(t, first.Path)); len(d) > 0 {
		t.Errorf("the refused extract changed wb1: %v", d)
	}
	res, err := e.s.Extract(ctx, "B", ExtractOptions{Workbench: "wb1", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if d := takeManifest(t, b).Diff(takeManifest(t, res.Path)); len(d) > 0 {
		t.Errorf("wb1 after --force is not exactly B: %v", d)
	}
	side, err := os.ReadFile(res.Path + ".json")
	if err != nil || !strings.Contains(string(side), `"project":"B"`) {
		t.Errorf("sidecar after --force: %s %v", side, err)
	}
	ents, err := os.ReadDir(filepath.Dir(res.Path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range ents {
		names = append(names, de.Name())
	}
	if !slices.Equal(names, []string{"wb1", "wb1.json"}) {
		t.Errorf("cache/ holds %q", names)
	}
	// a failed extract leaves nothing under the id it claimed
	if _, err := e.s.Extract(ctx, "nosuch", ExtractOptions{Workbench: "wb2"}); err == nil {
		t.Fatal("extract of a missing project succeeded")
	}
	if _, err := os.Lstat(filepath.Join(filepath.Dir(res.Path), "wb2")); err == nil {
		t.Error("a failed extract left its workbench behind")
	}
}

// TestExcludes: --exclude patterns and the project's .siloignore (gitignore
// syntax: a directory-only pattern, a glob, a re-include, an anchored
// name) leave entries out of the version, and the store counts them.
func TestExcludes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("p")
	writeFile(t, dir, "src/main.py", []byte("print(1)\n"))
	writeFile(t, dir, "src/build/keep.txt", []byte("a file named build is kept: only directories match build/"))
	writeFile(t, dir, "node_modules/x/i.js", []byte("dep"))
	writeFile(t, dir, "build/o.bin", []byte("out"))
	writeFile(t, dir, "debug.log", []byte("12345"))
	writeFile(t, dir, "keep.log", []byte("kept"))
	writeFile(t, dir, "top.txt", []byte("anchored"))
	writeFile(t, dir, "src/top.txt", []byte("not anchored here"))
	writeFile(t, dir, ".siloignore", []byte("/build/\n*.log\n!keep.log\n/top.txt\n"))
	res, err := e.s.Save(ctx, dir, SaveOptions{Project: "p", Excludes: []string{"node_modules"}})
	if err != nil {
		t.Fatal(err)
	}
	// node_modules, build, debug.log, top.txt
	if res.Stats.Excluded != 4 || res.Stats.ExcludedBytes != int64(len("12345")+len("anchored")) {
		t.Errorf("excluded %d entries, %d bytes", res.Stats.Excluded, res.Stats.ExcludedBytes)
	}
	out := e.path("out")
	if _, _, err := e.s.Restore(ctx, "p", out, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{"node_modules", "build", "debug.log", "top.txt"} {
		if _, err := os.Lstat(filepath.Join(out, gone)); err == nil {
			t.Errorf("%s was stored", gone)
		}
	}
	for _, kept := range []string{"src/main.py", "src/build/keep.txt", "keep.log", "src/top.txt", ".siloignore"} {
		if _, err := os.Lstat(filepath.Join(out, kept)); err != nil {
			t.Errorf("%s was left out: %v", kept, err)
		}
	}
	// an unchanged re-store leaves out the same
	res, err = e.s.Save(ctx, dir, SaveOptions{Project: "p", Excludes: []string{"node_modules"}})
	if err != nil || res.Stats.Excluded != 4 || res.Stats.FilesNew+res.Stats.FilesChanged != 0 {
		t.Errorf("re-store: %+v %v", res.Stats, err)
	}

	// files over a size, and cache directories (CACHEDIR.TAG with the
	// signature; a tag without it does not count)
	writeFile(t, dir, "big.bin", make([]byte, 2000))
	writeFile(t, dir, "small.bin", make([]byte, 1000))
	writeFile(t, dir, ".cache/CACHEDIR.TAG", []byte(snapshot.CacheDirSignature+"\n# a cache\n"))
	writeFile(t, dir, ".cache/blob", []byte("cached"))
	writeFile(t, dir, "notcache/CACHEDIR.TAG", []byte("no signature"))
	e.clock.Advance(time.Hour) // the newest version is this one
	res, err = e.s.Save(ctx, dir, SaveOptions{Project: "p", ExcludeLargerThan: 1500, ExcludeCaches: true})
	if err != nil {
		t.Fatal(err)
	}
	out2 := e.path("out2")
	if _, _, err := e.s.Restore(ctx, "p", out2, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"big.bin": false, "small.bin": true, ".cache": false, "notcache/CACHEDIR.TAG": true, "node_modules": true} {
		if _, err := os.Lstat(filepath.Join(out2, name)); (err == nil) != want {
			t.Errorf("%s stored: %v, want %v", name, err == nil, want)
		}
	}
	// patterns from a file (CRLF lines too); a missing file is an error
	list := e.path("ignore.txt")
	if err := os.WriteFile(list, []byte("small.bin\r\nnotcache/\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.s.Save(ctx, dir, SaveOptions{Project: "p", ExcludeFiles: []string{list}}); err != nil {
		t.Fatal(err)
	}
	out3 := e.path("out3")
	if _, _, err := e.s.Restore(ctx, "p", out3, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"small.bin": false, "notcache": false, "big.bin": true} {
		if _, err := os.Lstat(filepath.Join(out3, name)); (err == nil) != want {
			t.Errorf("with an exclude file, %s stored: %v, want %v", name, err == nil, want)
		}
	}
	if _, err := e.s.Save(ctx, dir, SaveOptions{Project: "p", ExcludeFiles: []string{e.path("missing.txt")}}); err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("a missing exclude file: %v", err)
	}
}

// A project's default excludes (projects set --exclude) apply to every
// store of it, with the store's own; they survive an index rebuild (they
// are part of its record) and can be cleared.
func TestProjectDefaultExcludes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("p")
	writeFile(t, dir, "main.go", []byte("package main\n"))
	writeFile(t, dir, "dist/app.js", []byte("bundle"))
	writeFile(t, dir, "tmp/x", []byte("scratch"))
	if _, err := e.s.Save(ctx, dir, SaveOptions{Project: "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Set(ctx, "p", SetOptions{Excludes: []string{""}}); err == nil {
		t.Error("an empty exclude pattern was accepted")
	}
	p, err := e.s.Set(ctx, "p", SetOptions{Excludes: []string{"dist/"}})
	if err != nil || !slices.Equal(p.Excludes, []string{"dist/"}) {
		t.Fatalf("set --exclude: %+v %v", p, err)
	}
	if _, err := e.s.RebuildIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if p, err := e.s.Get("p"); err != nil || !slices.Equal(p.Excludes, []string{"dist/"}) {
		t.Fatalf("after rebuild: %+v %v", p, err)
	}
	e.clock.Advance(time.Hour)
	res, err := e.s.Save(ctx, dir, SaveOptions{Project: "p", Excludes: []string{"tmp"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Excluded != 2 {
		t.Errorf("excluded %d entries, want dist and tmp", res.Stats.Excluded)
	}
	out := e.path("out")
	if _, _, err := e.s.Restore(ctx, "p", out, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"main.go": true, "dist": false, "tmp": false} {
		if _, err := os.Lstat(filepath.Join(out, name)); (err == nil) != want {
			t.Errorf("%s stored: %v, want %v", name, err == nil, want)
		}
	}
	if p, err := e.s.Set(ctx, "p", SetOptions{Excludes: []string{}}); err != nil || len(p.Excludes) != 0 {
		t.Fatalf("clear: %+v %v", p, err)
	}
	e.clock.Advance(time.Hour)
	if res, err := e.s.Save(ctx, dir, SaveOptions{Project: "p"}); err != nil || res.Stats.Excluded != 0 {
		t.Errorf("after clearing, the store excluded %v (%v)", res, err)
	}
}

// An import makes a migration project unless told otherwise (the storage
// guide's import example); a store makes a generation project.
func TestImportDefaultsToMigration(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("src")
	writeFile(t, dir, "a.txt", []byte("a"))
	tarPath := e.path("p.tar.gz")
	writeTarGz(t, tarPath, dir)
	for _, c := range []struct {
		name, typ, want string
		imp             bool
	}{
		{"imported", "", TypeMigration, true},
		{"imported-dir", "", TypeMigration, true},
		{"imported-gen", TypeGeneration, TypeGeneration, true},
		{"stored", "", TypeGeneration, false},
	} {
		var err error
		switch {
		case !c.imp:
			_, err = e.s.Save(ctx, dir, SaveOptions{Project: c.name, Type: c.typ})
		case c.name == "imported-dir":
			_, err = e.s.Import(ctx, dir, nil, SaveOptions{Project: c.name, Type: c.typ})
		default:
			_, err = e.s.Import(ctx, tarPath, nil, SaveOptions{Project: c.name, Type: c.typ})
		}
		if err != nil {
			t.Fatal(err)
		}
		if p, err := e.s.Get(c.name); err != nil || p.Type != c.want {
			t.Errorf("%s: type %q %v, want %q", c.name, p.Type, err, c.want)
		}
	}
}

// CacheList shows each workbench copy with its project, version and size,
// oldest first, and nothing of a copy being built.
func TestCacheList(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.path("a"), e.path("b")
	writeFile(t, a, "x.txt", []byte("12345"))
	writeFile(t, b, "y.txt", []byte("123"))
	va := e.save(t, a, "A")
	vb := e.save(t, b, "B")
	if l, err := e.s.CacheList(); err != nil || len(l) != 0 {
		t.Fatalf("empty cache: %v %v", l, err)
	}
	if _, err := e.s.Extract(ctx, "A", ExtractOptions{Workbench: "wa"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.s.Extract(ctx, "B", ExtractOptions{Workbench: "wb"}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(e.s.BaseDir(), "cache", ".wc.new-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := e.s.CacheList()
	if err != nil || len(l) != 2 {
		t.Fatalf("cache list: %+v %v", l, err)
	}
	if l[0].Workbench != "wa" || l[0].Project != "A" || l[0].Snapshot != va.Snapshot.String() || l[0].Bytes != 5 ||
		l[1].Workbench != "wb" || l[1].Project != "B" || l[1].Snapshot != vb.Snapshot.String() || l[1].Bytes != 3 {
		t.Errorf("cache list: %+v", l)
	}
}

// archive_export (default true): archiving by cleanup writes the guide's
// archives/YYYY/MM/<project-id>.tar.gz, holding the newest version;
// unarchive removes it. With archive_export false nothing is written.
func TestArchiveExportDefault(t *testing.T) {
	for _, export := range []bool{true, false} {
		e := newEnv(t, func(c *config.Config) { c.ArchiveExport = export; c.ArchiveAfterDays = 30 })
		if config.Default().ArchiveExport != true {
			t.Fatal("archive_export does not default to true")
		}
		ctx := context.Background()
		dir := e.path("p")
		writeFile(t, dir, "main.go", []byte("package main\n"))
		e.save(t, dir, "old")
		e.clock.Advance(40 * 24 * time.Hour)
		if _, err := e.s.Cleanup(ctx, CleanupOptions{}); err != nil {
			t.Fatal(err)
		}
		p, err := e.s.Get("old")
		if err != nil || p.Status != StatusArchived {
			t.Fatalf("export %v: %+v %v", export, p, err)
		}
		matches, _ := filepath.Glob(filepath.Join(e.s.BaseDir(), "archives", "*", "*", p.ID+".tar.gz"))
		if (len(matches) == 1) != export {
			t.Fatalf("archive_export %v: exports %v", export, matches)
		}
		if _, err := e.s.Unarchive(ctx, "old"); err != nil {
			t.Fatal(err)
		}
		if export {
			if _, err := os.Stat(matches[0]); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("unarchive left %s: %v", matches[0], err)
			}
		}
	}
}

// A template name in use is refused without replace; RemoveTemplate takes
// it out of the list, of NewFromTemplate and (through its removal record)
// of an index rebuild; the name is then free again.
func TestTemplateRemoveAndReplace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.path("a"), e.path("b")
	writeFile(t, a, "main.go", []byte("package a\n"))
	writeFile(t, b, "main.go", []byte("package b\n"))
	if _, err := e.s.AddTemplate(ctx, "svc", "backend", a, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.AddTemplate(ctx, "svc", "backend", b, false); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("re-adding without force: %v", err)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.s.AddTemplate(ctx, "svc", "backend", b, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.NewFromTemplate(ctx, "svc", SaveOptions{Project: "made"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	if err := e.s.RemoveTemplate(ctx, "svc"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RemoveTemplate(ctx, "svc"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("removing twice: %v", err)
	}
	for round, check := range []string{"after remove", "after rebuild"} {
		if round == 1 {
			if _, err := e.s.RebuildIndex(ctx, nil); err != nil {
				t.Fatal(err)
			}
		}
		if l, err := e.s.Templates(); err != nil || len(l) != 0 {
			t.Errorf("%s: templates %v %v", check, l, err)
		}
		if _, err := e.s.NewFromTemplate(ctx, "svc", SaveOptions{Project: "again"}); !errors.Is(err, ErrProjectNotFound) {
			t.Errorf("%s: new from a removed template: %v", check, err)
		}
	}
	// the project made from it keeps its version
	out := e.path("out")
	if _, _, err := e.s.Restore(ctx, "made", out, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "main.go")); string(got) != "package b\n" {
		t.Errorf("made: %q", got)
	}
	e.clock.Advance(time.Minute)
	if _, err := e.s.AddTemplate(ctx, "svc", "frontend", a, false); err != nil {
		t.Errorf("re-adding a removed template's name: %v", err)
	}
	checkClean(t, e.s)
}

// Processes that add one template name at once, without replace: exactly
// one is recorded, the others are told it exists (the name is checked
// again under the catalogue lock, after the trees were stored), and the
// template holds the winner's tree.
func TestTemplateAddedAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const n = 4
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = e.path(fmt.Sprintf("src%d", i))
		for f := range 20 {
			writeFile(t, dirs[i], fmt.Sprintf("f%02d.bin", f), testutil.RandomBytes(uint64(100*i+f), 256<<10))
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = e.s.AddTemplate(ctx, "svc", "backend", dirs[i], false)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("both adders %d and %d recorded template svc", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, ErrExists):
			t.Fatalf("adder %d: %v, want ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no adder recorded the template")
	}
	if _, err := e.s.NewFromTemplate(ctx, "svc", SaveOptions{Project: "made"}); err != nil {
		t.Fatal(err)
	}
	out := e.path("out")
	if _, _, err := e.s.Restore(ctx, "made", out, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(out, "f07.bin")); err != nil || !bytes.Equal(got, testutil.RandomBytes(uint64(100*winner+7), 256<<10)) {
		t.Fatalf("the template does not hold the winner's tree (%v)", err)
	}
}
