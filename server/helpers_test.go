package server

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/store"
	"github.com/silo-dev/silo/store/config"
)

const testToken = "s3cret-test-token"

// testServer is a real server on 127.0.0.1 (httptest) over a real store in
// a temporary directory.
type testServer struct {
	t     testing.TB
	dir   string
	cfg   *config.Config
	st    *store.Store
	api   *Server
	ts    *httptest.Server
	wire  *countingTransport
	hc    *http.Client
	token string
}

type configT = config.Config

type serverOpt func(*configT, *Options)

func newTestServer(t testing.TB, mods ...serverOpt) *testServer {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Default()
	cfg.BasePath = filepath.Join(dir, "storage")
	cfg.CacheDir = filepath.Join(dir, "xdg-cache")
	cfg.Backup.Destination = filepath.Join(dir, "backups")
	cfg.PackSize = 1 << 20
	opts := Options{Token: testToken, UploadJobThreshold: 1 << 20}
	for _, m := range mods {
		m(cfg, &opts)
	}
	// a fixed polynomial keeps chunk boundaries (and so dedup counts) the
	// same from run to run
	st, err := store.Open(context.Background(), store.Options{Config: cfg, Create: true, Polynomial: "3da3358b4dc173"})
	if err != nil {
		t.Fatal(err)
	}
	api := New(st, opts)
	ts := httptest.NewServer(api)
	wire := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	s := &testServer{t: t, dir: dir, cfg: cfg, st: st, api: api, ts: ts, wire: wire,
		hc: &http.Client{Transport: wire}, token: opts.Token}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := api.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		ts.Close()
		// every test leaves a repository that checks clean
		rep, err := st.Check(context.Background(), store.CheckOptions{ReadData: true})
		if err != nil {
			t.Errorf("check after the test: %v", err)
		} else if len(rep.Problems) > 0 {
			t.Errorf("check after the test: %v", rep.Problems)
		}
		st.Close()
	})
	return s
}

// countingTransport counts request body bytes sent on the wire.
type countingTransport struct {
	base http.RoundTripper
	sent atomic.Int64
}

type countingBody struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (b countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n.Add(int64(n))
	return n, err
}

func (b countingBody) Close() error { return b.r.Close() }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body = countingBody{req.Body, &c.sent}
	}
	return c.base.RoundTrip(req)
}

// response is an answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("answer %d is not JSON (%v): %.300s", r.status, err, r.body)
	}
}

func (r response) errCode(t testing.TB) string {
	t.Helper()
	var e errorBody
	r.json(t, &e)
	return e.Error.Code
}

// do sends a request with the token (unless headers override
// Authorization) and reads the answer.
func (s *testServer) do(method, path string, body io.Reader, headers ...string) response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.ts.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	if _, ok := body.(jsonReader); ok {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// must sends a request and fails the test unless the status is want.
func (s *testServer) must(want int, method, path string, body io.Reader, headers ...string) response {
	s.t.Helper()
	r := s.do(method, path, body, headers...)
	if r.status != want {
		s.t.Fatalf("%s %s: status %d, want %d: %.500s", method, path, r.status, want, r.body)
	}
	return r
}

// jsonReader is a JSON request body: do sends it as application/json.
type jsonReader struct{ *bytes.Reader }

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return jsonReader{bytes.NewReader(b)}
}

// upload stores a tar as project name and returns the answer.
func (s *testServer) upload(name string, tarball []byte, query string) uploadAnswer {
	s.t.Helper()
	r := s.must(201, "POST", "/api/storage/projects?name="+name+query, bytes.NewReader(tarball), "Content-Type", "application/x-tar")
	var a uploadAnswer
	r.json(s.t, &a)
	return a
}

// waitJob polls a job until it finishes.
func (s *testServer) waitJob(id string) JobStatus {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st JobStatus
		r := s.do("GET", "/api/storage/jobs/"+id, nil)
		if r.status == http.StatusNotFound && time.Now().Before(deadline) {
			// a job started by a request on another connection exists
			// once the server has read that request's head
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if r.status != http.StatusOK {
			s.t.Fatalf("GET /api/storage/jobs/%s: status %d: %s", id, r.status, r.body)
		}
		r.json(s.t, &st)
		if st.Finished != nil {
			return st
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("job %s still %s", id, st.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// entry is one member of a test tar.
type entry struct {
	name   string
	typ    byte
	mode   int64
	body   []byte
	target string
	mtime  time.Time
}

var testMTime = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)

func file(name string, body []byte) entry {
	return entry{name: name, typ: tar.TypeReg, mode: 0o644, body: body, mtime: testMTime}
}

func dir(name string) entry {
	return entry{name: name, typ: tar.TypeDir, mode: 0o755, mtime: testMTime}
}

func symlink(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, mode: 0o777, target: target, mtime: testMTime}
}

func makeTar(t testing.TB, entries ...entry) []byte {
	t.Helper()
	tes := make([]testutil.TarEntry, len(entries))
	for i, e := range entries {
		tes[i] = testutil.TarEntry{Header: tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode,
			Linkname: e.target, ModTime: e.mtime}, Body: e.body}
	}
	return testutil.Tar(t, tes...)
}

// tarMember is a tar entry read back.
type tarMember struct {
	typ    byte
	mode   int64
	body   string
	target string
	mtime  time.Time
}

func readTar(t testing.TB, r io.Reader) map[string]tarMember {
	t.Helper()
	out := map[string]tarMember{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		out[name] = tarMember{typ: h.Typeflag, mode: h.Mode & 0o7777, body: string(b), target: h.Linkname, mtime: h.ModTime}
	}
}

// sampleTree is a small project: nested directories, an empty one, an
// executable, a symlink and a multi-chunk file.
func sampleTree(t testing.TB, seed uint64) []entry {
	return []entry{
		dir("src"),
		file("src/main.go", []byte("package main\n\nfunc main() {}\n")),
		file("go.mod", []byte("module example.com/demo\n\ngo 1.22\n")),
		{name: "run.sh", typ: tar.TypeReg, mode: 0o755, body: []byte("#!/bin/sh\necho hi\n"), mtime: testMTime},
		dir("empty"),
		symlink("link", "src/main.go"),
		file("data/big.bin", testutil.RandomBytes(seed, 3<<20+12345)),
	}
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
