package main

// Process tests: the real silo binary, killed with SIGKILL at many moments
// of gc and backup, and its JSON output.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/store"
	"github.com/silo-dev/silo/store/config"
)

// killAt runs silo and sends SIGKILL when when() first holds (polled
// every 200µs) or after maxWait; it reports whether the process was killed
// before it finished, and how long it ran.
func killAt(t testing.TB, repo string, when func(elapsed time.Duration) bool, args ...string) (killed bool, ran time.Duration) {
	t.Helper()
	cmd := siloCmd(t, repo, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("silo %v failed on its own: %v\n%s", args, err, errb.String())
			}
			return false, time.Since(start)
		default:
		}
		if when(time.Since(start)) {
			cmd.Process.Signal(syscall.SIGKILL)
			err := <-done
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
				return true, time.Since(start)
			}
			return false, time.Since(start) // it finished first
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// copyRepo copies a repository directory (cp -a semantics for what a
// repository holds: regular files and directories).
func copyRepo(t testing.TB, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// packsNow counts pack files and notes whether a repack is being written
// (a temp file in tmp/).
func packsNow(repo string) (packs int, repacking bool) {
	filepath.WalkDir(filepath.Join(repo, "packs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			packs++
		}
		return nil
	})
	ents, _ := os.ReadDir(filepath.Join(repo, "tmp"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "repack-") {
			repacking = true
		}
	}
	return packs, repacking
}

// crashRepo is a repository (made with small packs) with garbage: a
// hard-deleted project sharing files with a live one, and forgotten
// versions whose files sit in packs with live ones.
type crashRepo struct {
	dir      string
	versions map[string]manifest
}

