package store

// End-to-end tests of repositories, backups and imports on S3: a real
// S3-protocol server (gofakes3 in memory, served over HTTP on 127.0.0.1)
// started by each test, optionally behind a fault injector.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store/config"
)

// ---- the server ----

// s3Fault may answer a request itself (returning true) instead of letting
// it through to the S3 server; n numbers the requests from 1.
type s3Fault func(n int64, w http.ResponseWriter, r *http.Request, next http.Handler) bool

// s3Fake is gofakes3 over HTTP on 127.0.0.1:0 with request counters and a
// swappable fault injector in front.
type s3Fake struct {
	mem *s3mem.Backend
	s3  http.Handler
	srv *httptest.Server

	mu    sync.Mutex
	fault s3Fault

	requests   atomic.Int64 // every request
	injected   atomic.Int64 // answered by the fault injector
	multiparts atomic.Int64 // multipart uploads started
	parts      atomic.Int64 // parts uploaded
	getBytes   atomic.Int64 // body bytes sent in answers to GETs
}

func newS3Fake(t *testing.T, buckets ...string) *s3Fake {
	t.Helper()
	f := &s3Fake{mem: s3mem.New()}
	f.s3 = gofakes3.New(f.mem).Server()
	for _, b := range buckets {
		if err := f.mem.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	f.srv = httptest.NewUnstartedServer(f)
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // cut connections complain
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *s3Fake) setFault(fault s3Fault) {
	f.mu.Lock()
	f.fault = fault
	f.mu.Unlock()
}

func (f *s3Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.requests.Add(1)
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && q.Has("uploads"):
		f.multiparts.Add(1)
	case r.Method == http.MethodPut && q.Has("partNumber"):
		f.parts.Add(1)
	}
	f.mu.Lock()
	fault := f.fault
	f.mu.Unlock()
	if r.Method == http.MethodGet {
		w = &countingWriter{ResponseWriter: w, n: &f.getBytes}
	}
	if fault != nil {
		returned := false
		defer func() {
			if !returned {
				f.injected.Add(1) // the fault cut the connection
			}
		}()
		handled := fault(n, w, r, f.s3)
		returned = true
		if handled {
			f.injected.Add(1)
			return
		}
	}
	f.s3.ServeHTTP(w, r)
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// config is a configuration for a repository at base (a path or s3://),
// talking to this server, with its own index cache directory.
func (f *s3Fake) config(t *testing.T, base string) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.BasePath = base
	cfg.CacheDir = t.TempDir()
	cfg.S3 = config.S3Config{Endpoint: f.srv.URL, Region: "us-east-1", AccessKeyID: "silo", SecretAccessKey: "silo-secret"}
	return cfg
}

