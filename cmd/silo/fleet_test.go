package main

// Process tests of many writers on one repository: several silo processes
// on one machine, and several "machines" (processes with their own index
// cache and machine name) on one S3 repository. Time margins (lease
// expiry) are crossed with SILO_TEST_CLOCK_OFFSET, never by sleeping.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// node runs silo as one machine: its own index cache, machine name and
// clock offset.
type node struct {
	t    *testing.T
	repo string
	env  []string
}

func newNode(t *testing.T, repo, name string, env ...string) *node {
	return &node{t: t, repo: repo, env: append([]string{"XDG_CACHE_HOME=" + t.TempDir(), "SILO_TEST_MACHINE=" + name}, env...)}
}

// with returns the node with more environment (a clock offset, say).
func (n *node) with(env ...string) *node {
	return &node{t: n.t, repo: n.repo, env: append(slices.Clone(n.env), env...)}
}

func (n *node) cmd(args ...string) *exec.Cmd {
	c := siloCmd(n.t, n.repo, args...)
	c.Env = append(c.Env, n.env...)
	return c
}

func (n *node) run(args ...string) result {
	n.t.Helper()
	return runCmd(n.t, n.cmd(args...))
}

func (n *node) must(args ...string) result {
	n.t.Helper()
	res := n.run(args...)
	if res.code != 0 {
		n.t.Fatalf("silo %s: %s", strings.Join(args, " "), res)
	}
	return res
}

// store stores dir as a version of project and returns its snapshot id.
func (n *node) store(project, dir string) string {
	n.t.Helper()
	return snapshotOf(n.t, n.must("--json", "store", "--project", project, dir))
}

func snapshotOf(t *testing.T, res result) string {
	t.Helper()
	var sum struct {
		Result struct {
			Snapshot string `json:"snapshot"`
		} `json:"result"`
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || len(sum.Result.Snapshot) != 64 {
		t.Fatalf("store summary %q: %v", lines[len(lines)-1], err)
	}
	return sum.Result.Snapshot
}

func (n *node) restoreMatches(ref string, want manifest) {
	n.t.Helper()
	dest := filepath.Join(n.t.TempDir(), "restore")
	n.must("restore", ref, dest)
	if d := want.Diff(takeManifest(n.t, dest)); len(d) > 0 {
		n.t.Fatalf("restore of %s differs:\n  %s", ref, strings.Join(d, "\n  "))
	}
}

// gcResult runs gc --json and decodes its result.
func (n *node) gc(args ...string) gcOut {
	n.t.Helper()
	res := n.must(append([]string{"--json", "gc"}, args...)...)
	var out gcOut
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		n.t.Fatalf("gc output %q: %v", res.stdout, err)
	}
	return out
}

type gcOut struct {
	Result struct {
		PacksDeleted  int   `json:"packs_deleted"`
		PacksRepacked int   `json:"packs_repacked"`
		PacksKept     int   `json:"packs_kept"`
		DeferredPacks int   `json:"deferred_packs"`
		FreedBytes    int64 `json:"freed_bytes"`
		Waiting       []struct {
			Session string `json:"session"`
			Kind    string `json:"kind"`
		} `json:"waiting"`
	} `json:"result"`
}

// versions lists a project's version ids, newest first.
func (n *node) versions(project string) []string {
	n.t.Helper()
	res := n.must("--json", "snapshots", project)
	var list []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &list); err != nil {
		n.t.Fatalf("snapshots %q: %v", res.stdout, err)
	}
	var out []string
	for _, v := range list {
		out = append(out, v.ID)
	}
	return out
}

// pauseMid starts cmd and stops it (SIGSTOP) once its lease exists and it
// has read at least bytes of input, the way a store is caught in the
// middle of its work.
func pauseMid(t *testing.T, c *exec.Cmd, locks string, bytes int64) {
	t.Helper()
	repo := ""
	if locks != "" {
		repo = filepath.Dir(locks)
	}
	pauseWhen(t, c, repo, func() bool { return readBytes(c.Process.Pid) >= bytes && (locks == "" || nonEmpty(locks)) })
}

// readBytes is what process pid has read so far (rchar).
func readBytes(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	var rchar int64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			fmt.Sscan(v, &rchar)
		}
	}
	return rchar
}