func makeCrashRepo(t *testing.T, mib int) *crashRepo {
	t.Helper()
	base := t.TempDir()
	cfg := crashConfig(base)
	s, err := store.Open(context.Background(), store.Options{Config: cfg, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	r := &crashRepo{dir: cfg.BasePath, versions: map[string]manifest{}}
	part := mib << 20 / 8
	shared := map[string][]byte{"lib/shared.bin": crashRandom(1, part), "lib/shared.go": crashText(2, part/4)}
	mk := func(name string, seed uint64) string {
		d := filepath.Join(base, "src", name)
		crashWriteTree(t, d, shared)
		for i := range 4 {
			crashWrite(t, d, fmt.Sprintf("data/%d.bin", i), crashRandom(seed+uint64(i), part/2))
			crashWrite(t, d, fmt.Sprintf("src/%d.go", i), crashText(seed+10+uint64(i), part/8))
		}
		return d
	}
	keep1, doomed, keep2 := mk("keep1", 100), mk("doomed", 200), mk("keep2", 300)
	storeVersion(t, r.dir, "keep1", keep1)
	storeVersion(t, r.dir, "doomed", doomed)
	id := storeVersion(t, r.dir, "keep2", keep2)
	r.versions[id] = takeManifest(t, keep2)
	crashWrite(t, keep1, "data/0.bin", crashRandom(150, part/2))
	id = storeVersion(t, r.dir, "keep1", keep1)
	r.versions[id] = takeManifest(t, keep1)
	crashWrite(t, doomed, "data/9.bin", crashRandom(250, part))
	storeVersion(t, r.dir, "doomed", doomed)
	crashWrite(t, keep2, "src/extra.go", crashText(350, 20000))
	id = storeVersion(t, r.dir, "keep2", keep2)
	r.versions[id] = takeManifest(t, keep2)
	mustRun(t, r.dir, "delete", "--hard", "doomed")
	mustRun(t, r.dir, "forget", "--keep-last", "1", "keep1")
	return r
}

// verifyAfterCrash checks a repository after a killed command: check
// --read-data exits 0 and every version restores.
func (r *crashRepo) verifyAfterCrash(t *testing.T, repo, what string) {
	t.Helper()
	if res := run(t, repo, "check", "--read-data"); res.code != 0 {
		t.Fatalf("%s: silo check --read-data: %s", what, res)
	}
	for id, m := range r.versions {
		dest := filepath.Join(t.TempDir(), "r")
		mustRun(t, repo, "restore", id, dest)
		if d := m.Diff(takeManifest(t, dest)); len(d) > 0 {
			t.Fatalf("%s: restore of %s differs:\n  %s", what, id[:12], strings.Join(d, "\n  "))
		}
	}
}

// TestGCKilled kills `silo gc` at many moments of its mark, repack and
// sweep: every time the repository checks clean, every version restores and
// the next gc completes.
func TestGCKilled(t *testing.T) {
	mib := 24
	if testutil.Long() {
		mib = 96
	}
	r := makeCrashRepo(t, mib)
	gcArgs := []string{"gc", "--threshold", "0.01"}
	// how long an undisturbed gc takes, and what it does
	probe := filepath.Join(t.TempDir(), "probe")
	copyRepo(t, r.dir, probe)
	packs0, _ := packsNow(probe)
	t0 := time.Now()
	res := mustRun(t, probe, append([]string{"--json"}, gcArgs...)...)
	full := time.Since(t0)
	var rep store.GCReport
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil || rep.Result == nil {
		t.Fatalf("gc --json: %v\n%s", err, res.stdout)
	}
	if rep.Result.PacksDeleted == 0 || rep.Result.PacksRepacked == 0 {
		t.Fatalf("the undisturbed gc deleted %d and repacked %d packs: nothing to interrupt", rep.Result.PacksDeleted, rep.Result.PacksRepacked)
	}
	t.Logf("undisturbed gc: %v, %d packs: %d deleted, %d repacked into %d", full, packs0, rep.Result.PacksDeleted, rep.Result.PacksRepacked, rep.Result.PacksWritten)
	r.verifyAfterCrash(t, probe, "undisturbed gc")

	type point struct {
		name string
		when func(repo string) func(time.Duration) bool
	}
	after := func(f float64) func(string) func(time.Duration) bool {
		d := time.Duration(float64(full) * f)
		return func(string) func(time.Duration) bool { return func(e time.Duration) bool { return e >= d } }
	}
	points := []point{
		{"at once", after(0)},
		{"repack temp file written", func(repo string) func(time.Duration) bool {
			return func(time.Duration) bool { _, rp := packsNow(repo); return rp }
		}},
		{"first rewritten pack in place", func(repo string) func(time.Duration) bool {
			return func(time.Duration) bool { n, _ := packsNow(repo); return n > packs0 }
		}},
		{"first old pack deleted", func(repo string) func(time.Duration) bool {
			most := 0
			return func(time.Duration) bool {
				n, _ := packsNow(repo)
				most = max(most, n)
				return most > packs0 && n < most
			}
		}},
		{"half the old packs deleted", func(repo string) func(time.Duration) bool {
			return func(time.Duration) bool {
				n, _ := packsNow(repo)
				return n <= packs0+rep.Result.PacksWritten-(rep.Result.PacksDeleted+rep.Result.PacksRepacked)/2
			}
		}},
	}
	fracs := []float64{0.2, 0.4, 0.6, 0.8, 0.95}
	if testutil.Long() {
		fracs = []float64{0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0}
	}
	for _, f := range fracs {
		points = append(points, point{fmt.Sprintf("after %.0f%% of an undisturbed run", f*100), after(f)})
	}
	midSweep := 0
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			repo := filepath.Join(t.TempDir(), "repo")
			copyRepo(t, r.dir, repo)
			killed, ran := killAt(t, repo, p.when(repo), gcArgs...)
			n, repacking := packsNow(repo)
			t.Logf("killed=%v after %v: %d packs (were %d), repack temp file %v", killed, ran, n, packs0, repacking)
			if killed && n != packs0 {
				midSweep++
			}
			r.verifyAfterCrash(t, repo, "after the kill")
			// the next gc completes, and the repository is clean after it
			mustRun(t, repo, gcArgs...)
			r.verifyAfterCrash(t, repo, "after the next gc")
			// and an index rebuilt from the packs left behind is complete
			mustRun(t, repo, "index", "rebuild")
			r.verifyAfterCrash(t, repo, "after index rebuild")
		})
	}
	if midSweep == 0 {
		t.Errorf("no kill landed between the first pack written and the last one deleted")
	}
}