// backend opens location directly, to look at what the bucket holds.
func (f *s3Fake) backend(t *testing.T, location string) *object.S3 {
	t.Helper()
	be, err := object.NewS3(context.Background(), location, object.S3Options{Endpoint: f.srv.URL, Region: "us-east-1",
		AccessKeyID: "silo", SecretAccessKey: "silo-secret"})
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// usage returns the number and total size of the objects under location.
func (f *s3Fake) usage(t *testing.T, location string) (n int, size int64) {
	t.Helper()
	err := f.backend(t, location).List(context.Background(), "", func(fi object.FileInfo) error {
		n++
		size += fi.Size
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, size
}

// wipe deletes every object under location: the repository is gone.
func (f *s3Fake) wipe(t *testing.T, location string) {
	t.Helper()
	be := f.backend(t, location)
	var names []string
	ctx := context.Background()
	if err := be.List(ctx, "", func(fi object.FileInfo) error { names = append(names, fi.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if err := be.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := f.usage(t, location); n != 0 {
		t.Fatalf("%s still holds %d objects", location, n)
	}
}

// fail500Every answers every nth request with 500 InternalError.
func fail500Every(n int64) s3Fault {
	return func(i int64, w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if n > 1 && i%n != 0 {
			return false
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>InternalError</Code><Message>injected fault #%d</Message><Resource>%s</Resource><RequestId>%d</RequestId></Error>`,
			i, r.URL.Path, i)
		return true
	}
}

// resetEvery breaks every nth request's connection: a GET of an object
// gets half its body before the cut, anything else a TCP reset before an
// answer.
func resetEvery(n int64) s3Fault {
	return func(i int64, w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if i%n != 0 {
			return false
		}
		if r.Method == http.MethodGet && r.URL.RawQuery == "" && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1 {
			cw := &cutWriter{ResponseWriter: w}
			next.ServeHTTP(cw, r)
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
			panic(http.ErrAbortHandler) // drop the connection mid-body
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST rather than FIN
		}
		conn.Close()
		return true
	}
}

// cutWriter passes on half of the announced body, then fails.
type cutWriter struct {
	http.ResponseWriter
	left int64
	set  bool
}

func (c *cutWriter) WriteHeader(code int) {
	if !c.set {
		c.set = true
		var cl int64
		fmt.Sscan(c.Header().Get("Content-Length"), &cl)
		c.left = cl / 2
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if !c.set {
		c.WriteHeader(http.StatusOK)
	}
	if int64(len(p)) > c.left {
		n, _ := c.ResponseWriter.Write(p[:c.left])
		c.left -= int64(n)
		return n, errors.New("connection cut")
	}
	n, err := c.ResponseWriter.Write(p)
	c.left -= int64(n)
	return n, err
}

func (c *cutWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// ---- trees ----

// s3TreeOpts shape a generated project.
type s3TreeOpts struct {
	seed      uint64
	randomKiB int  // incompressible data beside the text files
	bigMiB    int  // one file of this many MiB (+ a few bytes); 0: none
	wholeSecs bool // mtimes without nanoseconds (for tar)
}

func s3Rand(seed uint64) *rand.ChaCha8 {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(key)
}

func s3Write(t *testing.T, path string, r io.Reader, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, r); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

var s3Words = strings.Fields("func main package import return if else for range struct interface map string int error nil true false type")

// s3Text returns n bytes of source-like text.
func s3Text(r *rand.ChaCha8, n int) []byte {
	var b bytes.Buffer
	var x [8]byte
	for b.Len() < n {
		r.Read(x[:])
		for _, c := range x[:6] {
			b.WriteString(s3Words[int(c)%len(s3Words)])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d\n", x[6])
	}
	return b.Bytes()[:n]
}

// s3MakeTree writes a project under root: nested text files, random
// binaries, an optional big file, empty files and directories, odd modes,
// symlinks (relative, absolute, dangling) and distinct mtimes everywhere.
func s3MakeTree(t *testing.T, root string, o s3TreeOpts) {
	t.Helper()
	r := s3Rand(o.seed)
	for i := range 30 {
		n := 1<<10 + int(r.Uint64()%(24<<10))
		s3Write(t, filepath.Join(root, "src", fmt.Sprintf("pkg%d", i%5), fmt.Sprintf("sub%d", i%2), fmt.Sprintf("f%02d.go", i)),
			bytes.NewReader(s3Text(r, n)), 0o644)
	}
	s3Write(t, filepath.Join(root, "bin", "tool"), io.LimitReader(s3Rand(o.seed*7+1), 200<<10), 0o755)
	if o.randomKiB > 0 {
		s3Write(t, filepath.Join(root, "data", "random.bin"), io.LimitReader(s3Rand(o.seed*7+2), int64(o.randomKiB)<<10), 0o640)
	}
	if o.bigMiB > 0 {
		s3Write(t, filepath.Join(root, "data", "big.bin"), io.LimitReader(s3Rand(o.seed*7+3), int64(o.bigMiB)<<20+12345), 0o644)
	}
	s3Write(t, filepath.Join(root, "README.md"), strings.NewReader(fmt.Sprintf("# project %d\n", o.seed)), 0o444)
	s3Write(t, filepath.Join(root, "empty.txt"), strings.NewReader(""), 0o600)
	s3Write(t, filepath.Join(root, "ünïcødé ✓.txt"), strings.NewReader("unicode\n"), 0o644)
	for _, d := range []string{"empty-dir", "build/cache"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "src", "pkg1"), 0o750); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{"current": "src/pkg0", "dangling": "/nonexistent/target", "up": "../outside"} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	s3Stamp(t, root, o.seed, o.wholeSecs)
}

// s3Stamp gives every entry under root (root included) its own mtime,
// deepest first so setting a child's does not disturb its parent's.
func s3Stamp(t *testing.T, root string, seed uint64, wholeSecs bool) {
	t.Helper()
	var paths []string
	if err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(paths, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	base := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(seed) * time.Hour)
	for i, p := range paths {
		ts := base.Add(time.Duration(i) * time.Minute)
		if !wholeSecs {
			ts = ts.Add(time.Duration(123456789 + i))
		}
		if err := lutimes(p, ts.UnixNano()); err != nil {
			t.Fatal(err)
		}
	}
}

func s3Open(t *testing.T, cfg *config.Config) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Config: cfg, Create: true})
	if err != nil {
		t.Fatalf("open %s: %v", cfg.BasePath, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func s3Save(t *testing.T, s *Store, dir, project string) *SaveResult {
	t.Helper()
	res, err := s.Save(context.Background(), dir, SaveOptions{Project: project})
	if err != nil {
		t.Fatalf("store %s as %s in %s: %v", dir, project, s.Location(), err)
	}
	return res
}

// s3Versions lists the version ids of a project ("" for every project),
// newest first.
func s3Versions(t *testing.T, s *Store, project string) []string {
	t.Helper()
	snaps, err := s.Snapshots(project)
	if err != nil {
		t.Fatalf("versions of %s: %v", project, err)
	}
	var ids []string
	for _, sn := range snaps {
		ids = append(ids, sn.ID)
	}
	return ids
}

// ---- tests ----

// TestS3RepositoryEndToEnd: a repository on S3 stores a tree with a file
// past the part size (multipart packs), restores it identically, checks
// clean with every blob read, and gives space back to the bucket after a
// hard delete and gc.
func TestS3RepositoryEndToEnd(t *testing.T) {
	f := newS3Fake(t, "silo")
	cfg := f.config(t, "s3://silo/repo")
	s := s3Open(t, cfg)
	if s.Location() != "s3://silo/repo" {
		t.Errorf("Location() = %s", s.Location())
	}
	if !strings.HasPrefix(s.BaseDir(), cfg.CacheDir) {
		t.Errorf("index cache %s is not under the cache directory %s", s.BaseDir(), cfg.CacheDir)
	}

	big := filepath.Join(t.TempDir(), "big")
	s3MakeTree(t, big, s3TreeOpts{seed: 1, randomKiB: 512, bigMiB: 17})
	bigWant := takeManifest(t, big)
	res := s3Save(t, s, big, "big")
	if f.multiparts.Load() == 0 || f.parts.Load() < 2 {
		t.Errorf("%d multipart uploads, %d parts: the >16 MiB pack did not go up in parts", f.multiparts.Load(), f.parts.Load())
	}
	if _, err := os.Stat(filepath.Join(s.BaseDir(), "index.db")); err != nil {
		t.Errorf("no index cache: %v", err)
	}
	restoreMatches(t, s, "big", bigWant)

	// a second version: one file changed, one added
	s3Write(t, filepath.Join(big, "src", "pkg0", "sub0", "f00.go"), strings.NewReader("package changed\n"), 0o644)
	s3Write(t, filepath.Join(big, "new.txt"), strings.NewReader("new\n"), 0o644)
	s3Stamp(t, big, 2, false)
	bigWant2 := takeManifest(t, big)
	res2 := s3Save(t, s, big, "big")
	if res2.Stats.BytesAdded > 1<<20 {
		t.Errorf("second version added %d bytes for two small changes", res2.Stats.BytesAdded)
	}
	restoreMatches(t, s, "big@"+res.Snapshot.String()[:12], bigWant)
	restoreMatches(t, s, "big", bigWant2)

	small := filepath.Join(t.TempDir(), "small")
	s3MakeTree(t, small, s3TreeOpts{seed: 3, randomKiB: 64})
	smallWant := takeManifest(t, small)
	s3Save(t, s, small, "small")
	rep := checkClean(t, s)
	if rep.ReadBytes < 17<<20 {
		t.Errorf("check read %d bytes; want every blob read", rep.ReadBytes)
	}

	// hard delete + gc give the big project's packs back
	_, before := f.usage(t, "s3://silo/repo")
	if _, err := s.Delete(context.Background(), "big", true); err != nil {
		t.Fatal(err)
	}
	gcr, err := s.GC(context.Background(), GCOptions{})
	if err != nil {
		t.Fatalf("gc: %v", err)
	}
	_, after := f.usage(t, "s3://silo/repo")
	t.Logf("bucket: %d bytes before gc, %d after; gc freed %d", before, after, gcr.Result.FreedBytes)
	if before-after < 17<<20 || gcr.Result.FreedBytes < 17<<20 {
		t.Errorf("gc freed %d bytes, bucket shrank by %d; want the big project's 17+ MiB back", gcr.Result.FreedBytes, before-after)
	}
	if _, err := s.Get("big"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("hard-deleted project: %v", err)
	}
	restoreMatches(t, s, "small", smallWant)
	checkClean(t, s)

	// the same after a reopen (index refreshed from the bucket)
	s.Close()
	s = s3Open(t, cfg)
	restoreMatches(t, s, "small", smallWant)
	if _, err := s.Get("big"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("hard-deleted project after reopen: %v", err)
	}
}

// TestS3IndexCache: the index of a repository on S3 is a disposable local
// cache. Without it, a reopen rebuilds it from the pack tables; a second
// machine (its own cache) sees what the first stored and vice versa.
func TestS3IndexCache(t *testing.T) {
	f := newS3Fake(t, "silo")
	cfgA := f.config(t, "s3://silo/shared")
	a := s3Open(t, cfgA)
	src := filepath.Join(t.TempDir(), "p")
	s3MakeTree(t, src, s3TreeOpts{seed: 11, randomKiB: 256})
	want1 := takeManifest(t, src)
	v1 := s3Save(t, a, src, "p")
	s3Save(t, a, src, "p") // unchanged: a second version of the same tree
	a.Close()

	// the cache is lost: reopening rebuilds it from the bucket
	if err := os.RemoveAll(cfgA.CacheDir); err != nil {
		t.Fatal(err)
	}
	got0 := f.getBytes.Load()
	a = s3Open(t, cfgA)
	t.Logf("index rebuild downloaded %d bytes", f.getBytes.Load()-got0)
	if vs := s3Versions(t, a, "p"); len(vs) != 2 || vs[1] != v1.Snapshot.String() {
		t.Fatalf("after rebuild: versions %v, want 2 ending with %s", vs, v1.Snapshot)
	}
	restoreMatches(t, a, "p", want1)
	checkClean(t, a)
	a.Close()

	// a second machine stores a new version...
	cfgB := f.config(t, "s3://silo/shared")
	b := s3Open(t, cfgB)
	if vs := s3Versions(t, b, "p"); len(vs) != 2 {
		t.Fatalf("second machine sees versions %v, want 2", vs)
	}
	s3Write(t, filepath.Join(src, "from-b.txt"), strings.NewReader("written on machine b\n"), 0o644)
	s3Stamp(t, src, 12, false)
	want2 := takeManifest(t, src)
	v3 := s3Save(t, b, src, "p")
	other := filepath.Join(t.TempDir(), "q")
	s3MakeTree(t, other, s3TreeOpts{seed: 13, randomKiB: 128})
	wantQ := takeManifest(t, other)
	s3Save(t, b, other, "q")
	b.Close()

	// ...which the first sees when it reopens
	a = s3Open(t, cfgA)
	if vs := s3Versions(t, a, "p"); len(vs) != 3 || vs[0] != v3.Snapshot.String() {
		t.Fatalf("first machine after reopen: versions %v, want 3 starting with %s", vs, v3.Snapshot)
	}
	restoreMatches(t, a, "p", want2)
	restoreMatches(t, a, "q", wantQ)
	checkClean(t, a)

	// the first deletes q and collects; the second drops the vanished packs
	if _, err := a.Delete(context.Background(), "q", true); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GC(context.Background(), GCOptions{}); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b = s3Open(t, cfgB)
	if _, err := b.Get("q"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("second machine still sees the purged project: %v", err)
	}
	restoreMatches(t, b, "p", want2)
	checkClean(t, b)
}

// TestS3Backup: a repository on S3 backs up to a local directory and to
// another bucket; with the primary and its cache gone, each backup restores
// the project into a directory and into a new primary.
func TestS3Backup(t *testing.T) {
	f := newS3Fake(t, "silo", "silo-backup")
	cfg := f.config(t, "s3://silo/repo")
	s := s3Open(t, cfg)
	src := filepath.Join(t.TempDir(), "p")
	s3MakeTree(t, src, s3TreeOpts{seed: 21, randomKiB: 256})
	want := takeManifest(t, src)
	s3Save(t, s, src, "p")
	ctx := context.Background()

	localDst := filepath.Join(t.TempDir(), "backups")
	dsts := []string{localDst, "s3://silo-backup/b"}
	ids := map[string]string{}
	for _, to := range dsts {
		br, err := s.Backup(ctx, BackupOptions{To: to})
		if err != nil {
			t.Fatalf("backup to %s: %v", to, err)
		}
		if br.PacksCopied+br.BlobsCopied == 0 || len(br.Projects) != 1 {
			t.Fatalf("backup to %s copied nothing: %+v", to, br)
		}
		ids[to] = br.ID
		// a second backup has nothing new to copy
		br2, err := s.Backup(ctx, BackupOptions{To: to})
		if err != nil {
			t.Fatalf("second backup to %s: %v", to, err)
		}
		if br2.BytesCopied != 0 {
			t.Errorf("second backup to %s copied %d bytes of unchanged data", to, br2.BytesCopied)
		}
	}
	s.Close()
	f.wipe(t, "s3://silo/repo")
	if err := os.RemoveAll(cfg.CacheDir); err != nil {
		t.Fatal(err)
	}

	for i, from := range dsts {
		t.Run(fmt.Sprintf("from-%d", i), func(t *testing.T) {
			// another machine: a fresh cache directory
			c := f.config(t, "s3://silo/restored")
			set, err := OpenBackups(ctx, c, from, nil, false)
			if err != nil {
				t.Fatalf("open backups at %s: %v", from, err)
			}
			defer set.Close()
			recs, err := set.List(ctx)
			if err != nil || len(recs) != 2 {
				t.Fatalf("backups at %s: %d records, %v", from, len(recs), err)
			}
			if _, err := set.Verify(ctx, ids[from], true); err != nil {
				t.Fatalf("verify backup at %s: %v", from, err)
			}
			dest := filepath.Join(t.TempDir(), "out")
			res, err := set.Restore(ctx, ids[from], RestoreBackupOptions{Dest: dest})
			if err != nil {
				t.Fatalf("restore from %s: %v", from, err)
			}
			if len(res.Paths) != 1 {
				t.Fatalf("restore from %s wrote %v", from, res.Paths)
			}
			if d := want.Diff(takeManifest(t, res.Paths[0])); len(d) > 0 {
				t.Fatalf("restore from %s differs:\n  %s", from, strings.Join(d, "\n  "))
			}

			// into a new primary on S3
			prim := f.config(t, fmt.Sprintf("s3://silo/restored-%d", i))
			if _, err := set.Restore(ctx, ids[from], RestoreBackupOptions{Primary: prim}); err != nil {
				t.Fatalf("restore from %s into %s: %v", from, prim.BasePath, err)
			}
			p := s3Open(t, prim)
			restoreMatches(t, p, "p", want)
			checkClean(t, p)
		})
	}
}

// TestS3BackupDestination: a local primary backs up to S3; with the primary
// gone, the S3 backup restores it.
func TestS3BackupDestination(t *testing.T) {
	f := newS3Fake(t, "silo-backup")
	repo := filepath.Join(t.TempDir(), "repo")
	cfg := f.config(t, repo)
	cfg.Backup.Destination = "s3://silo-backup/nightly"
	s := s3Open(t, cfg)
	src := filepath.Join(t.TempDir(), "p")
	s3MakeTree(t, src, s3TreeOpts{seed: 31, randomKiB: 256})
	want1 := takeManifest(t, src)
	s3Save(t, s, src, "p")
	ctx := context.Background()
	b1, err := s.Backup(ctx, BackupOptions{}) // to backup.destination
	if err != nil {
		t.Fatalf("backup to S3: %v", err)
	}
	if n, _ := f.usage(t, "s3://silo-backup/nightly"); n == 0 {
		t.Fatal("the backup bucket is empty")
	}
	s3Write(t, filepath.Join(src, "more.txt"), strings.NewReader("more\n"), 0o644)
	s3Stamp(t, src, 32, false)
	want2 := takeManifest(t, src)
	s3Save(t, s, src, "p")
	b2, err := s.Backup(ctx, BackupOptions{})
	if err != nil {
		t.Fatalf("second backup to S3: %v", err)
	}
	if b2.BytesCopied == 0 || b2.BytesCopied > 256<<10 {
		t.Errorf("incremental backup copied %d bytes for one small file", b2.BytesCopied)
	}
	s.Close()
	if err := os.RemoveAll(repo); err != nil {
		t.Fatal(err)
	}

	c := f.config(t, repo) // a fresh cache directory too
	set, err := OpenBackups(ctx, c, "s3://silo-backup/nightly", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	for id, want := range map[string]manifest{b1.ID: want1, b2.ID: want2} {
		if _, err := set.Verify(ctx, id, true); err != nil {
			t.Errorf("verify %s: %v", id, err)
		}
		res, err := set.Restore(ctx, id, RestoreBackupOptions{Dest: filepath.Join(t.TempDir(), "out")})
		if err != nil {
			t.Fatalf("restore %s: %v", id, err)
		}
		if d := want.Diff(takeManifest(t, res.Paths[0])); len(d) > 0 {
			t.Fatalf("restore of backup %s differs:\n  %s", id, strings.Join(d, "\n  "))
		}
	}
	// back into the (re-created) local primary, every version
	if _, err := set.Restore(ctx, b2.ID, RestoreBackupOptions{Primary: c}); err != nil {
		t.Fatalf("restore into %s: %v", repo, err)
	}
	p := s3Open(t, c)
	if vs := s3Versions(t, p, "p"); len(vs) != 2 {
		t.Fatalf("restored primary has versions %v, want 2", vs)
	}
	restoreMatches(t, p, "p", want2)
	checkClean(t, p)
}

// TestS3Faults: a store, check and restore complete while the server fails
// every Nth request, thanks to retries.
func TestS3Faults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault s3Fault
	}{
		{"500-every-5th", fail500Every(5)},
		{"reset-every-7th", resetEvery(7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newS3Fake(t, "silo")
			cfg := f.config(t, "s3://silo/flaky")
			cfg.PackSize = 1 << 20 // several packs
			src := filepath.Join(t.TempDir(), "p")
			s3MakeTree(t, src, s3TreeOpts{seed: 41, randomKiB: 3 << 10})
			want := takeManifest(t, src)
			f.setFault(tc.fault)
			s := s3Open(t, cfg)
			s3Save(t, s, src, "p")
			checkClean(t, s)
			restoreMatches(t, s, "p", want)
			s.Close()
			// and a rebuild of the index cache under faults
			if err := os.RemoveAll(cfg.CacheDir); err != nil {
				t.Fatal(err)
			}
			s = s3Open(t, cfg)
			restoreMatches(t, s, "p", want)
			t.Logf("%d requests, %d faults injected", f.requests.Load(), f.injected.Load())
			if f.injected.Load() < 10 {
				t.Errorf("only %d faults injected", f.injected.Load())
			}
			f.setFault(nil)
			checkClean(t, s)
		})
	}
}

// TestS3ServerDown: when every request fails, opening fails and a store
// fails within bounded time with an error naming the bucket, and nothing is
// recorded.
func TestS3ServerDown(t *testing.T) {
	f := newS3Fake(t, "silo-down")
	cfg := f.config(t, "s3://silo-down/repo")
	src := filepath.Join(t.TempDir(), "p")
	s3MakeTree(t, src, s3TreeOpts{seed: 51, randomKiB: 128})
	ctx := context.Background()
	const bound = 40 * time.Second

	s := s3Open(t, cfg)
	f.setFault(fail500Every(1))
	start := time.Now()
	_, err := s.Save(ctx, src, SaveOptions{Project: "p"})
	took := time.Since(start)
	t.Logf("store against a dead server: %v after %v", err, took.Round(time.Millisecond))
	if err == nil {
		t.Fatal("store succeeded against a server that fails every request")
	}
	if !strings.Contains(err.Error(), `"silo-down"`) {
		t.Errorf("error %q does not name the bucket", err)
	}
	if took > bound {
		t.Errorf("store took %v to give up", took)
	}
	if _, err := s.Get("p"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("a failed store recorded the project: %v", err)
	}
	if vs := s3Versions(t, s, ""); len(vs) != 0 {
		t.Errorf("a failed store recorded versions %v", vs)
	}
	var left []string
	filepath.WalkDir(filepath.Join(s.BaseDir(), "tmp"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("a failed store left temporary files: %v", left)
	}
	s.Close()

	// opening fails too, naming the bucket
	start = time.Now()
	s2, err := Open(ctx, Options{Config: cfg})
	took = time.Since(start)
	t.Logf("open against a dead server: %v after %v", err, took.Round(time.Millisecond))
	if err == nil {
		s2.Close()
		t.Fatal("open succeeded against a server that fails every request")
	}
	if !strings.Contains(err.Error(), `"silo-down"`) || took > bound {
		t.Errorf("open: %v after %v; want the bucket named within %v", err, took, bound)
	}

	// the server is back: nothing was recorded, the repository is clean and
	// takes the store
	f.setFault(nil)
	s = s3Open(t, cfg)
	if vs := s3Versions(t, s, ""); len(vs) != 0 {
		t.Errorf("after the outage: versions %v", vs)
	}
	checkClean(t, s)
	want := takeManifest(t, src)
	s3Save(t, s, src, "p")
	restoreMatches(t, s, "p", want)
}

// TestS3Import: a project comes straight from a .tar.gz object, into a
// local repository and into one on S3.
func TestS3Import(t *testing.T) {
	f := newS3Fake(t, "drop", "silo")
	src := filepath.Join(t.TempDir(), "p")
	s3MakeTree(t, src, s3TreeOpts{seed: 61, randomKiB: 300, wholeSecs: true})
	want := takeManifest(t, src)
	delete(want, ".") // a tar has no entry for the root
	tgz := tarGzOf(t, src)
	ctx := context.Background()
	if err := f.backend(t, "s3://drop/incoming").Put(ctx, "p.tar.gz", bytes.NewReader(tgz), int64(len(tgz))); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{filepath.Join(t.TempDir(), "repo"), "s3://silo/repo"} {
		s := s3Open(t, f.config(t, base))
		before := f.getBytes.Load()
		res, err := s.Import(ctx, "s3://drop/incoming/p.tar.gz", nil, SaveOptions{Project: "imported"})
		if err != nil {
			t.Fatalf("import into %s: %v", base, err)
		}
		if got := f.getBytes.Load() - before; got < int64(len(tgz)) {
			t.Errorf("import read %d bytes of a %d-byte object", got, len(tgz))
		}
		if res.Name != "imported" || !res.Created {
			t.Errorf("import result %+v", res)
		}
		dest := filepath.Join(t.TempDir(), "out")
		if _, _, err := s.Restore(ctx, "imported", dest, RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		got := takeManifest(t, dest)
		delete(got, ".")
		if d := want.Diff(got); len(d) > 0 {
			t.Fatalf("imported project in %s differs:\n  %s", base, strings.Join(d, "\n  "))
		}
		checkClean(t, s)

		_, err = s.Import(ctx, "s3://drop/incoming/missing.tar.gz", nil, SaveOptions{Project: "nothing"})
		if !errors.Is(err, object.ErrNotFound) || !strings.Contains(err.Error(), "missing.tar.gz") {
			t.Errorf("import of a missing object: %v", err)
		}
		if _, err := s.Get("nothing"); !errors.Is(err, ErrProjectNotFound) {
			t.Errorf("a failed import recorded a project: %v", err)
		}
	}
}

// TestS3RestoreReadsAhead: a restore from S3 reads the chunks of many
// small files with a few ranged GETs, each for many files, and a large
// file in pieces ahead of its writes; it downloads about what the bucket
// holds (not windows of it read twice) and restores identically.
func TestS3RestoreReadsAhead(t *testing.T) {
	f := newS3Fake(t, "silo")
	cfg := f.config(t, "s3://silo/ra")
	s := s3Open(t, cfg)
	src := filepath.Join(t.TempDir(), "p")
	s3MakeTree(t, src, s3TreeOpts{seed: 5, randomKiB: 3 << 10, bigMiB: 11})
	r := s3Rand(99)
	const many = 800
	for i := range many {
		s3Write(t, filepath.Join(src, "many", fmt.Sprintf("d%02d", i%40), fmt.Sprintf("f%04d.txt", i)),
			bytes.NewReader(s3Text(r, 300+int(r.Uint64()%8000))), 0o644)
	}
	s3Stamp(t, src, 5, false)
	want := takeManifest(t, src)
	s3Save(t, s, src, "p")
	_, stored := f.usage(t, "s3://silo/ra")

	var gets atomic.Int64
	f.setFault(func(_ int64, _ http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/packs/") {
			gets.Add(1)
		}
		return false
	})
	before := f.getBytes.Load()
	restoreMatches(t, s, "p", want)
	got := f.getBytes.Load() - before
	t.Logf("restore of %d+ files: %d pack GETs, %d bytes downloaded, the bucket holds %d", many, gets.Load(), got, stored)
	if gets.Load() > 40 {
		t.Errorf("%d GETs of packs for %d+ files: not read ahead in batches", gets.Load(), many)
	}
	if got > stored*11/10 {
		t.Errorf("downloaded %d bytes, the bucket holds %d: read more than once", got, stored)
	}
}