// pauseWhen starts cmd and stops it (SIGSTOP) once cond holds, at an
// instant it holds none of repo's index and catalogue locks (when repo is
// given): a process stopped inside a transaction holds the others up,
// which is what a stopped process does, not what these tests are about.
func pauseWhen(t *testing.T, c *exec.Cmd, repo string, cond func() bool) {
	t.Helper()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resumeProcess(c.Process); c.Process.Kill() })
	ok := waitFor(60*time.Second, func() bool { return exited(c.Process) || cond() })
	if !ok || exited(c.Process) {
		t.Fatal("the process ended before it could be paused mid-way")
	}
	pauseOutsideLocks(t, c.Process, repo)
}

// pauseOutsideLocks stops p (SIGSTOP) at an instant it holds none of
// repo's index or catalogue locks ("" for any instant): a process stopped
// inside a transaction holds the others up until it continues, as the
// README says, which is not what the tests that pause are about.
func pauseOutsideLocks(t *testing.T, p *os.Process, repo string) {
	t.Helper()
	for i := 0; ; i++ {
		pauseProcess(p)
		if repo == "" || locksFree(repo) {
			return
		}
		if i == 1000 {
			t.Fatal("the process always held an index lock when paused")
		}
		resumeProcess(p)
		time.Sleep(time.Duration(1+i%7) * time.Millisecond)
	}
}

// locksFree reports whether no process holds repo's index or catalogue
// lock files.
func locksFree(repo string) bool {
	for _, name := range []string{"index.db.lock", "index.db.wait", "catalogue.lock"} {
		f, err := os.Open(filepath.Join(repo, name))
		if err != nil {
			continue
		}
		free := lockable(f)
		f.Close()
		if !free {
			return false
		}
	}
	return true
}

func nonEmpty(dir string) bool {
	ents, _ := os.ReadDir(dir)
	return len(ents) > 0
}

// Two stores of different projects and two of the same project run at
// once, with projects list, restore and check beside them: every command
// succeeds, every version lands, the newer of the two same-project
// versions is the head.
func TestFleetStoresAndReadsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	repo := filepath.Join(t.TempDir(), "repo")
	n := newNode(t, repo, "m1")
	base := t.TempDir()
	dirs := map[string]string{}
	for i, name := range []string{"a", "b", "same1", "same2", "seed"} {
		dirs[name] = filepath.Join(base, name)
		genCorpus(t, dirs[name], uint64(50+i), 12)
	}
	seedMan := takeManifest(t, dirs["seed"])
	n.store("seed", dirs["seed"])

	type job struct{ project, dir string }
	jobs := []job{{"a", dirs["a"]}, {"b", dirs["b"]}, {"same", dirs["same1"]}, {"same", dirs["same2"]}}
	ids := make([]string, len(jobs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := n.run("--json", "store", "--project", j.project, j.dir)
			mu.Lock()
			defer mu.Unlock()
			if res.code != 0 {
				failures = append(failures, fmt.Sprintf("store %s: %s", j.project, res))
				return
			}
			ids[i] = snapshotOf(t, res)
		}()
	}
	// readers beside the stores, until they end
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	reads := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		for _, args := range [][]string{{"projects", "list"}, {"check"}, {"restore", "seed", filepath.Join(t.TempDir(), "r")}} {
			if res := n.run(args...); res.code != 0 {
				t.Errorf("%s beside running stores: %s", args[0], res)
			}
			reads++
		}
	}
	if len(failures) > 0 {
		t.Fatalf("stores at once: %s", strings.Join(failures, "\n"))
	}
	t.Logf("%d reads ran beside 4 stores", reads)
	n.must("check", "--read-data")
	n.restoreMatches("seed", seedMan)
	for i, j := range jobs {
		n.restoreMatches(ids[i], takeManifest(t, j.dir))
	}
	vs := n.versions("same")
	if len(vs) != 2 || !slices.Contains(vs, ids[2]) || !slices.Contains(vs, ids[3]) {
		t.Fatalf("project same has versions %v, want both %s and %s", vs, ids[2][:8], ids[3][:8])
	}
	// the head is the newer version; `restore same` gives it
	res := n.must("--json", "snapshots", "same")
	var list []struct {
		ID   string    `json:"id"`
		Time time.Time `json:"time"`
	}
	json.Unmarshal([]byte(res.stdout), &list)
	if !list[0].Time.After(list[1].Time) && !list[0].Time.Equal(list[1].Time) {
		t.Fatalf("versions not newest first: %v", list)
	}
	want := dirs["same1"]
	if list[0].ID == ids[3] {
		want = dirs["same2"]
	}
	n.restoreMatches("same", takeManifest(t, want))
}

