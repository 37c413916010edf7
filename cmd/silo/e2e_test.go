package main

// Process tests: a real silo binary (built in TestMain) on a real
// repository, killed with SIGKILL for the crash tests.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/silo-dev/silo/internal/testutil"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store"
	"github.com/silo-dev/silo/store/config"
)

func openStore(t *testing.T, repo string, readOnly bool) *store.Store {
	t.Helper()
	cfg := config.Default()
	cfg.BasePath = repo
	s, err := store.Open(context.Background(), store.Options{Config: cfg, ReadOnly: readOnly})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestE2EStoreRestore(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	work := filepath.Join(t.TempDir(), "work")
	genCorpus(t, work, 1, 12)
	want := takeManifest(t, work)
	id := storeVersion(t, repo, "demo", work)
	restoreMatches(t, repo, "demo", want)
	restoreMatches(t, repo, id[:10], want)
	restoreMatches(t, repo, "demo@"+id[:8], want)

	// an unchanged re-store reads nothing, reports it, and writes no pack
	packs := countPacks(t, repo)
	res := mustRun(t, repo, "--json", "store", "--project", "demo", work)
	var sum struct {
		Result struct {
			Snapshot string `json:"snapshot"`
			Stats    struct {
				FilesNew       int64 `json:"files_new"`
				FilesChanged   int64 `json:"files_changed"`
				FilesUnchanged int64 `json:"files_unchanged"`
				BytesRead      int64 `json:"bytes_read"`
				BlobsAdded     int64 `json:"blobs_added"`
			} `json:"stats"`
		} `json:"result"`
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatal(err)
	}
	st := sum.Result.Stats
	if st.BytesRead != 0 || st.FilesNew+st.FilesChanged != 0 || st.FilesUnchanged == 0 {
		t.Errorf("unchanged re-store stats %+v", st)
	}
	// the new snapshot blob is the only thing written: one tree pack
	if got := countPacks(t, repo); got > packs+1 {
		t.Errorf("unchanged re-store wrote %d packs", got-packs)
	}

	// restore --include of a subtree and of a single file
	dest := filepath.Join(t.TempDir(), "inc")
	mustRun(t, repo, "restore", "--include", "src/pkg01", "demo", dest)
	sub := takeManifest(t, filepath.Join(dest, "src", "pkg01"))
	if d := manifestUnder(want, "src/pkg01").Diff(sub); len(d) > 0 {
		t.Errorf("include subtree differs: %q", d)
	}
	if ents, _ := os.ReadDir(dest); len(ents) != 1 {
		t.Errorf("include restored %d top-level entries", len(ents))
	}
	// repeated --include: both paths, in either flag position
	dest = filepath.Join(t.TempDir(), "two")
	mustRun(t, repo, "restore", "--include", "src/pkg01", "demo", dest, "--include", "bin/blob1.bin")
	if d := manifestUnder(want, "src/pkg01").Diff(takeManifest(t, filepath.Join(dest, "src", "pkg01"))); len(d) > 0 {
		t.Errorf("first of two includes differs: %q", d)
	}
	if m := takeManifest(t, filepath.Join(dest, "bin")); m["blob1.bin"] != want["bin/blob1.bin"] {
		t.Errorf("second of two includes: %v", m)
	}
	dest = filepath.Join(t.TempDir(), "one")
	mustRun(t, repo, "restore", "--include", "bin/blob1.bin", "demo", dest)
	if m := takeManifest(t, filepath.Join(dest, "bin")); m["blob1.bin"] != want["bin/blob1.bin"] || len(m) != 2 {
		t.Errorf("include file: %v", m)
	}

	// not found: exit 5
	if r := run(t, repo, "restore", "nosuchproject", filepath.Join(t.TempDir(), "x")); r.code != 5 {
		t.Errorf("restore of a missing project: %s", r)
	}
	if r := run(t, filepath.Join(t.TempDir(), "norepo"), "snapshots"); r.code != 5 || !strings.Contains(r.stderr, "silo init") {
		t.Errorf("command on a missing repository: %s", r)
	}
	mustRun(t, repo, "check", "--read-data")
}

// manifestUnder returns the part of m below prefix, re-rooted.
func manifestUnder(m manifest, prefix string) manifest {
	out := manifest{}
	for k, v := range m {
		if k == prefix {
			out["."] = v
		} else if rest, ok := strings.CutPrefix(k, prefix+"/"); ok {
			out[rest] = v
		}
	}
	return out
}

func countPacks(t *testing.T, repo string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(repo, "packs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// packsWithTables lists every pack and its table.
func packsWithTables(t *testing.T, repo string) map[object.ID][]object.Blob {
	t.Helper()
	be := object.NewLocal(repo)
	out := map[object.ID][]object.Blob{}
	err := be.List(context.Background(), "packs/", func(fi object.FileInfo) error {
		id, err := object.ParseID(filepath.Base(fi.Name))
		if err != nil {
			return nil
		}
		blobs, _, err := object.ReadPackTable(context.Background(), be, id)
		if err != nil {
			return err
		}
		out[id] = blobs
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func flipAt(t *testing.T, path string, off int64) { testutil.FlipByte(t, path, off, 0x20) }

func TestE2ECorruptionReported(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	work := filepath.Join(t.TempDir(), "work")
	genCorpus(t, work, 3, 8)
	storeVersion(t, repo, "demo", work)

	// find a data blob that is exactly one small source file
	byHash := map[object.ID]string{}
	filepath.WalkDir(filepath.Join(work, "src"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(work, p)
			byHash[object.Hash(b)] = rel
		}
		return nil
	})
	var pack object.ID
	var blob object.Blob
	var rel string
	for p, blobs := range packsWithTables(t, repo) {
		for _, b := range blobs {
			if r, ok := byHash[b.ID]; ok && b.Comp == object.Zstd {
				pack, blob, rel = p, b, r
				break
			}
		}
	}
	if rel == "" {
		t.Fatal("no compressed single-chunk source file found in the packs")
	}
	packPath := filepath.Join(repo, filepath.FromSlash(object.PackName(pack)))
	off := int64(blob.Offset) + int64(blob.Length)/2
	flipAt(t, packPath, off)

	res := run(t, repo, "check", "--read-data")
	if res.code != 3 {
		t.Fatalf("check --read-data of a flipped byte: %s", res)
	}
	for _, s := range []string{pack.String(), blob.ID.String(), "/" + rel} {
		if !strings.Contains(res.stderr, s) {
			t.Errorf("check output does not name %q:\n%s", s, res.stderr)
		}
	}

	// the library reports the same as a Problem
	func() {
		s := openStore(t, repo, true)
		rep, err := s.Check(context.Background(), store.CheckOptions{ReadData: true})
		if !errors.Is(err, store.ErrCheckFailed) {
			t.Fatalf("Check = %v, want ErrCheckFailed", err)
		}
		found := false
		for _, p := range rep.Problems {
			if p.Kind == "corrupt-blob" && p.Pack == pack.String() && p.Blob == blob.ID.String() {
				found = slices.ContainsFunc(p.Paths, func(s string) bool { return strings.Contains(s, "/"+rel) })
				if !found {
					t.Errorf("problem %+v does not name %s", p, rel)
				}
			}
		}
		if !found {
			t.Errorf("no corrupt-blob problem for %s in %+v", blob.ID.Short(), rep.Problems)
		}
		s.Close()
	}()

	// restore fails naming the file, with the corruption exit code
	dest := filepath.Join(t.TempDir(), "dest")
	res = run(t, repo, "restore", "demo", dest)
	if res.code != 3 || !strings.Contains(res.stderr, rel) || !strings.Contains(res.stderr, blob.ID.String()) {
		t.Errorf("restore of a corrupt version: %s", res)
	}

	// a byte flipped in the pack table: check without --read-data sees it
	flipAt(t, packPath, off) // undo
	mustRun(t, repo, "check", "--read-data")
	info, _ := os.Stat(packPath)
	flipAt(t, packPath, info.Size()-12-32-10)
	res = run(t, repo, "check")
	if res.code != 3 || !strings.Contains(res.stderr, pack.String()) {
		t.Errorf("check of a flipped table byte: %s", res)
	}
	flipAt(t, packPath, info.Size()-12-32-10)
	mustRun(t, repo, "check")
}

func TestE2EIndexRebuild(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	work := filepath.Join(t.TempDir(), "work")
	genCorpus(t, work, 5, 10)
	type version struct {
		id string
		m  manifest
	}
	var versions []version
	for i := range 3 {
		if i > 0 {
			mutate(t, work, uint64(50+i), 2)
		}
		id := storeVersion(t, repo, "proj", work)
		versions = append(versions, version{id, takeManifest(t, work)})
	}
	listIDs := func() []string {
		res := mustRun(t, repo, "--json", "snapshots", "proj")
		var list []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &list); err != nil {
			t.Fatalf("snapshots --json: %v\n%s", err, res.stdout)
		}
		var ids []string
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		return ids
	}
	want := []string{versions[2].id, versions[1].id, versions[0].id}
	if got := listIDs(); !slices.Equal(got, want) {
		t.Fatalf("snapshots before rebuild %v, want %v", got, want)
	}
	removeIndex := func() {
		for _, f := range []string{"index.db", "index.db.owner"} {
			if err := os.Remove(filepath.Join(repo, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
		}
	}

	// any command rebuilds a missing index from the packs
	removeIndex()
	if got := listIDs(); !slices.Equal(got, want) {
		t.Fatalf("snapshots after the implicit rebuild %v, want %v", got, want)
	}
	for _, v := range versions {
		restoreMatches(t, repo, v.id, v.m)
	}
	restoreMatches(t, repo, "proj", versions[2].m)

	// and `silo index rebuild` does it explicitly
	removeIndex()
	res := mustRun(t, repo, "index", "rebuild")
	if !strings.Contains(res.stdout, "3 snapshots") {
		t.Errorf("index rebuild output: %s", res.stdout)
	}
	for _, v := range versions {
		restoreMatches(t, repo, "proj@"+v.id[:12], v.m)
	}
	mustRun(t, repo, "check", "--read-data")

	// the library call, on an index that is already there
	s := openStore(t, repo, false)
	st, err := s.RebuildIndex(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Snapshots != 3 || st.Projects != 1 || len(st.BadPacks) != 0 || st.Blobs == 0 {
		t.Errorf("RebuildIndex = %+v", st)
	}
	s.Close()

	// the next store after a rebuild is still incremental
	id := storeVersion(t, repo, "proj", work)
	if id == versions[2].id {
		t.Error("a new version got the old id")
	}
	if got := listIDs(); len(got) != 4 || got[0] != id {
		t.Errorf("snapshots after a new store %v", got)
	}
}

// mutate changes a tree the way a new project version does: one big file
// rewritten with new random bytes (churnMiB), some text edited, a file
// removed, a directory added, and every mtime moved (so every file is read
// again on the next store).
func mutate(t testing.TB, root string, seed uint64, churnMiB int) {
	t.Helper()
	writeStream(t, filepath.Join(root, "bin", "churn.bin"), io.LimitReader(rng(seed), int64(churnMiB)<<20), 0o644)
	r := rng(seed + 1)
	var texts []string
	filepath.WalkDir(filepath.Join(root, "src"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			texts = append(texts, p)
		}
		return nil
	})
	for i := 0; i < 10 && i < len(texts); i++ {
		p := texts[int(r.Uint64()%uint64(len(texts)))]
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			continue // removed earlier in this loop's run
		}
		f.Write(textOf(r, 500))
		f.Close()
	}
	if len(texts) > 0 {
		os.Remove(texts[int(r.Uint64()%uint64(len(texts)))])
	}
	for i := range 20 {
		writeStream(t, filepath.Join(root, fmt.Sprintf("added-%d", seed), fmt.Sprintf("n%02d.txt", i)), strings.NewReader(string(textOf(r, 300))), 0o644)
	}
	at := time.Unix(1700000000+int64(seed)*1000, int64(seed)*7919)
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			os.Chtimes(p, at, at)
		}
		return nil
	})
}

// TestE2ECrashDuringStore kills `silo store` with SIGKILL at several
// moments. After each kill: check is clean, earlier versions restore
// identically, and the next store succeeds.
func TestE2ECrashDuringStore(t *testing.T) {
	if testing.Short() {
		t.Skip("process crash test")
	}
	repo := filepath.Join(t.TempDir(), "repo")
	work := filepath.Join(t.TempDir(), "work")
	churn := 24
	genCorpus(t, work, 11, 40)
	mutate(t, work, 1, churn) // the base version has churn.bin too (~64 MiB)
	type version struct {
		id string
		m  manifest
	}
	versions := []version{{storeVersion(t, repo, "p", work), takeManifest(t, work)}}
	// time one complete store of a changed tree, to place kills inside one
	mutate(t, work, 2, churn)
	start := time.Now()
	versions = append(versions, version{storeVersion(t, repo, "p", work), takeManifest(t, work)})
	full := time.Since(start)
	t.Logf("a complete store of a changed tree takes %v", full)

	tmpDir := filepath.Join(repo, "tmp")
	after := func(d time.Duration) func(*os.Process) {
		return func(*os.Process) { time.Sleep(d) }
	}
	// event-driven moments: a pack is being written; a new pack has just
	// been renamed into place (and is being indexed)
	whenTempPack := func(p *os.Process) {
		waitFor(5*time.Second, func() bool {
			ents, _ := os.ReadDir(tmpDir)
			return len(ents) > 0 || exited(p)
		})
	}
	whenNewPack := func(n int) func(*os.Process) {
		return func(p *os.Process) {
			waitFor(5*time.Second, func() bool { return countPacks(t, repo) > n || exited(p) })
		}
	}
	kills := []struct {
		name string
		wait func(*os.Process)
	}{
		{"at once", after(0)},
		{"50ms", after(50 * time.Millisecond)},
		{"temp pack", whenTempPack},
		{"new pack", nil},
		{"30%", after(full * 3 / 10)},
		{"60%", after(full * 6 / 10)},
		{"90%", after(full * 9 / 10)},
	}
	interrupted := 0
	for i, k := range kills {
		mutate(t, work, uint64(100+i), churn)
		wait := k.wait
		if wait == nil {
			wait = whenNewPack(countPacks(t, repo))
		}
		cmd := siloCmd(t, repo, "store", "--project", "p", work)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wait(cmd.Process)
		running := !exited(cmd.Process)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		var ee interface{ ExitCode() int }
		if running {
			interrupted++
		} else if errors.As(err, &ee) && ee.ExitCode() != 0 {
			t.Fatalf("kill %s: store failed by itself: %v", k.name, err)
		}
		t.Logf("kill %s: interrupted=%v", k.name, running)

		if res := run(t, repo, "check"); res.code != 0 {
			t.Fatalf("after kill %s: check: %s", k.name, res)
		}
		// the version the killed store built on restores identically (all
		// of them are restored once more at the end)
		last := versions[len(versions)-1]
		restoreMatches(t, repo, last.id, last.m)
		id := storeVersion(t, repo, "p", work)
		versions = append(versions, version{id, takeManifest(t, work)})
	}
	if interrupted < len(kills)/2 {
		t.Errorf("only %d of %d kills landed while silo was storing", interrupted, len(kills))
	}
	if res := run(t, repo, "check", "--read-data"); res.code != 0 {
		t.Fatalf("final check --read-data: %s", res)
	}
	for _, v := range versions {
		restoreMatches(t, repo, v.id, v.m)
	}
}

// TestE2EWritersBesideAPausedStore: a store stopped in the middle of its
// work (SIGSTOP, as Ctrl-Z does) holds no lock: another store, check,
// snapshots and restore run beside it, and when it continues both
// versions land.
func TestE2EWritersBesideAPausedStore(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	work := filepath.Join(t.TempDir(), "work")
	genCorpus(t, work, 21, 40)
	small := filepath.Join(t.TempDir(), "small")
	writeStream(t, filepath.Join(small, "f.txt"), strings.NewReader("hello"), 0o644)
	storeVersion(t, repo, "seed", small)

	first := siloCmd(t, repo, "store", "--project", "big", work)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	// once its lease is written, the first process is in the middle of
	// its store; stop it there
	if !waitFor(10*time.Second, func() bool {
		ents, _ := os.ReadDir(filepath.Join(repo, "locks"))
		return len(ents) > 0 || exited(first.Process)
	}) || exited(first.Process) {
		t.Fatal("the first store never started its session")
	}
	time.Sleep(100 * time.Millisecond) // past its current index slice
	pauseOutsideLocks(t, first.Process, repo)
	defer resumeProcess(first.Process)

	dest := filepath.Join(t.TempDir(), "out")
	for _, args := range [][]string{
		{"store", "--project", "other", small},
		{"check"},
		{"snapshots"},
		{"projects", "list"},
		{"restore", "seed", dest},
	} {
		res := run(t, repo, args...)
		if res.code != 0 {
			t.Errorf("silo %s beside a paused store: %s", args[0], res)
		}
		if res.took > 10*time.Second {
			t.Errorf("silo %s took %v beside a paused store", args[0], res.took)
		}
	}

	resumeProcess(first.Process)
	if err := first.Wait(); err != nil {
		t.Fatalf("the first store failed: %v", err)
	}
	mustRun(t, repo, "check")
	for _, p := range []string{"big", "other", "seed"} {
		if res := run(t, repo, "snapshots", p); res.code != 0 || !strings.Contains(res.stdout, p) {
			t.Errorf("project %s: %s", p, res)
		}
	}
}

// TestE2ECrashDuringFirstStore kills the store that creates a repository,
// early: whatever it left (no config, a config without index.db, an index
// without packs), the next store succeeds and check is clean.
func TestE2ECrashDuringFirstStore(t *testing.T) {
	if testing.Short() {
		t.Skip("process crash test")
	}
	work := filepath.Join(t.TempDir(), "work")
	genCorpus(t, work, 31, 6)
	want := takeManifest(t, work)
	exists := func(rel string) func(repo string, p *os.Process) {
		return func(repo string, p *os.Process) {
			waitFor(5*time.Second, func() bool {
				_, err := os.Stat(filepath.Join(repo, rel))
				return err == nil || exited(p)
			})
		}
	}
	sleep := func(d time.Duration) func(string, *os.Process) {
		return func(string, *os.Process) { time.Sleep(d) }
	}
	moments := []struct {
		name string
		wait func(repo string, p *os.Process)
	}{
		{"at once", sleep(0)},
		{"packs/ made", exists("packs")},
		{"config.json written", exists("config.json")},
		{"index.db created", exists("index.db")},
		{"lock held", exists("index.db.owner")},
		{"temp pack", exists("tmp")},
		{"150ms", sleep(150 * time.Millisecond)},
	}
	for _, m := range moments {
		repo := filepath.Join(t.TempDir(), "repo")
		cmd := siloCmd(t, repo, "store", "--project", "p", work)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		m.wait(repo, cmd.Process)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		var left []string
		filepath.WalkDir(repo, func(p string, e fs.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				rel, _ := filepath.Rel(repo, p)
				left = append(left, rel)
			}
			return nil
		})
		if len(left) > 6 {
			left = append(left[:6], "...")
		}
		t.Logf("kill %s left %q", m.name, left)
		if res := run(t, repo, "check"); res.code != 0 && res.code != 5 {
			t.Errorf("kill %s (left %q): check: %s", m.name, left, res)
		}
		id := storeVersion(t, repo, "p", work)
		restoreMatches(t, repo, id, want)
		if res := run(t, repo, "check", "--read-data"); res.code != 0 {
			t.Errorf("kill %s (left %q): check after the next store: %s", m.name, left, res)
		}
	}
}
