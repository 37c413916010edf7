package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/store"
	"github.com/silo-dev/silo/store/config"
)

// exampleRepo opens a new repository in a temporary directory. now, when
// not nil, is its clock.
func exampleRepo(now func() time.Time) (s *store.Store, dir string, done func()) {
	dir, err := os.MkdirTemp("", "silo-example-")
	if err != nil {
		log.Fatal(err)
	}
	cfg := config.Default()
	cfg.BasePath = filepath.Join(dir, "storage")
	cfg.Backup.Destination = filepath.Join(dir, "backups")
	s, err = store.Open(context.Background(), store.Options{Config: cfg, Create: true, Now: now})
	if err != nil {
		log.Fatal(err)
	}
	return s, dir, func() { s.Close(); os.RemoveAll(dir) }
}

// exampleProject writes a small Go service using gin under dir/name.
func exampleProject(dir, name string) string {
	root := filepath.Join(dir, name)
	files := map[string]string{
		"go.mod":           "module example.com/" + name + "\n\ngo 1.22\n\nrequire github.com/gin-gonic/gin v1.10.0\n",
		"main.go":          "package main\n\nimport \"github.com/gin-gonic/gin\"\n\nfunc main() {\n\tr := gin.Default()\n\tr.Run()\n}\n",
		"handlers/user.go": "package handlers\n\n// User handlers.\nfunc List() {}\n",
	}
	for rel, content := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	return root
}