// gc beside a store that is using the data gc wants to delete: the store
// acknowledges a version that restores; the deletion waits for the store
// and the next gc carries it out.
func TestFleetGCBesideAStore(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	repo := filepath.Join(t.TempDir(), "repo")
	n := newNode(t, repo, "m1")
	old := filepath.Join(t.TempDir(), "old")
	genCorpus(t, old, 61, 24)
	n.store("old", old)
	edited := filepath.Join(t.TempDir(), "new")
	genCorpus(t, edited, 61, 24) // the same content: the new store dedups against old
	writeStream(t, filepath.Join(edited, "NEW.txt"), strings.NewReader("new"), 0o644)
	want := takeManifest(t, edited)

	st := n.cmd("--json", "store", "--project", "new", edited)
	var out bytes.Buffer
	st.Stdout = &out
	pauseMid(t, st, filepath.Join(repo, "locks"), 8<<20)
	n.must("delete", "--hard", "old")
	g := n.gc()
	if g.Result.PacksDeleted != 0 || g.Result.DeferredPacks == 0 || len(g.Result.Waiting) == 0 {
		t.Fatalf("gc beside a running store: %+v, want everything deferred to the store's end", g.Result)
	}
	resumeProcess(st.Process)
	if err := st.Wait(); err != nil {
		t.Fatalf("the store beside gc failed: %v", err)
	}
	n.must("check", "--read-data")
	n.restoreMatches("new", want)
	// the store has ended: the next gc deletes what it condemned and
	// nothing the new version uses
	before := countPacks(t, repo)
	g = n.gc()
	if g.Result.DeferredPacks != 0 || countPacks(t, repo) >= before {
		t.Fatalf("gc after the store: %+v, %d packs were %d", g.Result, countPacks(t, repo), before)
	}
	n.must("check", "--read-data")
	n.restoreMatches("new", want)
}

// A store killed with SIGKILL leaves its lease. The next writer proceeds at
// once; a gc on the same machine sees the process is gone; a gc on another
// machine waits out the lease's TTL (here by its clock running ahead).
func TestFleetKilledStoreLease(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	repo := filepath.Join(t.TempDir(), "repo")
	m1 := newNode(t, repo, "m1")
	m2 := newNode(t, repo, "m2")
	big := filepath.Join(t.TempDir(), "big")
	genCorpus(t, big, 71, 30)
	small := filepath.Join(t.TempDir(), "small")
	genCorpus(t, small, 72, 2)

	packsBefore := countPacks(t, repo)
	caught := func(c *exec.Cmd) func() bool {
		return func() bool { return nonEmpty(filepath.Join(repo, "locks")) && countPacks(t, repo) > packsBefore }
	}
	st := m1.cmd("store", "--project", "big", big)
	pauseWhen(t, st, repo, caught(st))
	st.Process.Kill()
	st.Wait()
	if !nonEmpty(filepath.Join(repo, "locks")) {
		t.Fatal("the killed store left no lease (the test did not catch it mid-way)")
	}
	// the next writer does not wait for anything
	res := m1.run("store", "--project", "small", small)
	if res.code != 0 || res.took > 20*time.Second {
		t.Fatalf("store after a killed store: %s", res)
	}
	// another machine cannot tell the killed process from a live one until
	// its lease expires
	g := m2.gc()
	if g.Result.DeferredPacks == 0 || len(g.Result.Waiting) != 1 {
		t.Fatalf("gc on another machine: %+v, want the killed store's packs deferred to its lease", g.Result)
	}
	g = m2.with("SILO_TEST_CLOCK_OFFSET=6m").gc()
	// (a leftover pack holding a blob the small store reused is
	// rewritten, not deleted whole)
	if g.Result.DeferredPacks != 0 || g.Result.PacksDeleted+g.Result.PacksRepacked == 0 {
		t.Fatalf("gc after the lease's TTL: %+v, want the leftovers deleted", g.Result)
	}
	m1.must("check", "--read-data")
	m1.restoreMatches("small", takeManifest(t, small))
	// a TTL past its expiry the killed store's lease file goes too
	if !nonEmpty(filepath.Join(repo, "locks")) {
		t.Fatal("the killed store's lease went before it had been expired a TTL")
	}
	m2.with("SILO_TEST_CLOCK_OFFSET=11m").gc()
	if nonEmpty(filepath.Join(repo, "locks")) {
		t.Fatal("a gc left the lease of a store killed over two TTLs ago")
	}
	// on its own machine a dead process's lease counts for nothing
	packsBefore = countPacks(t, repo)
	st = m1.cmd("store", "--project", "big", big)
	pauseWhen(t, st, repo, caught(st))
	st.Process.Kill()
	st.Wait()
	if g := m1.gc(); g.Result.DeferredPacks != 0 || g.Result.PacksDeleted == 0 {
		t.Fatalf("gc on the killed process's machine: %+v, want the leftovers deleted at once", g.Result)
	}
	m1.must("check", "--read-data")
}