// TestBackupKilled kills `silo backup` at many moments: the next backup
// completes and `backup verify --read-data` passes.
func TestBackupKilled(t *testing.T) {
	mib := 24
	if testutil.Long() {
		mib = 96
	}
	r := makeCrashRepo(t, mib)
	probe := filepath.Join(t.TempDir(), "probe-dest")
	t0 := time.Now()
	mustRun(t, r.dir, "backup", "--to", probe)
	full := time.Since(t0)
	destPacks, _ := packsNow(probe)
	t.Logf("undisturbed backup: %v, %d packs", full, destPacks)

	fracs := []float64{0.1, 0.3, 0.5, 0.7, 0.9}
	if testutil.Long() {
		fracs = nil
		for i := 1; i <= 20; i++ {
			fracs = append(fracs, float64(i)/20)
		}
	}
	type point struct {
		name string
		when func(dest string) func(time.Duration) bool
	}
	var points []point
	for _, f := range fracs {
		d := time.Duration(float64(full) * f)
		points = append(points, point{fmt.Sprintf("after %.0f%%", f*100),
			func(string) func(time.Duration) bool { return func(e time.Duration) bool { return e >= d } }})
	}
	points = append(points,
		point{"first pack copied", func(dest string) func(time.Duration) bool {
			return func(time.Duration) bool { n, _ := packsNow(dest); return n >= 1 }
		}},
		point{"half the packs copied", func(dest string) func(time.Duration) bool {
			return func(time.Duration) bool { n, _ := packsNow(dest); return n >= destPacks/2 }
		}},
		point{"all packs copied", func(dest string) func(time.Duration) bool {
			return func(time.Duration) bool { n, _ := packsNow(dest); return n >= destPacks }
		}})
	partial := 0
	for _, p := range points {
		t.Run(p.name, func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "dest")
			killed, ran := killAt(t, r.dir, p.when(dest), "backup", "--to", dest)
			n, _ := packsNow(dest)
			records, _ := filepath.Glob(filepath.Join(dest, "backups", "*.json"))
			t.Logf("killed=%v after %v: %d packs copied, %d records", killed, ran, n, len(records))
			if killed && n > 0 && len(records) == 0 {
				partial++
			}
			if killed && len(records) > 0 {
				// a record is only there once everything it needs is
				if res := run(t, r.dir, "backup", "verify", "--read-data", "--from", dest, "latest"); res.code != 0 {
					t.Fatalf("record written before its blobs: %s", res)
				}
			}
			// the primary is untouched
			if res := run(t, r.dir, "check"); res.code != 0 {
				t.Fatalf("primary after the kill: %s", res)
			}
			mustRun(t, r.dir, "backup", "--to", dest)
			if res := run(t, r.dir, "backup", "verify", "--read-data", "--from", dest, "latest"); res.code != 0 {
				t.Fatalf("verify after the next backup: %s", res)
			}
			if res := run(t, dest, "check", "--read-data"); res.code != 0 {
				t.Fatalf("destination check: %s", res)
			}
			out := filepath.Join(t.TempDir(), "out")
			mustRun(t, r.dir, "backup", "restore", "--from", dest, "--dest", out, "latest")
			// the newest version of each project is in out/<name>
			for _, name := range []string{"keep1", "keep2"} {
				res := mustRun(t, r.dir, "--json", "projects", "show", name)
				var p store.Project
				if err := json.Unmarshal([]byte(res.stdout), &p); err != nil {
					t.Fatal(err)
				}
				newest := p.Versions[0].ID
				if d := r.versions[newest].Diff(takeManifest(t, filepath.Join(out, name))); len(d) > 0 {
					t.Fatalf("restored %s differs: %v", name, d)
				}
			}
		})
	}
	if partial == 0 {
		t.Errorf("no kill landed after some packs were copied and before the record")
	}
}

