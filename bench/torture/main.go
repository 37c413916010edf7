// Command torture runs many silo processes on one repository at once for a
// while, storing, forgetting, hard-deleting and collecting garbage, as
// several machines would; then it checks the repository with
// --read-data and restores every version that was acknowledged (a store
// that exited 0) and not removed on purpose since (by forget or delete),
// comparing each with the tree that was stored.
//
//	torture [-workers 6] [-machines 3] [-duration 2m] [-s3 [-list-page N]] [-silo PATH] [-work DIR]
//
// With -s3 the repository lives on an in-memory S3-protocol server on
// 127.0.0.1 (gofakes3) started by the command; each machine has its own
// index cache (XDG_CACHE_HOME). Machines are told apart by
// SILO_TEST_MACHINE. -list-page makes the server page its listings
// small, as S3 does past 1,000 keys, so that listings run while packs
// are written (a listing is no snapshot). It prints counts and exits 1 when anything
// acknowledged did not come back intact.
//
// With -backup the workers also back up (all projects, or one) to a
// second repository (beside the first: a directory, or another prefix of
// the bucket), delete backups and expire them with retention 0, all while
// the rest goes on; at the end every acknowledged backup record still at
// the destination must verify with --read-data, and each of its projects
// restore (--dest, from another machine) identical to the version stored.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

type version struct {
	id, project, machine string
	manifest             string
	removed              bool
}

// backupRec is an acknowledged backup: its id and, per project, the
// newest version it holds (what restore --dest brings back).
type backupRec struct {
	id     string
	newest map[string]string // project id → newest version held
}

type world struct {
	silo, repo, work string
	dest             string // backup destination ("": no backups)
	backups          map[string]*backupRec
	env              []string
	servers          map[string]string // machine → URL of its silo serve ("": none)
	stopServer       map[string]func()
	logLevel         string
	logs             io.Writer
	mu               sync.Mutex
	versions         map[string]*version
	counts           map[string]*atomic.Int64
	failures         []string
}

func main() {
	workers := flag.Int("workers", 6, "processes running at once")
	machines := flag.Int("machines", 3, "simulated machines (index caches, machine names)")
	duration := flag.Duration("duration", 2*time.Minute, "how long to run")
	useS3 := flag.Bool("s3", false, "put the repository on a loopback S3 server")
	flag.IntVar(&listPage, "list-page", 0, "with -s3: the loopback server lists at most `N` keys a page (0: as asked, up to 1,000), so that more listings page while packs are written")
	siloBin := flag.String("silo", "", "silo binary (default: go build ./cmd/silo)")
	work := flag.String("work", "", "work directory (default: a new temporary one, removed at the end)")
	seed := flag.Uint64("seed", 1, "random seed")
	logFile := flag.String("log", "", "append every command's stderr (at --log-level debug) to this file")
	backups := flag.Bool("backup", false, "back up, delete and expire backups too")
	encrypt := flag.Bool("encrypt", false, "an encrypted repository (silo init --encrypt): each machine's index is then its own cache, also for a local repository")
	serve := flag.Bool("serve", true, "run a silo serve on every machine and send a quarter of the stores through it (--remote: the HTTP upload protocol)")
	flag.Parse()
	log.SetFlags(0)
	w := &world{versions: map[string]*version{}, counts: map[string]*atomic.Int64{}, logLevel: "warn", backups: map[string]*backupRec{}}
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			log.Fatal(err)
		}
		defer f.Close()
		w.logs, w.logLevel = f, "debug"
	}
	for _, k := range []string{"store", "store-remote", "store-failed", "forget", "delete", "gc", "gc-failed", "read", "read-failed",
		"backup", "backup-failed", "backup-delete", "backup-expire", "backup-removal-refused"} {
		w.counts[k] = new(atomic.Int64)
	}
	var err error
	w.work = *work
	if w.work == "" {
		if w.work, err = os.MkdirTemp("", "silo-torture-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(w.work)
	}
	w.silo = *siloBin
	if w.silo == "" {
		w.silo = filepath.Join(w.work, "silo")
		if out, err := exec.Command("go", "build", "-o", w.silo, "./cmd/silo").CombinedOutput(); err != nil {
			log.Fatalf("go build ./cmd/silo: %v\n%s", err, out)
		}
	}
	w.repo = filepath.Join(w.work, "repo")
	if *useS3 {
		w.repo, w.env = startS3(w.work)
	}
	if *backups {
		w.dest = filepath.Join(w.work, "backup-dest")
		if *useS3 {
			w.dest = w.repo + "-backup"
		}
	}
	initArgs := []string{"init"}
	if *encrypt {
		w.env = append(w.env, "STORAGE_PASSWORD=torture-password")
		initArgs = append(initArgs, "--encrypt")
	}
	// every worker creates the repository at once, on its own machine:
	// exactly one init may win, the others are told it exists
	var inits, won sync.WaitGroup
	var winners atomic.Int64
	start := make(chan struct{})
	for i := range *workers {
		inits.Add(1)
		won.Go(func() {
			inits.Done()
			<-start
			out, err := w.cmd(fmt.Sprintf("m%d", i%*machines), initArgs...).CombinedOutput()
			switch {
			case err == nil:
				winners.Add(1)
			case !bytes.Contains(out, []byte("exists")) && !bytes.Contains(out, []byte("at the same time")):
				w.fail("init on worker %d: %v: %s", i, err, out)
			}
		})
	}
	inits.Wait()
	close(start)
	won.Wait()
	if n := winners.Load(); n != 1 {
		w.fail("%d of %d simultaneous inits succeeded, want exactly 1", n, *workers)
	}
	fmt.Printf("init: %d processes at once, %d succeeded\n", *workers, winners.Load())
	w.servers, w.stopServer = map[string]string{}, map[string]func(){}
	if *serve {
		for i := range *machines {
			stop := w.startServer(fmt.Sprintf("m%d", i))
			defer stop()
		}
	}
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for i := range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.worker(i, fmt.Sprintf("m%d", i%*machines), *seed*1000+uint64(i), deadline)
		}()
	}
	wg.Wait()
	// the servers' sessions end before the final collections
	for _, stop := range w.stopServer {
		stop()
	}
	w.finish()
}