// s3Fleet is an S3 repository with machines on it.
func s3Fleet(t *testing.T) (*s3CLI, string) {
	c := newS3CLI(t, "fleet")
	repo := "s3://fleet/repo"
	res := c.run(repo, "init")
	if res.code != 0 {
		t.Fatalf("init: %s", res)
	}
	return c, repo
}

// s3Machines are machines on a new S3 repository (the test is skipped
// with -short: it runs processes).
func s3Machines(t *testing.T, names ...string) []*node {
	if testing.Short() {
		t.Skip("process test")
	}
	c, repo := s3Fleet(t)
	var m []*node
	for _, name := range names {
		m = append(m, c.node(t, repo, name))
	}
	return m
}

// s3Pair is machines A and B on a new S3 repository.
func s3Pair(t *testing.T) (a, b *node) {
	m := s3Machines(t, "A", "B")
	return m[0], m[1]
}

func (c *s3CLI) node(t *testing.T, repo, name string) *node {
	var env []string
	for _, kv := range c.env {
		if !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			env = append(env, kv)
		}
	}
	return newNode(t, repo, name, env...)
}

// Machine A stores a project that shares its data with one machine B
// hard-deletes and collects meanwhile: A's version restores on a third
// machine, and B's next gc after A ended frees the space.
func TestFleetS3StoreDuringDeleteAndGC(t *testing.T) {
	m := s3Machines(t, "A", "B", "C")
	a, b, third := m[0], m[1], m[2]
	old := filepath.Join(t.TempDir(), "old")
	genCorpus(t, old, 81, 20)
	a.store("old", old)
	b.must("projects", "list")
	edited := filepath.Join(t.TempDir(), "new")
	genCorpus(t, edited, 81, 20)
	writeStream(t, filepath.Join(edited, "src", "edit.go"), strings.NewReader("package edit\n"), 0o644)
	want := takeManifest(t, edited)

	st := a.cmd("store", "--project", "new", edited)
	pauseMid(t, st, "", 8<<20)
	b.must("delete", "--hard", "old")
	g := b.gc()
	if g.Result.PacksDeleted != 0 || g.Result.DeferredPacks == 0 {
		t.Fatalf("B's gc during A's store: %+v", g.Result)
	}
	resumeProcess(st.Process)
	if err := st.Wait(); err != nil {
		t.Fatalf("A's store: %v", err)
	}
	third.must("check", "--read-data")
	third.restoreMatches("new", want)
	g = b.gc()
	if g.Result.PacksDeleted == 0 || g.Result.DeferredPacks != 0 {
		t.Fatalf("B's gc after A's store: %+v", g.Result)
	}
	third.must("check", "--read-data")
	third.restoreMatches("new", want)
	if res := third.run("snapshots", "old"); res.code != exitNotFound {
		t.Fatalf("the hard-deleted project on a third machine: %s", res)
	}
}

// Machine A stores a new version while B forgets old ones and collects
// with a low threshold, rewriting packs A's version shares: A's version
// restores everywhere, and the rewritten packs go once A ended.
func TestFleetS3StoreDuringForgetAndRepack(t *testing.T) {
	a, b := s3Pair(t)
	dir := filepath.Join(t.TempDir(), "p")
	genCorpus(t, dir, 91, 8)
	// the first version alone holds a-x.bin; the new one brings it back
	x := filepath.Join(t.TempDir(), "a-x.bin")
	writeStream(t, x, io.LimitReader(rng(92), 3<<20), 0o644)
	for i := range 3 {
		os.Remove(filepath.Join(dir, "a-x.bin"))
		if i == 0 {
			os.Link(x, filepath.Join(dir, "a-x.bin"))
		}
		writeStream(t, filepath.Join(dir, fmt.Sprintf("v%d.bin", i)), strings.NewReader(strings.Repeat(fmt.Sprint(i), 300<<10)), 0o644)
		a.store("p", dir)
	}
	writeStream(t, filepath.Join(dir, "a-x.bin"), io.LimitReader(rng(92), 3<<20), 0o644)
	writeStream(t, filepath.Join(dir, "z-new.bin"), io.LimitReader(rng(93), 24<<20), 0o644)
	want := takeManifest(t, dir)
	st := a.cmd("--json", "store", "--project", "p", dir)
	var out bytes.Buffer
	st.Stdout = &out
	pauseMid(t, st, "", 6<<20)
	b.must("forget", "--keep-last", "1", "p")
	g := b.gc("--threshold", "0.01")
	if g.Result.PacksDeleted+g.Result.PacksRepacked != 0 {
		t.Fatalf("B's gc during A's store deleted packs: %+v", g.Result)
	}
	resumeProcess(st.Process)
	if err := st.Wait(); err != nil {
		t.Fatalf("A's store: %v", err)
	}
	id := snapshotOf(t, result{stdout: out.String()})
	b.must("check", "--read-data")
	b.restoreMatches(id, want)
	g = b.gc("--threshold", "0.01")
	if g.Result.PacksDeleted+g.Result.PacksRepacked == 0 {
		t.Fatalf("B's gc after A's store freed nothing: %+v", g.Result)
	}
	a.must("check", "--read-data")
	a.restoreMatches(id, want)
	if vs := a.versions("p"); len(vs) != 2 || vs[0] != id {
		t.Fatalf("versions of p on A: %v, want the new one and the one forget kept", vs)
	}
}

