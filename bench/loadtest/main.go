// Command loadtest drives silo's HTTP API on loopback: it seeds a
// repository with many small projects, serves it on 127.0.0.1 (an
// in-process server.Server, as `silo serve` runs it), and for a bounded
// time lets writers store new versions (half by tar upload, half by the
// dedup blob protocol) while readers list, filter, show and download.
// Afterwards it closes the server and runs a full check (--read-data) of the
// repository. It exits non-zero on any failed request or check problem.
//
//	go run ./bench/loadtest -duration 60s -projects 10000
//
// Seeding 10,000 projects takes a few minutes (every version is made
// durable on its own); the seeded repository is kept under -seed-cache
// and copied for later runs.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"

	siloclient "github.com/silo-dev/silo/client"
	"github.com/silo-dev/silo/server"
	"github.com/silo-dev/silo/store"
	"github.com/silo-dev/silo/store/config"
)

const token = "loadtest-token"

type options struct {
	duration  time.Duration
	projects  int
	writers   int
	readers   int
	work      string
	seedCache string
	keep      bool
	jsonOut   bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long the mixed load runs")
	flag.IntVar(&o.projects, "projects", 10000, "projects seeded before the load")
	flag.IntVar(&o.writers, "writers", 16, "clients storing versions")
	flag.IntVar(&o.readers, "readers", 16, "clients listing and downloading")
	flag.StringVar(&o.work, "dir", "", "work directory (default: a new temporary one, removed afterwards)")
	flag.StringVar(&o.seedCache, "seed-cache", "", "where the seeded repository is kept between runs (default: $TMPDIR/silo-loadtest-seed-N; \"off\" to reseed)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	flag.Parse()
	if o.duration <= 0 || o.duration > time.Hour || o.projects < 1 || o.writers < 0 || o.readers < 0 {
		fmt.Fprintln(os.Stderr, "loadtest: -duration must be in (0, 1h], -projects >= 1")
		os.Exit(2)
	}
	rep, err := run(o)
	if rep != nil {
		rep.print(o.jsonOut)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// ---- measurements ----

type recorder struct {
	mu     sync.Mutex
	lat    map[string][]time.Duration
	errs   atomic.Int64
	first  []string
	bytesR atomic.Int64
	bytesW atomic.Int64
}

func newRecorder() *recorder { return &recorder{lat: map[string][]time.Duration{}} }

func (r *recorder) ok(op string, d time.Duration) {
	r.mu.Lock()
	r.lat[op] = append(r.lat[op], d)
	r.mu.Unlock()
}

func (r *recorder) fail(op string, err error) {
	r.errs.Add(1)
	r.mu.Lock()
	if len(r.first) < 20 {
		r.first = append(r.first, op+": "+err.Error())
	}
	r.mu.Unlock()
}

type opStats struct {
	Op     string  `json:"op"`
	Count  int     `json:"count"`
	PerSec float64 `json:"per_s"`
	P50ms  float64 `json:"p50_ms"`
	P99ms  float64 `json:"p99_ms"`
	MaxMs  float64 `json:"max_ms"`
	MeanMs float64 `json:"mean_ms"`
}

func summarize(lat map[string][]time.Duration, secs float64) []opStats {
	var out []opStats
	for op, ds := range lat {
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		var sum time.Duration
		for _, d := range ds {
			sum += d
		}
		q := func(p float64) float64 {
			i := int(p * float64(len(ds)-1))
			return float64(ds[i].Microseconds()) / 1000
		}
		rate := float64(len(ds)) / secs
		if secs <= 0 { // one client in sequence: its own rate
			rate = float64(len(ds)) / sum.Seconds()
		}
		out = append(out, opStats{Op: op, Count: len(ds), PerSec: rate, P50ms: q(0.5), P99ms: q(0.99),
			MaxMs: float64(ds[len(ds)-1].Microseconds()) / 1000, MeanMs: float64(sum.Microseconds()) / 1000 / float64(len(ds))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Op < out[j].Op })
	return out
}

type report struct {
	Projects      int       `json:"projects"`
	SeedSeconds   float64   `json:"seed_seconds"`
	SeedReused    bool      `json:"seed_reused"`
	Writers       int       `json:"writers"`
	Readers       int       `json:"readers"`
	Seconds       float64   `json:"load_seconds"`
	Requests      int       `json:"requests"`
	RequestsPerS  float64   `json:"requests_per_s"`
	Errors        int64     `json:"errors"`
	FirstErrors   []string  `json:"first_errors,omitempty"`
	Quiet         []opStats `json:"quiet"`
	Load          []opStats `json:"load"`
	VersionsAdded int       `json:"versions_added"`
	MiBUploaded   float64   `json:"mib_uploaded"`
	MiBDownloaded float64   `json:"mib_downloaded"`
	CheckSeconds  float64   `json:"check_seconds"`
	CheckProblems int       `json:"check_problems"`
	CheckedBlobs  int       `json:"checked_blobs"`
	Versions      int       `json:"versions_total"`
}

func (r *report) print(asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(r)
		return
	}
	fmt.Printf("silo API load test: %d seeded projects (seed %.0fs%s), %d writers + %d readers for %.0fs on loopback\n",
		r.Projects, r.SeedSeconds, map[bool]string{true: ", reused", false: ""}[r.SeedReused], r.Writers, r.Readers, r.Seconds)
	table := func(title string, rows []opStats) {
		fmt.Printf("\n%s\n%-28s %8s %9s %9s %9s %9s\n", title, "op", "count", "req/s", "p50 ms", "p99 ms", "max ms")
		for _, s := range rows {
			fmt.Printf("%-28s %8d %9.1f %9.2f %9.2f %9.2f\n", s.Op, s.Count, s.PerSec, s.P50ms, s.P99ms, s.MaxMs)
		}
	}
	table("quiet (one client, before the load; the API caches stats and the list between writes):", r.Quiet)
	table("under load:", r.Load)
	fmt.Printf("\ntotal: %d requests, %.1f req/s, %d errors; %d versions stored (%.1f MiB sent), %.1f MiB downloaded\n",
		r.Requests, r.RequestsPerS, r.Errors, r.VersionsAdded, r.MiBUploaded, r.MiBDownloaded)
	for _, e := range r.FirstErrors {
		fmt.Println("  error:", e)
	}
	fmt.Printf("check --read-data: %d problems in %d blobs, %d versions (%.1fs)\n", r.CheckProblems, r.CheckedBlobs, r.Versions, r.CheckSeconds)
}

// ---- the run ----

func testConfig(work string) *config.Config {
	cfg := config.Default()
	cfg.BasePath = filepath.Join(work, "storage")
	cfg.CacheDir = filepath.Join(work, "xdg-cache")
	cfg.Backup.Destination = filepath.Join(work, "backups")
	return cfg
}

func run(o options) (*report, error) {
	work := o.work
	if work == "" {
		d, err := os.MkdirTemp("", "silo-loadtest-")
		if err != nil {
			return nil, err
		}
		work = d
		if !o.keep {
			defer os.RemoveAll(d)
		}
	}
	rep := &report{Projects: o.projects, Writers: o.writers, Readers: o.readers}
	ctx := context.Background()
	cfg := testConfig(work)

	t0 := time.Now()
	reused, err := seed(ctx, o, cfg)
	if err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	rep.SeedSeconds, rep.SeedReused = time.Since(t0).Seconds(), reused
	fmt.Fprintf(os.Stderr, "loadtest: %d projects ready in %.1fs\n", o.projects, rep.SeedSeconds)

	st, err := store.Open(ctx, store.Options{Config: cfg})
	if err != nil {
		return nil, err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	// every writer comes from 127.0.0.1: no per-client upload bound
	api := server.New(st, server.Options{Token: token, Logger: logger, MaxUploadsPerClient: -1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		st.Close()
		return nil, err
	}
	hs := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 2 * (o.writers + o.readers)
	c := &client{api: siloclient.NewWith("http://"+ln.Addr().String(), token, &http.Client{Transport: tr})}

	ids, err := c.seededIDs(ctx)
	if err != nil {
		hs.Close()
		st.Close()
		return nil, err
	}
	// quiet baseline: one client, no writers
	quiet := newRecorder()
	for i := range 100 {
		c.timed(quiet, "GET /stats", func() error { return c.getJSON(ctx, "/api/storage/stats", nil) })
		q := filters[i%len(filters)]
		c.timed(quiet, "GET /projects (filtered)", func() error { return c.getJSON(ctx, "/api/storage/projects?"+q, nil) })
	}
	// what the server's cache saves: the store's own cost of a stats and a
	// full listing, uncached
	for range 20 {
		c.timed(quiet, "store.Stats (uncached)", func() error { _, err := st.Stats(); return err })
		c.timed(quiet, "store.List all (uncached)", func() error { _, err := st.List(store.Filter{Status: "all"}); return err })
	}
	rep.Quiet = summarize(quiet.lat, 0)

	// the load
	rec := newRecorder()
	lctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var wg sync.WaitGroup
	var versions atomic.Int64
	ready := &readySet{}
	start := time.Now()
	// lctx only says when to stop starting requests: the ones in flight
	// finish, so every version a writer was told about can be counted
	for w := range o.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.writer(ctx, lctx, w, rec, &versions, ready, filepath.Join(work, "writers"))
		}()
	}
	for r := range o.readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.reader(ctx, lctx, r, rec, ids, ready)
		}()
	}
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	rep.Load = summarize(rec.lat, rep.Seconds)
	for _, s := range rep.Load {
		rep.Requests += s.Count
	}
	rep.RequestsPerS = float64(rep.Requests) / rep.Seconds
	rep.Errors = rec.errs.Load()
	rep.FirstErrors = rec.first
	rep.VersionsAdded = int(versions.Load())
	rep.MiBUploaded = float64(rec.bytesW.Load()) / (1 << 20)
	rep.MiBDownloaded = float64(rec.bytesR.Load()) / (1 << 20)

	// shut down like silo serve does, then check everything
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	hs.Shutdown(sctx)
	if err := api.Shutdown(sctx); err != nil {
		st.Close()
		return rep, err
	}
	// every version a writer was told about is there
	for w := range o.writers {
		n := ready.count(w)
		if n == 0 {
			continue
		}
		vs, err := st.Snapshots(writerProject(w))
		if err != nil || len(vs) != n {
			rep.Errors++
			rep.FirstErrors = append(rep.FirstErrors, fmt.Sprintf("writer %d: %d versions acknowledged, %d stored (%v)", w, n, len(vs), err))
		}
	}
	if err := st.Close(); err != nil {
		return rep, err
	}
	tc := time.Now()
	st, err = store.Open(ctx, store.Options{Config: cfg, ReadOnly: true})
	if err != nil {
		return rep, err
	}
	crep, err := st.Check(ctx, store.CheckOptions{ReadData: true})
	st.Close()
	rep.CheckSeconds = time.Since(tc).Seconds()
	if err != nil {
		return rep, fmt.Errorf("check: %w", err)
	}
	rep.CheckProblems, rep.CheckedBlobs, rep.Versions = len(crep.Problems), crep.Blobs, crep.Snapshots
	for i, p := range crep.Problems {
		if i < 10 {
			rep.FirstErrors = append(rep.FirstErrors, "check: "+p.String())
		}
	}
	if rep.Errors > 0 || rep.CheckProblems > 0 {
		return rep, fmt.Errorf("%d request errors, %d check problems", rep.Errors, rep.CheckProblems)
	}
	return rep, nil
}

// ---- seeding ----

var (
	languages = []struct{ file, body, manifest, mbody string }{
		{"main.py", "import os\nprint(os.getcwd())\n", "requirements.txt", "django==5.0\n"},
		{"main.go", "package main\n\nfunc main() {}\n", "go.mod", "module example.com/x\n\ngo 1.22\n"},
		{"index.js", "console.log('hi')\n", "package.json", `{"dependencies": {"react": "18.0.0"}}` + "\n"},
		{"src/main.rs", "fn main() {}\n", "Cargo.toml", "[package]\nname = \"x\"\n"},
		{"App.java", "class App { public static void main(String[] a) {} }\n", "pom.xml", "<project></project>\n"},
	}
	// filters the readers use (and the quiet baseline)
	filters = []string{
		"language=python&limit=100",
		"tag=team-3&status=active&limit=100",
		"framework=react&min_size_gb=0.0000001&limit=100",
		"name=seed-01*&limit=50",
		"status=archived&language=go&limit=100",
	}
)

func seedProject(i int) []byte {
	l := languages[i%len(languages)]
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name, body string) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)})
		tw.Write([]byte(body))
	}
	add(l.file, l.body)
	add(l.manifest, l.mbody)
	add("README.md", fmt.Sprintf("# seed project %d\n%s\n", i, strings.Repeat("x", i%4000)))
	tw.Close()
	return buf.Bytes()
}