// startServer runs `silo serve` as machine m on a free loopback port and
// waits until it answers; the function it returns stops it (SIGTERM, then
// waits), once.
func (w *world) startServer(m string) func() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := w.cmd(m, "--log-level", w.logLevel, "serve", "--addr", addr)
	if w.logs != nil {
		c.Stderr = w.logs
	}
	if err := c.Start(); err != nil {
		log.Fatal(err)
	}
	url := "http://" + addr
	for i := 0; ; i++ {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if i == 200 {
			log.Fatalf("silo serve on %s did not answer", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.servers[m] = url
	var once sync.Once
	stop := func() {
		once.Do(func() {
			c.Process.Signal(syscall.SIGTERM)
			if err := c.Wait(); err != nil {
				w.fail("silo serve on %s: %v", m, err)
			}
		})
	}
	w.stopServer[m] = stop
	return stop
}

// listPage is -list-page.
var listPage int

func startS3(work string) (string, []string) {
	if ep := os.Getenv("TORTURE_S3_ENDPOINT"); ep != "" {
		// a server of the caller's (bench/s3srv): it outlives the run
		return fmt.Sprintf("s3://torture/%s-%d", filepath.Base(work), time.Now().UnixNano()), []string{"AWS_ENDPOINT_URL=" + ep, "AWS_ACCESS_KEY_ID=t",
			"AWS_SECRET_ACCESS_KEY=t", "AWS_REGION=us-east-1"}
	}
	mem := s3mem.New()
	if err := mem.CreateBucket("torture"); err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := gofakes3.New(mem).Server()
	if listPage > 0 {
		next := srv
		srv = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && r.URL.Query().Has("list-type") {
				q := r.URL.Query()
				q.Set("max-keys", strconv.Itoa(listPage))
				r.URL.RawQuery = q.Encode()
			}
			next.ServeHTTP(rw, r)
		})
	}
	go http.Serve(ln, srv)
	return "s3://torture/repo", []string{"AWS_ENDPOINT_URL=http://" + ln.Addr().String(), "AWS_ACCESS_KEY_ID=t",
		"AWS_SECRET_ACCESS_KEY=t", "AWS_REGION=us-east-1"}
}