func ExampleStore_Save() {
	s, dir, done := exampleRepo(nil)
	defer done()
	ctx := context.Background()
	src := exampleProject(dir, "shop-api")

	res, err := s.Save(ctx, src, store.SaveOptions{Project: "shop-api", Type: store.TypeMigration, Tags: []string{"backend"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Name, "created:", res.Created)
	fmt.Println("languages:", res.Languages, "frameworks:", res.Frameworks)
	fmt.Println("files:", res.Stats.FilesNew, "bytes:", res.Stats.Size)

	// storing it again reads nothing: unchanged files are recognised from
	// the previous version
	res, err = s.Save(ctx, src, store.SaveOptions{Project: "shop-api"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("unchanged:", res.Stats.FilesUnchanged, "read:", res.Stats.BytesRead)
	// Output:
	// shop-api created: true
	// languages: [go] frameworks: [gin]
	// files: 3 bytes: 224
	// unchanged: 3 read: 0
}

func ExampleStore_List() {
	s, dir, done := exampleRepo(nil)
	defer done()
	ctx := context.Background()
	for _, p := range []struct{ name, tag string }{{"billing", "prod"}, {"checkout", "prod"}, {"sandbox", "experiment"}} {
		if _, err := s.Save(ctx, exampleProject(dir, p.name), store.SaveOptions{Project: p.name, Tags: []string{p.tag}}); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, "checkout", false); err != nil {
		log.Fatal(err)
	}

	list, err := s.List(store.Filter{Tag: "prod"}) // soft-deleted projects are left out
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range list {
		fmt.Println(p.Name, p.Status, p.VersionCount, p.Languages)
	}
	list, _ = s.List(store.Filter{Status: "all", Framework: "GIN", Name: "*o*"})
	for _, p := range list {
		fmt.Println(p.Name, p.Status)
	}
	// Output:
	// billing active 1 [go]
	// checkout deleted
	// sandbox active
}

func ExampleStore_Get() {
	clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s, dir, done := exampleRepo(func() time.Time { return clock })
	defer done()
	ctx := context.Background()
	if _, err := s.Save(ctx, exampleProject(dir, "api"), store.SaveOptions{Project: "api", GitRepository: "https://git.example.com/api.git"}); err != nil {
		log.Fatal(err)
	}
	p, err := s.Get("api")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Name, p.Type, p.Status, p.SizeBytes, p.GitRepository)
	fmt.Println(p.CreatedAt, len(p.Versions))
	// Output:
	// api generation active 219 https://git.example.com/api.git
	// 2025-01-02 03:04:05 +0000 UTC 1
}

func ExampleStore_Archive() {
	s, dir, done := exampleRepo(nil)
	defer done()
	ctx := context.Background()
	if _, err := s.Save(ctx, exampleProject(dir, "legacy"), store.SaveOptions{Project: "legacy"}); err != nil {
		log.Fatal(err)
	}
	res, err := s.Archive(ctx, "legacy", store.ArchiveOptions{Export: true})
	if err != nil {
		log.Fatal(err)
	}
	rel, _ := filepath.Rel(s.BaseDir(), res.ExportPath)
	fmt.Println(res.Name, "exported to", filepath.Dir(filepath.Dir(filepath.Dir(rel))))

	// archived projects still list and extract
	p, _ := s.Get("legacy")
	fmt.Println(p.Status)
	if _, err := s.Unarchive(ctx, "legacy"); err != nil {
		log.Fatal(err)
	}
	p, _ = s.Get("legacy")
	fmt.Println(p.Status)
	// Output:
	// legacy exported to archives
	// archived
	// active
}

func ExampleStore_ArchiveOlder() {
	clock := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s, dir, done := exampleRepo(func() time.Time { return clock })
	defer done()
	ctx := context.Background()
	if _, err := s.Save(ctx, exampleProject(dir, "old"), store.SaveOptions{Project: "old"}); err != nil {
		log.Fatal(err)
	}
	clock = clock.AddDate(0, 2, 0)
	if _, err := s.Save(ctx, exampleProject(dir, "new"), store.SaveOptions{Project: "new"}); err != nil {
		log.Fatal(err)
	}
	// 100 days after the first project was stored: it is older than the
	// configured archive_after_days (90)
	clock = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 100)
	res, err := s.ArchiveOlder(ctx, 0, store.ArchiveOptions{}, false)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res {
		fmt.Println("archived", r.Name)
	}
	// Output:
	// archived old
}

func ExampleStore_Extract() {
	s, dir, done := exampleRepo(nil)
	defer done()
	ctx := context.Background()
	if _, err := s.Save(ctx, exampleProject(dir, "web"), store.SaveOptions{Project: "web"}); err != nil {
		log.Fatal(err)
	}
	// into cache/<workbench-id>/ (or give Dest for any directory)
	res, err := s.Extract(ctx, "web@latest", store.ExtractOptions{Workbench: "wb-42"})
	if err != nil {
		log.Fatal(err)
	}
	rel, _ := filepath.Rel(s.BaseDir(), res.Path)
	b, _ := os.ReadFile(filepath.Join(res.Path, "handlers", "user.go"))
	fmt.Println(rel, res.Stats.Files)
	fmt.Print(string(b))
	// Output:
	// cache/wb-42 3
	// package handlers
	//
	// // User handlers.
	// func List() {}
}

func ExampleStore_Delete() {
	s, dir, done := exampleRepo(nil)
	defer done()
	ctx := context.Background()
	if _, err := s.Save(ctx, exampleProject(dir, "tmp"), store.SaveOptions{Project: "tmp"}); err != nil {
		log.Fatal(err)
	}
	p, _ := s.Delete(ctx, "tmp", false) // soft: restorable
	fmt.Println(p.Status, len(p.Versions))
	p, _ = s.Undelete(ctx, "tmp")
	fmt.Println(p.Status)
	p, _ = s.Delete(ctx, "tmp", true) // hard: gone from the catalogue
	fmt.Println(p.Status, p.Permanent)
	_, err := s.Get("tmp")
	fmt.Println(err)
	// its space returns at the next garbage collection
	rep, _ := s.GC(ctx, store.GCOptions{})
	fmt.Println("packs deleted:", rep.Result.PacksDeleted > 0)
	// Output:
	// deleted 1
	// active
	// deleted true
	// store: project not found: "tmp"
	// packs deleted: true
}

func ExampleStore_Forget() {
	clock := time.Date(2025, 3, 1, 12, 0, 0, 0, time.Local)
	s, dir, done := exampleRepo(func() time.Time { return clock })
	defer done()
	ctx := context.Background()
	src := exampleProject(dir, "svc")
	for day := range 5 {
		os.WriteFile(filepath.Join(src, "VERSION"), fmt.Appendf(nil, "%d\n", day), 0o644)
		if _, err := s.Save(ctx, src, store.SaveOptions{Project: "svc"}); err != nil {
			log.Fatal(err)
		}
		clock = clock.Add(24 * time.Hour)
	}
	res, err := s.Forget(ctx, "svc", gc.Policy{Last: 2}, false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("removed", res.Removed, "kept", res.Kept)
	p, _ := s.Get("svc")
	fmt.Println(len(p.Versions), p.Versions[0].Time.Local().Format("Jan 2"))
	// Output:
	// removed 3 kept 2
	// 2 Mar 5
}

func ExampleStore_Stats() {
	s, dir, done := exampleRepo(nil)
	defer done()
	ctx := context.Background()
	src := exampleProject(dir, "a")
	for _, name := range []string{"a", "b", "c"} {
		if _, err := s.Save(ctx, src, store.SaveOptions{Project: name}); err != nil {
			log.Fatal(err)
		}
	}
	s.Archive(ctx, "c", store.ArchiveOptions{})
	st, err := s.Stats()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.TotalProjects, st.ActiveProjects, st.ArchivedProjects, st.Versions)
	fmt.Println("dedup ratio:", st.DedupRatio) // three projects, one copy of each file
	// Output:
	// 3 2 1 3
	// dedup ratio: 3
}

func ExampleStore_CleanCache() {
	s, dir, done := exampleRepo(nil)
	defer done()
	ctx := context.Background()
	if _, err := s.Save(ctx, exampleProject(dir, "x"), store.SaveOptions{Project: "x"}); err != nil {
		log.Fatal(err)
	}
	for _, wb := range []string{"one", "two"} {
		if _, err := s.Extract(ctx, "x", store.ExtractOptions{Workbench: wb}); err != nil {
			log.Fatal(err)
		}
	}
	res, err := s.CleanCache(0, false)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Removed, res.FreedBytes)
	// Output:
	// 2 434
}

func ExampleStore_Backup() {
	s, dir, done := exampleRepo(nil)
	defer done()
	ctx := context.Background()
	if _, err := s.Save(ctx, exampleProject(dir, "api"), store.SaveOptions{Project: "api"}); err != nil {
		log.Fatal(err)
	}
	br, err := s.Backup(ctx, store.BackupOptions{}) // to backup.destination
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(br.Projects), br.BytesCopied > 0)

	// list, verify and restore need only the destination
	bs, err := store.OpenBackups(ctx, s.Config(), "", nil, true)
	if err != nil {
		log.Fatal(err)
	}
	defer bs.Close()
	rep, err := bs.Verify(ctx, br.ID, true)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("missing:", rep.Missing, "corrupt:", rep.Corrupt)
	out := filepath.Join(dir, "restored")
	if _, err := bs.Restore(ctx, "latest", store.RestoreBackupOptions{Dest: out}); err != nil {
		log.Fatal(err)
	}
	_, err = os.Stat(filepath.Join(out, "api", "go.mod"))
	fmt.Println(err == nil)
	// Output:
	// 1 true
	// missing: 0 corrupt: 0
	// true
}