func seedName(i int) string { return fmt.Sprintf("seed-%05d", i) }

// seed makes cfg.BasePath hold o.projects small projects: a copy of the
// cached seed when there is one, else seeded through the store API (and
// cached).
func seed(ctx context.Context, o options, cfg *config.Config) (bool, error) {
	cache := o.seedCache
	if cache == "" {
		cache = filepath.Join(os.TempDir(), fmt.Sprintf("silo-loadtest-seed-%d", o.projects))
	}
	if cache != "off" {
		if _, err := os.Stat(filepath.Join(cache, "SEEDED")); err == nil {
			return true, copyDir(filepath.Join(cache, "storage"), cfg.BasePath)
		}
	}
	st, err := store.Open(ctx, store.Options{Config: cfg, Create: true})
	if err != nil {
		return false, err
	}
	defer st.Close()
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	t0 := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= o.projects {
					return
				}
				_, err := st.SaveTar(ctx, bytes.NewReader(seedProject(i)), store.SaveOptions{Project: seedName(i),
					Tags: []string{fmt.Sprintf("team-%d", i%10), "seed"}})
				if err == nil && i%10 == 7 {
					_, err = st.Archive(ctx, seedName(i), store.ArchiveOptions{})
				}
				if err == nil && i%50 == 13 {
					_, err = st.Delete(ctx, seedName(i), false)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				if i%1000 == 999 {
					fmt.Fprintf(os.Stderr, "loadtest: seeded %d projects in %.0fs\n", i+1, time.Since(t0).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return false, firstErr
	}
	if err := st.Close(); err != nil {
		return false, err
	}
	if cache != "off" {
		os.RemoveAll(cache)
		if err := copyDir(cfg.BasePath, filepath.Join(cache, "storage")); err == nil {
			os.WriteFile(filepath.Join(cache, "SEEDED"), nil, 0o644)
		}
	}
	return false, nil
}

func copyDir(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	out, err := exec.Command("cp", "-a", from, to).CombinedOutput()
	if err != nil {
		return fmt.Errorf("cp -a %s %s: %v: %s", from, to, err, out)
	}
	return nil
}

// ---- the client ----

// client drives the server through the shared API client.
type client struct {
	api *siloclient.Client
}

func (c *client) do(ctx context.Context, method, path string, body io.Reader, ctype string) (*http.Response, error) {
	return c.api.Send(ctx, method, path, nil, body, ctype)
}

func (c *client) getJSON(ctx context.Context, path string, out any) error {
	return c.api.Request(ctx, http.MethodGet, path, nil, nil, "", out)
}

func (c *client) sendJSON(ctx context.Context, method, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.api.Request(ctx, method, path, nil, bytes.NewReader(b), "application/json", out)
}

// timed runs fn and records it under op; an error is a failure.
func (c *client) timed(rec *recorder, op string, fn func() error) bool {
	t := time.Now()
	if err := fn(); err != nil {
		rec.fail(op, err)
		return false
	}
	rec.ok(op, time.Since(t))
	return true
}

// seededIDs lists every seeded project's id, following the pages.
func (c *client) seededIDs(ctx context.Context) ([]string, error) {
	var ids []string
	q := url.Values{"tag": {"seed"}, "status": {"all"}, "limit": {"5000"}}
	for {
		var page struct {
			Projects []struct {
				ID string `json:"project_id"`
			} `json:"projects"`
			NextCursor string `json:"next_cursor"`
		}
		if err := c.getJSON(ctx, "/api/storage/projects?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		for _, p := range page.Projects {
			ids = append(ids, p.ID)
		}
		if page.NextCursor == "" {
			return ids, nil
		}
		q.Set("cursor", page.NextCursor)
	}
}

// readySet counts each writer's acknowledged versions.
type readySet struct {
	mu sync.Mutex
	n  map[int]int
}

func (r *readySet) add(w int) {
	r.mu.Lock()
	if r.n == nil {
		r.n = map[int]int{}
	}
	r.n[w]++
	r.mu.Unlock()
}

func (r *readySet) count(w int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[w]
}

func (r *readySet) any(rng *rand.Rand) (int, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.n) == 0 {
		return 0, false
	}
	keys := make([]int, 0, len(r.n))
	for k := range r.n {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys[rng.IntN(len(keys))], true
}

func writerProject(w int) string { return fmt.Sprintf("load-w%02d", w) }

// writerFiles returns iteration k of writer w's project: 24 files of
// 4-64 KiB text, a quarter rewritten each iteration, and one new 128 KiB
// random blob.
func writerFiles(w, k int) map[string][]byte {
	files := map[string][]byte{}
	for i := range 24 {
		gen := 0
		if i%4 == k%4 {
			gen = k
		}
		r := rand.New(rand.NewPCG(uint64(w*1000+i), uint64(gen)))
		n := 4<<10 + r.IntN(60<<10)
		var b bytes.Buffer
		for b.Len() < n {
			fmt.Fprintf(&b, "func f%d_%d() int { return %d }\n", i, r.IntN(1000), r.Uint64())
		}
		files[fmt.Sprintf("src/pkg%d/file%02d.go", i%4, i)] = b.Bytes()
	}
	r := rand.New(rand.NewPCG(uint64(w), uint64(k)))
	blob := make([]byte, 128<<10)
	for i := range blob {
		blob[i] = byte(r.Uint32())
	}
	files["assets/blob.bin"] = blob
	files["go.mod"] = []byte("module example.com/load\n\ngo 1.22\n")
	return files
}

func (c *client) writer(ctx, stop context.Context, w int, rec *recorder, versions *atomic.Int64, ready *readySet, dir string) {
	protocol := w%2 == 1
	wdir := filepath.Join(dir, fmt.Sprintf("w%02d", w))
	for k := 0; stop.Err() == nil; k++ {
		files := writerFiles(w, k)
		var ok bool
		if protocol {
			ok = c.timed(rec, "store version (blob protocol)", func() error {
				return c.push(ctx, rec, wdir, files, w)
			})
		} else {
			body := tarOf(files)
			ok = c.timed(rec, "POST /projects (tar upload)", func() error {
				resp, err := c.do(ctx, "POST", "/api/storage/projects?name="+writerProject(w)+"&tags=load", bytes.NewReader(body), "application/x-tar")
				if err != nil {
					return err
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil {
					rec.bytesW.Add(int64(len(body)))
				}
				return err
			})
		}
		if ok {
			versions.Add(1)
			ready.add(w)
		}
	}
}

func tarOf(files map[string][]byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg, ModTime: time.Now()})
		tw.Write(files[n])
	}
	tw.Close()
	return buf.Bytes()
}

