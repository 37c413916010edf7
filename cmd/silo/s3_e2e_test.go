package main

// Process tests of the CLI with repositories, backups and imports on S3: a
// real S3-protocol server (gofakes3 in memory over HTTP on 127.0.0.1) runs
// inside the test process; silo finds it through AWS_ENDPOINT_URL.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
)

// s3CLI runs silo against one in-process S3 server with its own index
// cache directory.
type s3CLI struct {
	t        *testing.T
	endpoint string
	env      []string
	cache    string
}

func newS3CLI(t *testing.T, buckets ...string) *s3CLI {
	t.Helper()
	mem := s3mem.New()
	for _, b := range buckets {
		if err := mem.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewUnstartedServer(gofakes3.New(mem).Server())
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	c := &s3CLI{t: t, endpoint: srv.URL, cache: t.TempDir()}
	// no region: the client asks the server for the bucket's
	c.env = []string{"AWS_ENDPOINT_URL=" + srv.URL, "AWS_ACCESS_KEY_ID=silo", "AWS_SECRET_ACCESS_KEY=silo-secret",
		"AWS_SESSION_TOKEN=", "AWS_REGION=", "AWS_DEFAULT_REGION=", "AWS_ENDPOINT_URL_S3=", "XDG_CACHE_HOME=" + c.cache}
	return c
}

func (c *s3CLI) run(repo string, args ...string) result {
	c.t.Helper()
	cmd := siloCmd(c.t, repo, args...)
	cmd.Env = append(cmd.Env, c.env...)
	return runCmd(c.t, cmd)
}

func (c *s3CLI) mustRun(repo string, args ...string) result {
	c.t.Helper()
	res := c.run(repo, args...)
	if res.code != 0 {
		c.t.Fatalf("silo --repo %s %s: %s", repo, strings.Join(args, " "), res)
	}
	return res
}

// summary decodes the last JSON line of a --json command's output.
func (c *s3CLI) summary(res result, v any) {
	c.t.Helper()
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), v); err != nil {
		c.t.Fatalf("summary %q: %v", lines[len(lines)-1], err)
	}
}

func (c *s3CLI) restoreMatches(repo, ref string, want manifest, skipRoot bool) {
	c.t.Helper()
	dest := filepath.Join(c.t.TempDir(), "restore")
	c.mustRun(repo, "restore", ref, dest)
	got := takeManifest(c.t, dest)
	if skipRoot {
		delete(got, ".")
	}
	if d := want.Diff(got); len(d) > 0 {
		c.t.Fatalf("restore of %s from %s differs:\n  %s", ref, repo, strings.Join(d, "\n  "))
	}
}