// serverOf returns the URL of machine m's silo serve ("": none).
func (w *world) serverOf(m string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.servers[m]
}

// cmd prepares silo as machine m.
func (w *world) cmd(m string, args ...string) *exec.Cmd {
	c := exec.Command(w.silo, append([]string{"--repo", w.repo}, args...)...)
	c.Dir = w.work
	c.Env = append(os.Environ(), w.env...)
	c.Env = append(c.Env, "XDG_CACHE_HOME="+filepath.Join(w.work, "cache-"+m), "SILO_TEST_MACHINE="+m)
	return c
}

func (w *world) run(m string, args ...string) ([]byte, error) {
	var out, errb bytes.Buffer
	c := w.cmd(m, append([]string{"--log-level", w.logLevel}, args...)...)
	c.Stdout, c.Stderr = &out, &errb
	start := time.Now()
	err := c.Run()
	if w.logs != nil {
		w.mu.Lock()
		fmt.Fprintf(w.logs, "=== %s .. %s %s pid %d: %s (err %v)\n%s", start.UTC().Format("15:04:05.000"),
			time.Now().UTC().Format("15:04:05.000"), m, c.Process.Pid, strings.Join(args, " "), err, errb.String())
		w.mu.Unlock()
	}
	if err != nil {
		err = fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), err
}

func (w *world) fail(format string, a ...any) {
	w.mu.Lock()
	w.failures = append(w.failures, fmt.Sprintf(format, a...))
	w.mu.Unlock()
}

// worker plays one process after another on machine m: mostly stores of a
// few projects whose trees change between stores, and now and then a
// forget, a hard delete, a gc or a restore.
func (w *world) worker(i int, m string, seed uint64, deadline time.Time) {
	r := rand.New(rand.NewPCG(seed, seed))
	projects := []string{fmt.Sprintf("w%d-a", i), fmt.Sprintf("w%d-b", i), "shared"}
	trees := map[string]string{}
	for _, p := range projects {
		trees[p] = filepath.Join(w.work, fmt.Sprintf("src-%d", i), p)
		makeTree(trees[p], r, 40)
	}
	for time.Now().Before(deadline) {
		p := projects[r.IntN(len(projects))]
		if w.dest != "" && r.IntN(5) == 0 {
			w.backupOp(m, p, r)
			continue
		}
		switch x := r.IntN(20); {
		case x < 12:
			mutate(trees[p], r)
			man := manifest(trees[p])
			args := []string{"--json", "store", "--project", p, trees[p]}
			url := w.serverOf(m)
			remote := url != "" && r.IntN(4) == 0
			if remote {
				args = []string{"--json", "store", "--remote", url, "--project", p, trees[p]}
			}
			out, err := w.run(m, args...)
			if err != nil {
				w.counts["store-failed"].Add(1)
				// a conflict says to run again; anything else is a failure
				if !strings.Contains(err.Error(), "exit status 7") && !strings.Contains(err.Error(), "deleted while") {
					w.fail("store %s on %s: %v", p, m, err)
				}
				continue
			}
			id := lastField(out, "snapshot")
			w.mu.Lock()
			w.versions[id] = &version{id: id, project: p, machine: m, manifest: man}
			w.mu.Unlock()
			w.counts["store"].Add(1)
			if remote {
				w.counts["store-remote"].Add(1)
			}
		case x < 15:
			out, err := w.run(m, "--json", "forget", "--keep-last", "2", p)
			if err != nil {
				if !strings.Contains(err.Error(), "exit status 5") { // not found: deleted meanwhile
					w.fail("forget %s: %v", p, err)
				}
				continue
			}
			var res struct {
				Decisions []struct {
					ID   string `json:"id"`
					Keep bool   `json:"keep"`
				} `json:"decisions"`
			}
			if err := json.Unmarshal(out, &res); err != nil {
				w.fail("forget output: %v", err)
				continue
			}
			w.mu.Lock()
			for _, d := range res.Decisions {
				if v := w.versions[d.ID]; v != nil && !d.Keep {
					v.removed = true
				}
			}
			w.mu.Unlock()
			w.counts["forget"].Add(1)
		case x < 16 && p != "shared":
			// a hard delete removes every version the project has now;
			// stores racing it either land before (and go with it) or fail
			w.mu.Lock()
			var doomed []*version
			for _, v := range w.versions {
				if v.project == p {
					doomed = append(doomed, v)
				}
			}
			w.mu.Unlock()
			if _, err := w.run(m, "delete", "--hard", p); err != nil {
				if !strings.Contains(err.Error(), "exit status 5") {
					w.fail("delete %s: %v", p, err)
				}
				continue
			}
			w.mu.Lock()
			for _, v := range doomed {
				v.removed = true
			}
			w.mu.Unlock()
			w.counts["delete"].Add(1)
		case x < 18:
			if _, err := w.run(m, "gc", "--threshold", "0.05"); err != nil {
				if strings.Contains(err.Error(), "exit status 4") { // another gc runs
					w.counts["gc-failed"].Add(1)
					continue
				}
				w.fail("gc on %s: %v", m, err)
				continue
			}
			w.counts["gc"].Add(1)
		default:
			if _, err := w.run(m, "restore", p, filepath.Join(w.work, fmt.Sprintf("restore-%d", i))); err != nil {
				w.counts["read-failed"].Add(1)
				if !strings.Contains(err.Error(), "exit status 5") {
					w.fail("restore %s on %s: %v", p, m, err)
				}
			} else {
				w.counts["read"].Add(1)
			}
			os.RemoveAll(filepath.Join(w.work, fmt.Sprintf("restore-%d", i)))
		}
	}
}