// push writes the files into the writer's directory and stores it through
// the dedup protocol, as `silo store --remote` does (client.StoreDir).
func (c *client) push(ctx context.Context, rec *recorder, dir string, files map[string][]byte, w int) error {
	for name, b := range files {
		p := filepath.Join(dir, name)
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, b) {
			continue // unchanged: keep its mtime, so the parent's node is reused
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	res, err := c.api.StoreDir(ctx, dir, siloclient.StoreOptions{Project: writerProject(w), Tags: []string{"load"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	rec.bytesW.Add(res.BytesUploaded)
	return nil
}

func (c *client) reader(ctx, stop context.Context, r int, rec *recorder, ids []string, ready *readySet) {
	rng := rand.New(rand.NewPCG(uint64(r), 42))
	for i := 0; stop.Err() == nil; i++ {
		switch n := rng.IntN(100); {
		case n < 20:
			c.timed(rec, "GET /stats", func() error { return c.getJSON(ctx, "/api/storage/stats", nil) })
		case n < 50:
			q := filters[rng.IntN(len(filters))]
			c.timed(rec, "GET /projects (filtered)", func() error { return c.getJSON(ctx, "/api/storage/projects?"+q, nil) })
		case n < 65:
			id := ids[rng.IntN(len(ids))]
			c.timed(rec, "GET /projects/{id}", func() error { return c.getJSON(ctx, "/api/storage/projects/"+id, nil) })
		case n < 80:
			id := ids[rng.IntN(len(ids))]
			c.timed(rec, "GET archive (seeded, tar)", func() error { return c.download(ctx, rec, "/api/storage/projects/"+id+"/archive?format=tar", false) })
		case n < 95:
			w, ok := ready.any(rng)
			if !ok {
				continue
			}
			c.timed(rec, "GET archive (load, tar.gz)", func() error {
				return c.download(ctx, rec, "/api/storage/projects/"+writerProject(w)+"/archive?format=tar.gz", true)
			})
		default:
			w, ok := ready.any(rng)
			if !ok {
				continue
			}
			c.timed(rec, "GET file (Range)", func() error {
				req, err := c.api.NewRequest(ctx, "GET", "/api/storage/projects/"+writerProject(w)+"/files/assets/blob.bin", nil, nil)
				if err != nil {
					return err
				}
				req.Header.Set("Range", "bytes=1000-66535")
				resp, err := c.api.Do(req)
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				n, err := io.Copy(io.Discard, resp.Body)
				if err == nil && (resp.StatusCode != 206 || n != 65536) {
					err = fmt.Errorf("range answer %d with %d bytes", resp.StatusCode, n)
				}
				rec.bytesR.Add(n)
				return err
			})
		}
	}
}

// download reads an archive whole, checking it is a complete tar stream.
func (c *client) download(ctx context.Context, rec *recorder, path string, gz bool) error {
	resp, err := c.do(ctx, "GET", path, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	cr := &countReader{r: resp.Body}
	var r io.Reader = cr
	if gz {
		zr, err := gzipReader(cr)
		if err != nil {
			return err
		}
		r = zr
	}
	tr := tar.NewReader(r)
	files := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if h.Typeflag == tar.TypeReg {
			files++
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return err
		}
	}
	rec.bytesR.Add(cr.n)
	if files == 0 {
		return fmt.Errorf("%s: no files in the archive", path)
	}
	return nil
}

func gzipReader(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
