package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store/config"
)

// Web pages and DNS rebinding: a cross-origin request, a form or text/plain
// body and a Host that is not the server's are refused; the server's own
// origin, loopback names and configured hosts are served.
func TestCrossSiteAndRebindingRefused(t *testing.T) {
	s := newTestServer(t, func(c *config.Config, o *Options) {
		c.API.AllowedHosts = []string{"silo.internal"}
		o.AllowedHosts = []string{"10.9.8.7:99"}
	})
	port := s.ts.Listener.Addr().(*net.TCPAddr).Port
	own := fmt.Sprintf("http://127.0.0.1:%d", port)
	tests := []struct {
		name, method, path string
		body               string
		headers            []string
		status             int
		code               string
	}{
		{"cross-site POST", "POST", "/api/storage/cleanup", "", []string{"Origin", "https://evil.example"}, 403, "forbidden_origin"},
		{"sandboxed page", "POST", "/api/storage/cleanup", "", []string{"Origin", "null"}, 403, "forbidden_origin"},
		{"cross-site GET", "GET", "/api/storage/stats", "", []string{"Origin", "http://localhost:3000"}, 403, "forbidden_origin"},
		{"same host, other port", "DELETE", "/api/storage/projects/x", "", []string{"Origin", "http://127.0.0.1:1"}, 403, "forbidden_origin"},
		{"form body", "POST", "/api/storage/cleanup", "dry_run=true", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"text/plain body", "POST", "/api/storage/cleanup", `{"dry_run":true}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"multipart body", "POST", "/api/storage/cleanup", `{"dry_run":true}`, []string{"Content-Type", "multipart/form-data; boundary=x"}, 415, "unsupported_media_type"},
		{"JSON body with no type", "POST", "/api/storage/cleanup", `{"dry_run":true}`, []string{"Content-Type", ""}, 415, "unsupported_media_type"},
		{"rebinding", "GET", "/api/storage/stats", "", []string{"Host", "rebind.evil.example"}, 421, "forbidden_host"},
		{"rebinding with port", "GET", "/api/storage/stats", "", []string{"Host", fmt.Sprintf("rebind.evil.example:%d", port)}, 421, "forbidden_host"},
		{"rebinding healthz", "GET", "/healthz", "", []string{"Host", "evil.example"}, 421, "forbidden_host"},
		{"listed host, other port", "GET", "/api/storage/stats", "", []string{"Host", "10.9.8.7:100"}, 421, "forbidden_host"},
		{"suffix of a listed host", "GET", "/api/storage/stats", "", []string{"Host", "evil-silo.internal"}, 421, "forbidden_host"},

		{"own origin", "GET", "/api/storage/stats", "", []string{"Origin", own}, 200, ""},
		{"no body, any type", "POST", "/api/storage/cleanup?wait=true", "", []string{"Content-Type", "application/x-www-form-urlencoded"}, 200, ""},
		{"JSON", "POST", "/api/storage/cleanup?wait=true", `{"dry_run":true}`, []string{"Content-Type", "application/json; charset=utf-8"}, 200, ""},
		{"localhost", "GET", "/api/storage/stats", "", []string{"Host", fmt.Sprintf("localhost:%d", port)}, 200, ""},
		{"LOCALHOST.", "GET", "/api/storage/stats", "", []string{"Host", "LOCALHOST."}, 200, ""},
		{"::1", "GET", "/api/storage/stats", "", []string{"Host", fmt.Sprintf("[::1]:%d", port)}, 200, ""},
		{"127/8", "GET", "/api/storage/stats", "", []string{"Host", "127.1.2.3"}, 200, ""},
		{"api.allowed_hosts", "GET", "/api/storage/stats", "", []string{"Host", "silo.internal:8080"}, 200, ""},
		{"Options.AllowedHosts", "GET", "/api/storage/stats", "", []string{"Host", "10.9.8.7:99"}, 200, ""},
		{"own origin with its Host", "GET", "/api/storage/stats", "", []string{"Host", "silo.internal", "Origin", "https://silo.internal"}, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body *strings.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			var r response
			if body == nil {
				r = s.do(tc.method, tc.path, nil, tc.headers...)
			} else {
				r = s.do(tc.method, tc.path, body, tc.headers...)
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.code != "" {
				if code := r.errCode(t); code != tc.code {
					t.Errorf("code %q, want %q", code, tc.code)
				}
			}
		})
	}
	// nothing the refused requests asked for ran: only the two accepted
	// cleanups are jobs
	if jobs := s.api.Jobs(); len(jobs) != 2 {
		t.Errorf("%d jobs ran, want the 2 accepted cleanups: %+v", len(jobs), jobs)
	}
}

// An extract writes only below api.extract_roots (default cache/), never
// into the repository (config.json once got overwritten), its ancestors,
// or through a symlink out of the roots; nothing is written when refused.
func TestExtractDestinations(t *testing.T) {
	var roots string
	s := newTestServer(t, func(c *config.Config, o *Options) {
		roots = filepath.Join(filepath.Dir(c.BasePath), "allowed")
		c.API.ExtractRoots = []string{roots}
	})
	dir := s.dir
	base := s.cfg.BasePath
	up := s.upload("demo", makeTar(t, sampleTree(t, 1)...), "")
	mkdir := func(p string) {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mkdir(roots)
	mkdir(filepath.Join(dir, "elsewhere"))
	if err := os.Symlink(base, filepath.Join(roots, "to-repo")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "elsewhere"), filepath.Join(roots, "to-elsewhere")); err != nil {
		t.Fatal(err)
	}
	cfgBefore, err := os.ReadFile(filepath.Join(base, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	extract := "/api/storage/extract/" + up.ProjectID + "?wait=true"
	for _, tc := range []struct {
		dest   string
		status int
		says   string
	}{
		{base, 403, "is the repository"},
		{base + "/", 403, "is the repository"},
		{filepath.Join(base, "packs", "x"), 403, "is the repository"},
		{filepath.Join(base, "cache"), 403, "is the repository"},
		{filepath.Join(roots, "to-repo"), 403, "is the repository"},
		{filepath.Join(roots, "to-repo", "cache", "..", "index.db"), 403, "is the repository"},
		{filepath.Join(dir, "elsewhere", "x"), 403, "outside the extract roots " + roots},
		{filepath.Join(roots, "to-elsewhere", "x"), 403, "outside the extract roots"},
		{filepath.Join(roots, "..", "elsewhere"), 403, "outside the extract roots"},
		{"/", 403, "is the repository"},
		{"relative/dir", 400, "absolute"},
	} {
		r := s.do("POST", extract, jsonBody(map[string]string{"destination": tc.dest}))
		if r.status != tc.status || !strings.Contains(string(r.body), tc.says) {
			t.Errorf("extract to %s: %d %s, want %d saying %q", tc.dest, r.status, r.body, tc.status, tc.says)
		}
	}
	after, _ := os.ReadFile(filepath.Join(base, "config.json"))
	if !bytes.Equal(after, cfgBefore) {
		t.Fatal("a refused extract changed config.json")
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "elsewhere")); len(ents) != 0 {
		t.Fatalf("a refused extract wrote %v", ents)
	}
	for _, j := range s.api.Jobs() {
		if j.Kind == "extract" {
			t.Fatalf("a refused extract started a job: %+v", j)
		}
	}
	dest := filepath.Join(roots, "ws")
	s.must(200, "POST", extract, jsonBody(map[string]string{"destination": dest}))
	if _, err := os.Stat(filepath.Join(dest, "src", "main.go")); err != nil {
		t.Errorf("extract to %s: %v", dest, err)
	}
}

// A root that holds the repository (here through a symlink) still keeps
// the repository out of bounds, except below its cache/.
func TestExtractRootAboveRepository(t *testing.T) {
	s := newTestServer(t, func(c *config.Config, o *Options) {
		wide := filepath.Join(filepath.Dir(filepath.Dir(c.BasePath)), "wide")
		os.Symlink(filepath.Dir(c.BasePath), wide)
		c.API.ExtractRoots = []string{wide}
	})
	up := s.upload("demo", makeTar(t, sampleTree(t, 1)...), "")
	extract := "/api/storage/extract/" + up.ProjectID + "?wait=true"
	wide := filepath.Join(filepath.Dir(s.dir), "wide")
	for _, dest := range []string{wide, filepath.Join(wide, "storage"), filepath.Join(wide, "storage", "packs"), s.dir, filepath.Join(wide, "storage", "cache")} {
		if r := s.do("POST", extract, jsonBody(map[string]string{"destination": dest})); r.status != 403 || !strings.Contains(string(r.body), "is the repository") {
			t.Errorf("extract to %s: %d %s", dest, r.status, r.body)
		}
	}
	for _, dest := range []string{filepath.Join(wide, "ws"), filepath.Join(wide, "storage", "cache", "wb")} {
		s.must(200, "POST", extract, jsonBody(map[string]string{"destination": dest}))
		if _, err := os.Stat(filepath.Join(dest, "src", "main.go")); err != nil {
			t.Errorf("extract to %s: %v", dest, err)
		}
	}
}

// With no api.extract_roots only cache/ may be written to.
func TestExtractDefaultRootIsCache(t *testing.T) {
	s := newTestServer(t)
	up := s.upload("demo", makeTar(t, sampleTree(t, 1)...), "")
	extract := "/api/storage/extract/" + up.ProjectID + "?wait=true"
	r := s.do("POST", extract, jsonBody(map[string]string{"destination": filepath.Join(s.dir, "ws")}))
	if r.status != 403 || r.errCode(t) != "forbidden_destination" || !strings.Contains(string(r.body), filepath.Join(s.cfg.BasePath, "cache")) {
		t.Fatalf("extract outside cache/ with default roots: %d %s", r.status, r.body)
	}
	s.must(200, "POST", extract, jsonBody(map[string]string{"destination": filepath.Join(s.cfg.BasePath, "cache", "mine")}))
	s.must(200, "POST", extract, nil) // a new workbench id under cache/
}

// A backup through the API goes to backup.destination or to one listed in
// api.backup_destinations; relative paths and others are refused.
func TestBackupDestinations(t *testing.T) {
	var extra string
	s := newTestServer(t, func(c *config.Config, o *Options) {
		extra = filepath.Join(filepath.Dir(c.BasePath), "second")
		c.API.BackupDestinations = []string{extra, "s3://bucket/silo"}
	})
	s.upload("demo", makeTar(t, file("a.txt", []byte("a"))), "")
	for _, tc := range []struct {
		dest   string
		status int
		code   string
	}{
		{"relative/dir", 400, "invalid"},
		{"./backups", 400, "invalid"},
		{filepath.Join(s.dir, "other"), 403, "forbidden_destination"},
		{s.cfg.BasePath, 403, "forbidden_destination"},
		{"s3://bucket/other", 403, "forbidden_destination"},
	} {
		r := s.do("POST", "/api/storage/backup?wait=true", jsonBody(map[string]string{"destination": tc.dest}))
		if r.status != tc.status || r.errCode(t) != tc.code {
			t.Errorf("backup to %s: %d %s, want %d %s", tc.dest, r.status, r.body, tc.status, tc.code)
		}
	}
	if len(s.api.Jobs()) != 0 {
		t.Fatalf("refused backups started jobs")
	}
	s.must(200, "POST", "/api/storage/backup?wait=true", jsonBody(map[string]string{"destination": extra}))
	s.must(200, "POST", "/api/storage/backup?wait=true", jsonBody(map[string]string{"destination": s.cfg.Backup.Destination + "/"}))
	s.must(200, "POST", "/api/storage/backup?wait=true", nil)
}

// stalledUpload opens a tar upload that sends half its body and stops.
func stalledUpload(t *testing.T, s *testServer, name string, tarball []byte) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", s.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /api/storage/projects?name=%s&job_id=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n", name, name, testToken, len(tarball))
	conn.Write(tarball[:len(tarball)/2])
	return conn
}

// An upload that stops sending is cut after the idle timeout: its job
// fails with body_timeout, the client gets 408, nothing is recorded. A slow
// upload that keeps sending is not cut, however long it takes.
func TestStalledUploadIsCut(t *testing.T) {
	const idle = 400 * time.Millisecond
	s := newTestServer(t, func(_ *config.Config, o *Options) { o.BodyIdleTimeout = idle; o.UploadJobThreshold = 1000 })
	tarball := makeTar(t, sampleTree(t, 2)...)
	conn := stalledUpload(t, s, "stalled", tarball)
	start := time.Now()
	st := s.waitJob("stalled")
	if st.State != StateFailed || st.Error == nil || st.Error.Code != "body_timeout" {
		t.Fatalf("stalled upload job: %+v %+v", st, st.Error)
	}
	if d := time.Since(start); d > 10*idle {
		t.Errorf("cut after %v (idle timeout %v)", d, idle)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("the stalled client got %d, want 408", resp.StatusCode)
	}
	s.must(404, "GET", "/api/storage/projects/stalled", nil)

	// a stalled JSON body is cut too
	jc, err := net.Dial("tcp", s.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer jc.Close()
	fmt.Fprintf(jc, "POST /api/storage/blobs/missing HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ids\": [", testToken)
	jc.SetReadDeadline(time.Now().Add(10 * idle))
	resp, err = http.ReadResponse(bufio.NewReader(jc), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("a stalled JSON body got %d, want 408", resp.StatusCode)
	}

	// slow but steady: 3x the idle timeout in all, never idle for long
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < len(tarball); i += len(tarball) / 6 {
			pw.Write(tarball[i:min(i+len(tarball)/6, len(tarball))])
			time.Sleep(idle / 2)
		}
		pw.Close()
	}()
	s.must(201, "POST", "/api/storage/projects?name=slow", pr, "Content-Type", "application/x-tar")
}

// At most MaxUploadsPerClient uploads run at once from one address: 10
// clients that stop sending hold 8 slots, the others are answered 429;
// the idle timeout frees the slots.
func TestUploadsPerClientCap(t *testing.T) {
	const idle = 2 * time.Second
	s := newTestServer(t, func(_ *config.Config, o *Options) { o.BodyIdleTimeout = idle; o.UploadJobThreshold = 1000 })
	tarball := makeTar(t, sampleTree(t, 3)...)
	var conns []net.Conn
	for i := range 8 {
		conns = append(conns, stalledUpload(t, s, fmt.Sprintf("held-%d", i), tarball))
	}
	// wait until the eight hold their slots (their jobs are running)
	waitCount(t, "uploads running", 8, func() (running int) {
		for _, j := range s.api.Jobs() {
			if j.State == StateRunning {
				running++
			}
		}
		return running
	})
	for range 2 {
		r := s.do("POST", "/api/storage/projects?name=ninth", bytes.NewReader(tarball), "Content-Type", "application/x-tar")
		if r.status != 429 || r.errCode(t) != "too_many_uploads" || r.header.Get("Retry-After") == "" {
			t.Fatalf("ninth upload: %d %s", r.status, r.body)
		}
	}
	data := []byte("blob")
	if r := s.do("PUT", "/api/storage/blobs/"+object.Hash(data).String(), bytes.NewReader(data)); r.status != 429 {
		t.Fatalf("blob upload beside 8 stalled uploads: %d %s", r.status, r.body)
	}
	// the timeout ends them all as failed and frees the slots
	for i := range conns {
		if st := s.waitJob(fmt.Sprintf("held-%d", i)); st.State != StateFailed {
			t.Errorf("held-%d: %s", i, st.State)
		}
	}
	s.upload("after", tarball, "")
}

// A workbench id the cache cannot hold (over 255 bytes, a path, a dot
// file) is a 400 naming the rule, before any job starts.
func TestWorkbenchIDRefused(t *testing.T) {
	s := newTestServer(t)
	s.upload("demo", makeTar(t, sampleTree(t, 1)...), "")
	for id, want := range map[string]string{
		strings.Repeat("w", 300): "300 bytes long",
		"../x":                   "'/'",
		".hidden":                "starts with a dot",
	} {
		b, _ := json.Marshal(map[string]string{"workbench_id": id})
		r := s.do("POST", "/api/storage/extract/demo?wait=true", strings.NewReader(string(b)), "Content-Type", "application/json")
		if r.status != 400 || r.errCode(t) != "invalid" || !strings.Contains(string(r.body), want) {
			t.Errorf("workbench id %.20q: %d %s; want 400 invalid saying %q", id, r.status, r.body, want)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(s.cfg.BasePath, "cache")); len(entries) != 0 {
		t.Errorf("the cache holds %d entries after refused extracts", len(entries))
	}
}

// A workbench id in use is a 409 naming what it holds, before any job
// starts; "force": true replaces its contents.
func TestWorkbenchInUse(t *testing.T) {
	s := newTestServer(t)
	s.upload("demo", makeTar(t, sampleTree(t, 1)...), "")
	body := `{"workbench_id": "wb1"}`
	r := s.do("POST", "/api/storage/extract/demo?wait=true", strings.NewReader(body), "Content-Type", "application/json")
	if r.status != 200 && r.status != 202 {
		t.Fatalf("first extract: %d %s", r.status, r.body)
	}
	r = s.do("POST", "/api/storage/extract/demo?wait=true", strings.NewReader(body), "Content-Type", "application/json")
	if r.status != 409 || r.errCode(t) != "exists" || !strings.Contains(string(r.body), `project \"demo\"`) {
		t.Errorf("extract into a workbench in use: %d %s", r.status, r.body)
	}
	r = s.do("POST", "/api/storage/extract/demo?wait=true", strings.NewReader(`{"workbench_id": "wb1", "force": true}`), "Content-Type", "application/json")
	if r.status != 200 && r.status != 202 {
		t.Errorf("forced extract: %d %s", r.status, r.body)
	}
}