// TestCLIProjectsShowJSON: `silo projects show --json` prints exactly the
// orchestrator's metadata fields plus versions, with the values the store
// recorded.
func TestCLIProjectsShowJSON(t *testing.T) {
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	src := filepath.Join(base, "gin")
	if err := os.CopyFS(src, os.DirFS(filepath.Join("..", "..", "testdata", "detect", "gin"))); err != nil {
		t.Fatal(err)
	}
	mustRun(t, repo, "init")
	mustRun(t, repo, "--json", "store", "--project", "svc", "--type", "migration", "--tag", "a", "--tag", "b",
		"--git-repository", "https://x/svc.git", "--language", "Shell", src)
	crashWrite(t, src, "extra.go", []byte("package main\n"))
	storeVersion(t, repo, "svc", src)
	out := mustRun(t, repo, "--json", "projects", "show", "svc")
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out.stdout), &m); err != nil {
		t.Fatalf("projects show --json: %v\n%s", err, out.stdout)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"project_id", "name", "type", "created_at", "updated_at", "size_bytes",
		"languages", "frameworks", "status", "tags", "git_repository", "versions"}
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("projects show --json keys %v, want %v", keys, want)
	}
	s, err := store.Open(context.Background(), store.Options{Config: crashConfig(base), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p, err := s.Get("svc")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(json.RawMessage(out.stdout))
	wantJSON, _ := json.Marshal(p)
	var a, b any
	json.Unmarshal(got, &a)
	json.Unmarshal(wantJSON, &b)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("CLI prints\n%s\nthe store has\n%s", got, wantJSON)
	}
	for k, v := range map[string]string{"type": `"migration"`, "tags": `["a","b"]`, "languages": `["shell","go"]`,
		"frameworks": `["gin"]`, "status": `"active"`, "git_repository": `"https://x/svc.git"`} {
		if string(m[k]) != v {
			t.Errorf("%s = %s, want %s", k, m[k], v)
		}
	}
	var vs []store.Version
	json.Unmarshal(m["versions"], &vs)
	if len(vs) != 2 || vs[0].Time.Before(vs[1].Time) {
		t.Errorf("versions %s", m["versions"])
	}
	// the list shows the same project, with its version count
	lst := mustRun(t, repo, "--json", "projects", "list", "--tag", "a", "--language", "go")
	var l struct {
		Projects []store.ListItem `json:"projects"`
		Count    int              `json:"count"`
	}
	if err := json.Unmarshal([]byte(lst.stdout), &l); err != nil || l.Count != 1 || l.Projects[0].VersionCount != 2 || l.Projects[0].ID != p.ID {
		t.Errorf("projects list --json: %v %s", err, lst.stdout)
	}
}

// crashConfig is a repository under base with 1 MiB packs, so that a
// crash test sees many.
func crashConfig(base string) *config.Config {
	cfg := config.Default()
	cfg.BasePath = filepath.Join(base, "repo")
	cfg.CacheDir = filepath.Join(base, "xdg-cache")
	cfg.Backup.Destination = filepath.Join(base, "backup")
	cfg.PackSize = 1 << 20
	return cfg
}

func crashRandom(seed uint64, n int) []byte {
	b := make([]byte, n)
	rng(seed).Read(b)
	return b
}

func crashText(seed uint64, n int) []byte { return textOf(rng(seed), n) }

func crashWrite(t testing.TB, root, rel string, data []byte) {
	t.Helper()
	writeStream(t, filepath.Join(root, filepath.FromSlash(rel)), bytes.NewReader(data), 0o644)
}

func crashWriteTree(t testing.TB, root string, files map[string][]byte) {
	t.Helper()
	for rel, data := range files {
		crashWrite(t, root, rel, data)
	}
}