// finish collects what is left, checks, and restores every acknowledged
// version that nothing removed on purpose.
func (w *world) finish() {
	t0 := time.Now()
	// every session has ended: two collections carry out what is pending
	for range 2 {
		if _, err := w.run("m0", "gc"); err != nil {
			w.fail("final gc: %v", err)
		}
	}
	if _, err := w.run("m0", "check", "--read-data"); err != nil {
		w.fail("check --read-data: %v", err)
	}
	var live []*version
	removed := 0
	for _, v := range w.versions {
		if v.removed {
			removed++
		} else {
			live = append(live, v)
		}
	}
	sort.Slice(live, func(i, j int) bool { return live[i].id < live[j].id })
	if w.dest != "" {
		w.finishBackups()
	}
	restored := 0
	for i, v := range live {
		dest := filepath.Join(w.work, fmt.Sprintf("final-%d", i))
		// read from another machine than the one that stored it
		if _, err := w.run("reader", "restore", v.id, dest); err != nil {
			w.fail("acknowledged version %s of %s (stored on %s) does not restore: %v", v.id[:12], v.project, v.machine, err)
			continue
		}
		if got := manifest(dest); got != v.manifest {
			w.fail("acknowledged version %s of %s restores differently", v.id[:12], v.project)
			continue
		}
		restored++
		os.RemoveAll(dest)
	}
	fmt.Printf("operations: %d stores acknowledged (%d through silo serve; %d failed, told to run again), %d forgets, %d hard deletes, %d gcs (%d refused: another ran), %d restores (%d not found)\n",
		w.counts["store"].Load(), w.counts["store-remote"].Load(), w.counts["store-failed"].Load(), w.counts["forget"].Load(), w.counts["delete"].Load(),
		w.counts["gc"].Load(), w.counts["gc-failed"].Load(), w.counts["read"].Load(), w.counts["read-failed"].Load())
	fmt.Printf("versions: %d acknowledged, %d removed on purpose, %d to restore, %d restored identical (final check %.1fs)\n",
		len(w.versions), removed, len(live), restored, time.Since(t0).Seconds())
	fmt.Printf("problems: %d\n", len(w.failures))
	for _, f := range w.failures {
		fmt.Println("  " + f)
	}
	if len(w.failures) > 0 {
		os.Exit(1)
	}
}