// s3TarGz packs root's contents (not root itself) as .tar.gz.
func s3TarGz(t *testing.T, root string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	testutil.TarTree(t, gz, root)
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestE2ES3 drives the CLI with the repository at s3://silo/repo: init,
// store, restore, check --read-data, a lost index cache, import of a
// .tar.gz object, a backup to another bucket restored with the primary
// gone, and a missing bucket.
func TestE2ES3(t *testing.T) {
	c := newS3CLI(t, "silo", "silo-backup", "drop")
	const repo = "s3://silo/repo"
	src := filepath.Join(t.TempDir(), "src")
	genCorpus(t, src, 7, 4)
	s3WholeSeconds(t, src)
	want := takeManifest(t, src)

	c.mustRun(repo, "init")
	snap := c.storeVersion(repo, "p", src)
	c.restoreMatches(repo, "p", want, false)
	c.mustRun(repo, "check", "--read-data")

	// the index cache is disposable
	if dbs, _ := filepath.Glob(filepath.Join(c.cache, "silo", "*", "index.db")); len(dbs) != 1 {
		t.Errorf("index caches under XDG_CACHE_HOME: %v, want one", dbs)
	}
	if err := os.RemoveAll(filepath.Join(c.cache, "silo")); err != nil {
		t.Fatal(err)
	}
	res := c.mustRun(repo, "snapshots", "p")
	if !strings.Contains(res.stdout, snap[:8]) {
		t.Errorf("snapshots after losing the index cache do not list %s:\n%s", snap[:8], res.stdout)
	}
	c.restoreMatches(repo, "p@"+snap[:12], want, false)

	// import from a .tar.gz object
	tgz := s3TarGz(t, src)
	be, err := object.NewS3(context.Background(), "s3://drop/in", object.S3Options{Endpoint: c.endpoint,
		AccessKeyID: "silo", SecretAccessKey: "silo-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if err := be.Put(context.Background(), "p.tar.gz", bytes.NewReader(tgz), int64(len(tgz))); err != nil {
		t.Fatal(err)
	}
	c.mustRun(repo, "import", "--name", "imported", "s3://drop/in/p.tar.gz")
	wantNoRoot := manifest{}
	for k, v := range want {
		if k != "." {
			wantNoRoot[k] = v
		}
	}
	c.restoreMatches(repo, "imported", wantNoRoot, true)
	if res := c.run(repo, "import", "--name", "nothing", "s3://drop/in/missing.tar.gz"); res.code == 0 ||
		!strings.Contains(res.stderr, "missing.tar.gz") {
		t.Errorf("import of a missing object: %s", res)
	}

	// backup to another bucket, restored with the primary and its cache gone
	var sum struct {
		Result struct {
			ID string `json:"id"`
		} `json:"result"`
	}
	c.summary(c.mustRun(repo, "--json", "backup", "--to", "s3://silo-backup/b"), &sum)
	if sum.Result.ID == "" {
		t.Fatal("backup printed no id")
	}
	os.RemoveAll(filepath.Join(c.cache, "silo"))
	out := filepath.Join(t.TempDir(), "out")
	c.mustRun("s3://silo/gone", "backup", "restore", "--from", "s3://silo-backup/b", "--dest", out, sum.Result.ID)
	for _, name := range []string{"p", "imported"} {
		got := takeManifest(t, filepath.Join(out, name))
		w := want
		if name == "imported" {
			delete(got, ".")
			w = wantNoRoot
		}
		if d := w.Diff(got); len(d) > 0 {
			t.Fatalf("project %s restored from the S3 backup differs:\n  %s", name, strings.Join(d, "\n  "))
		}
	}

	// a missing bucket fails at once, naming it
	res = c.run("s3://no-such-bucket/repo", "snapshots")
	if res.code == 0 || !strings.Contains(res.stderr, "no-such-bucket") || !strings.Contains(res.stderr, "does not exist") {
		t.Errorf("missing bucket: %s", res)
	}
	if res.took > 5*time.Second {
		t.Errorf("missing bucket took %v to report", res.took)
	}
}

// storeVersion is the package's storeVersion with the S3 environment.
func (c *s3CLI) storeVersion(repo, project, dir string) string {
	c.t.Helper()
	var sum struct {
		Type   string `json:"type"`
		Result struct {
			Snapshot string `json:"snapshot"`
		} `json:"result"`
	}
	c.summary(c.mustRun(repo, "--json", "store", "--project", project, dir), &sum)
	if sum.Type != "summary" || len(sum.Result.Snapshot) != 64 {
		c.t.Fatalf("store summary: %+v", sum)
	}
	return sum.Result.Snapshot
}

// s3WholeSeconds drops the sub-second part of every mtime under root, so a
// tar of it keeps them exactly. Times are set on each entry itself, not on
// what a symlink points to.
func s3WholeSeconds(t *testing.T, root string) {
	t.Helper()
	var paths []string
	filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	for i := len(paths) - 1; i >= 0; i-- { // children before parents
		fi, err := os.Lstat(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := lutimes(paths[i], fi.ModTime().Unix()*1e9); err != nil {
			t.Fatal(err)
		}
	}
}