// Two machines store the same project at once: both versions land, both
// machines list both, the newer is the head on both.
func TestFleetS3SameProjectTwoMachines(t *testing.T) {
	a, b := s3Pair(t)
	base := filepath.Join(t.TempDir(), "base")
	genCorpus(t, base, 101, 4)
	a.store("shared", base)
	b.must("projects", "list")
	da, db := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	genCorpus(t, da, 102, 6)
	genCorpus(t, db, 103, 6)
	var wg sync.WaitGroup
	ids := make([]string, 2)
	for i, m := range []*node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = m.store("shared", []string{da, db}[i])
		}()
	}
	wg.Wait()
	var heads []string
	for _, m := range []*node{a, b} {
		vs := m.versions("shared")
		if len(vs) != 3 || !slices.Contains(vs, ids[0]) || !slices.Contains(vs, ids[1]) {
			t.Fatalf("versions on one machine: %v, want both new ones %s %s", vs, ids[0][:8], ids[1][:8])
		}
		heads = append(heads, vs[0])
	}
	if heads[0] != heads[1] {
		t.Fatalf("the machines disagree on the head: %s vs %s", heads[0][:8], heads[1][:8])
	}
	a.must("check", "--read-data")
	for i, dir := range []string{da, db} {
		b.restoreMatches(ids[i], takeManifest(t, dir))
	}
}

// A machine whose index cache is days old (while another machine forgot,
// hard-deleted, collected and stored) sees today's repository: the deleted
// project stays gone, new versions are there and restore, and its own
// changes apply to the current records.
func TestFleetS3StaleCache(t *testing.T) {
	a, b := s3Pair(t)
	p, q := filepath.Join(t.TempDir(), "p"), filepath.Join(t.TempDir(), "q")
	genCorpus(t, p, 111, 6)
	genCorpus(t, q, 112, 6)
	a.store("p", p)
	a.store("q", q)
	a.must("projects", "list") // A's cache now knows p and q
	// days pass on B
	later := b.with("SILO_TEST_CLOCK_OFFSET=72h")
	for i := range 3 {
		writeStream(t, filepath.Join(p, fmt.Sprintf("day%d.txt", i)), strings.NewReader(strings.Repeat("x", 100000*(i+1))), 0o644)
		later.store("p", p)
	}
	later.must("forget", "--keep-last", "2", "p")
	later.must("delete", "--hard", "q")
	later.must("projects", "set", "--tag", "+fresh", "p")
	for range 2 {
		later.gc("--threshold", "0.01")
	}
	wantP := takeManifest(t, p)
	// A comes back
	if res := a.run("snapshots", "q"); res.code != exitNotFound {
		t.Fatalf("A lists the project B hard-deleted: %s", res)
	}
	if res := a.run("projects", "set", "--tag", "+resurrect", "q"); res.code == 0 {
		t.Fatal("A changed the project B hard-deleted")
	}
	if vs := a.versions("p"); len(vs) != 2 {
		t.Fatalf("A sees %d versions of p, want the 2 forget kept", len(vs))
	}
	res := a.must("--json", "projects", "show", "p")
	if !strings.Contains(res.stdout, "fresh") {
		t.Fatalf("A does not see B's tag: %s", res.stdout)
	}
	a.restoreMatches("p", wantP)
	a.must("check", "--read-data")
	// and A's own change lands on top of B's
	a.must("projects", "set", "--tag", "+from-a", "p")
	res = later.must("--json", "projects", "show", "p")
	if !strings.Contains(res.stdout, "from-a") || !strings.Contains(res.stdout, "fresh") {
		t.Fatalf("B after A's change: %s", res.stdout)
	}
}