// backupOp backs up (every project, or p alone), deletes a backup or
// expires backups at the destination, as machine m.
func (w *world) backupOp(m, p string, r *rand.Rand) {
	switch x := r.IntN(20); {
	case x < 14:
		args := []string{"--json", "backup", "--to", w.dest}
		if x < 4 {
			args = append(args, "--project", p)
		}
		out, err := w.run(m, args...)
		if err != nil {
			w.counts["backup-failed"].Add(1)
			// a project deleted or changed under it: run again
			if !strings.Contains(err.Error(), "exit status 5") && !strings.Contains(err.Error(), "exit status 7") {
				w.fail("backup on %s: %v", m, err)
			}
			return
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		var sum struct {
			Result struct {
				ID       string `json:"id"`
				Projects []struct {
					ID       string `json:"project_id"`
					Versions []struct {
						ID string `json:"id"`
					} `json:"versions"`
				} `json:"projects"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Result.ID == "" {
			w.fail("backup output: %v: %s", err, lines[len(lines)-1])
			return
		}
		br := &backupRec{id: sum.Result.ID, newest: map[string]string{}}
		for _, bp := range sum.Result.Projects {
			if len(bp.Versions) > 0 {
				br.newest[bp.ID] = bp.Versions[0].ID
			}
		}
		w.mu.Lock()
		w.backups[br.id] = br
		w.mu.Unlock()
		w.counts["backup"].Add(1)
	case x < 17:
		w.mu.Lock()
		var ids []string
		for id := range w.backups {
			ids = append(ids, id)
		}
		w.mu.Unlock()
		if len(ids) == 0 {
			return
		}
		sort.Strings(ids)
		id := ids[r.IntN(len(ids))]
		if _, err := w.run(m, "backup", "delete", "--from", w.dest, id); err != nil {
			w.removalFailed("backup delete "+id, err)
			return
		}
		w.counts["backup-delete"].Add(1)
	default:
		if _, err := w.run(m, "backup", "expire", "--from", w.dest, "--retention-days", "0"); err != nil {
			w.removalFailed("backup expire", err)
			return
		}
		w.counts["backup-expire"].Add(1)
	}
}

// removalFailed accepts what a backup removal may meet: the record gone
// already (exit 5) or another collection at the destination (exit 4).
func (w *world) removalFailed(what string, err error) {
	if strings.Contains(err.Error(), "exit status 5") || strings.Contains(err.Error(), "exit status 4") {
		w.counts["backup-removal-refused"].Add(1)
		return
	}
	w.fail("%s: %v", what, err)
}

// finishBackups checks every acknowledged backup still at the destination:
// it verifies with --read-data, and each project restores identical to the
// newest version the backup holds. It reads from a machine with an empty
// cache, so on S3 the destination's index is built again from its packs.
func (w *world) finishBackups() {
	for range 2 {
		if _, err := w.run("m0", "--repo", w.dest, "gc"); err != nil {
			w.fail("final gc of the backup destination: %v", err)
		}
	}
	if _, err := w.run("m0", "--repo", w.dest, "check", "--read-data"); err != nil {
		w.fail("check --read-data of the backup destination: %v", err)
	}
	out, err := w.run("reader", "--json", "backup", "list", "--from", w.dest)
	if err != nil {
		w.fail("backup list: %v", err)
		return
	}
	var list struct {
		Backups []struct {
			ID string `json:"id"`
		} `json:"backups"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &list); err != nil {
		w.fail("backup list output: %v", err)
		return
	}
	checked, projects, twins := 0, 0, 0
	for i, p := range list.Backups {
		br := w.backups[p.ID]
		if br == nil {
			continue // a backup that failed after writing its record
		}
		if _, err := w.run("reader", "backup", "verify", "--read-data", "--from", w.dest, br.id); err != nil {
			w.fail("acknowledged backup %s does not verify: %v", br.id, err)
			continue
		}
		dest := filepath.Join(w.work, fmt.Sprintf("backup-restore-%d", i))
		out, err := w.run("reader", "--json", "backup", "restore", "--from", w.dest, "--dest", dest, br.id)
		if err != nil {
			w.fail("acknowledged backup %s does not restore: %v", br.id, err)
			continue
		}
		// two machines that create "shared" at once make two projects of
		// that name: each restores into a directory of its own
		var res struct {
			Result struct {
				Names []string `json:"projects"`
				IDs   []string `json:"project_ids"`
				Paths []string `json:"paths"`
			} `json:"result"`
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || len(res.Result.IDs) != len(res.Result.Paths) {
			w.fail("backup restore output: %v: %s", err, lines[len(lines)-1])
			continue
		}
		seen := map[string]bool{}
		for _, n := range res.Result.Names {
			if seen[n] {
				twins++
			}
			seen[n] = true
		}
		paths := map[string]string{}
		for j, id := range res.Result.IDs {
			if paths[res.Result.Paths[j]] != "" {
				w.fail("backup %s restores projects %s and %s into one directory %s", br.id, paths[res.Result.Paths[j]], id, res.Result.Paths[j])
			}
			paths[res.Result.Paths[j]] = id
		}
		for id, vid := range br.newest {
			if w.versions[vid] != nil && !slices.Contains(res.Result.IDs, id) {
				w.fail("backup %s restored without project %s", br.id, id)
			}
		}
		for j, id := range res.Result.IDs {
			vid := br.newest[id]
			v := w.versions[vid]
			if v == nil {
				continue // stored by a process that then failed
			}
			if got := manifest(res.Result.Paths[j]); got != v.manifest {
				w.fail("project %s of backup %s restores differently from version %s", id, br.id, vid[:12])
			}
			projects++
		}
		os.RemoveAll(dest)
		checked++
	}
	fmt.Printf("backups: %d acknowledged (%d failed, told to run again), %d deletes, %d expiries (%d refused); %d still at the destination verified and restored, %d projects compared (%d of them a second project of a name)\n",
		w.counts["backup"].Load(), w.counts["backup-failed"].Load(), w.counts["backup-delete"].Load(), w.counts["backup-expire"].Load(),
		w.counts["backup-removal-refused"].Load(), checked, projects, twins)
}

// lastField reads a field of the result in a --json command's last line.
func lastField(out []byte, field string) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var sum struct {
		Result map[string]any `json:"result"`
	}
	json.Unmarshal([]byte(lines[len(lines)-1]), &sum)
	s, _ := sum.Result[field].(string)
	return s
}

// makeTree writes n files of a few KiB to 200 KiB under dir.
func makeTree(dir string, r *rand.Rand, n int) {
	for i := range n {
		writeRandom(filepath.Join(dir, fmt.Sprintf("d%d", i%5), fmt.Sprintf("f%03d.bin", i)), r, 2<<10+r.IntN(200<<10))
	}
}

// mutate rewrites, adds and removes a few files.
func mutate(dir string, r *rand.Rand) {
	for range 1 + r.IntN(4) {
		writeRandom(filepath.Join(dir, fmt.Sprintf("d%d", r.IntN(5)), fmt.Sprintf("f%03d.bin", r.IntN(60))), r, 2<<10+r.IntN(300<<10))
	}
	if r.IntN(3) == 0 {
		files, _ := filepath.Glob(filepath.Join(dir, "*", "*.bin"))
		if len(files) > 10 {
			os.Remove(files[r.IntN(len(files))])
		}
	}
}

func writeRandom(path string, r *rand.Rand, n int) {
	os.MkdirAll(filepath.Dir(path), 0o755)
	b := make([]byte, n)
	// half random, half repeated: some of it compresses
	for i := 0; i < n/2; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		log.Fatal(err)
	}
}

// manifest hashes a tree: every path with its type, mode, size and content.
func manifest(root string) string {
	h := sha256.New()
	var lines []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		info, err := d.Info()
		if err != nil {
			return nil
		}
		line := fmt.Sprintf("%s %v %d", rel, info.Mode(), info.Size())
		if d.Type().IsRegular() {
			f, err := os.Open(p)
			if err == nil {
				fh := sha256.New()
				io.Copy(fh, f)
				f.Close()
				line += " " + hex.EncodeToString(fh.Sum(nil))
			}
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	for _, l := range lines {
		io.WriteString(h, l+"\n")
	}
	if len(lines) == 0 {
		return "empty"
	}
	return hex.EncodeToString(h.Sum(nil))
}
