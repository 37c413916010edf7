package object_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/object/backendtest"
)

// fakeS3 is an in-memory S3 server on 127.0.0.1; handler sits in front of
// gofakes3 and defaults to it.
type fakeS3 struct {
	mem     *s3mem.Backend
	s3      http.Handler
	handler http.Handler
	srv     *httptest.Server
	tls     bool
	buckets atomic.Int64
}

// newFakeS3 serves plain HTTP, where minio-go signs uploads with the
// streaming (aws-chunked) signature.
func newFakeS3(t *testing.T) *fakeS3 { return startFakeS3(t, false) }

// newFakeS3TLS serves HTTPS, where minio-go sends unsigned payloads.
// gofakes3 does not decode aws-chunked bodies of multipart parts, so
// multipart uploads are tested over TLS.
func newFakeS3TLS(t *testing.T) *fakeS3 { return startFakeS3(t, true) }

func startFakeS3(t *testing.T, tls bool) *fakeS3 {
	t.Helper()
	f := &fakeS3{mem: s3mem.New(), tls: tls}
	f.s3 = gofakes3.New(f.mem).Server()
	f.handler = f.s3
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.handler.ServeHTTP(w, r)
	}))
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // cut connections complain
	if tls {
		f.srv.StartTLS()
	} else {
		f.srv.Start()
	}
	t.Cleanup(f.srv.Close)
	return f
}

// newBucket creates a fresh bucket and returns its name.
func (f *fakeS3) newBucket(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("silo-test-%03d", f.buckets.Add(1))
	if err := f.mem.CreateBucket(name); err != nil {
		t.Fatal(err)
	}
	return name
}

func (f *fakeS3) options() object.S3Options {
	opts := object.S3Options{
		Endpoint:        f.srv.URL,
		AccessKeyID:     "silo-test",
		SecretAccessKey: "silo-test-secret",
	}
	if f.tls {
		opts.Transport = f.srv.Client().Transport
	}
	return opts
}

func (f *fakeS3) open(t *testing.T, location string, opts object.S3Options) *object.S3 {
	t.Helper()
	be, err := object.NewS3(context.Background(), location, opts)
	if err != nil {
		t.Fatalf("NewS3(%s): %v", location, err)
	}
	return be
}

func TestS3Conformance(t *testing.T) {
	f := newFakeS3(t)
	t.Run("PrefixPerTest", func(t *testing.T) {
		bucket := f.newBucket(t)
		var n atomic.Int64
		backendtest.Run(t, func(t *testing.T) object.Backend {
			loc := fmt.Sprintf("s3://%s/repos/r%03d/", bucket, n.Add(1))
			return f.open(t, loc, f.options())
		})
	})
	t.Run("BucketPerTest", func(t *testing.T) {
		backendtest.Run(t, func(t *testing.T) object.Backend {
			opts := f.options()
			opts.Region = "us-east-1"
			return f.open(t, "s3://"+f.newBucket(t), opts)
		})
	})
}

func TestS3Location(t *testing.T) {
	f := newFakeS3(t)
	bucket := f.newBucket(t)
	for loc, want := range map[string]string{
		"s3://" + bucket:                   "s3://" + bucket,
		"s3://" + bucket + "/":             "s3://" + bucket,
		"s3://" + bucket + "/a/b/":         "s3://" + bucket + "/a/b",
		"S3://" + bucket + "//deep/prefix": "s3://" + bucket + "/deep/prefix",
	} {
		if got := f.open(t, loc, f.options()).Location(); got != want {
			t.Errorf("Location() of %s = %s, want %s", loc, got, want)
		}
	}
}

func TestS3PrefixIsolation(t *testing.T) {
	f := newFakeS3(t)
	bucket := f.newBucket(t)
	a := f.open(t, "s3://"+bucket+"/a", f.options())
	ab := f.open(t, "s3://"+bucket+"/ab", f.options())
	ctx := context.Background()
	if err := a.Put(ctx, "x", strings.NewReader("1"), 1); err != nil {
		t.Fatal(err)
	}
	if err := ab.Put(ctx, "y", strings.NewReader("2"), 1); err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := a.List(ctx, "", func(fi object.FileInfo) error {
		names = append(names, fi.Name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != "x" {
		t.Errorf("List of s3://%s/a = %q, want [x]", bucket, names)
	}
	if _, err := a.Stat(ctx, "y"); !errors.Is(err, object.ErrNotFound) {
		t.Errorf("Stat of a name under another prefix: %v", err)
	}
}

func readAll(t *testing.T, be object.Backend, name string, off, n int64) []byte {
	t.Helper()
	rc, err := be.Get(context.Background(), name, off, n)
	if err != nil {
		t.Fatalf("Get(%s): %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%s): read: %v", name, err)
	}
	return b
}

// plain hides every ability of a reader but Read.
type plain struct{ io.Reader }

func TestS3Multipart(t *testing.T) {
	f := newFakeS3TLS(t)
	opts := f.options()
	opts.PartSize = 5 << 20
	be := f.open(t, "s3://"+f.newBucket(t)+"/mp", opts)
	ctx := context.Background()
	b := testutil.RandomBytes(1, 11<<20+123)
	if err := be.Put(ctx, "packs/aa/seekable", bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	if err := be.Put(ctx, "packs/aa/spooled", plain{bytes.NewReader(b)}, int64(len(b))); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"packs/aa/seekable", "packs/aa/spooled"} {
		if got := readAll(t, be, name, 0, -1); !bytes.Equal(got, b) {
			t.Errorf("%s: got %d bytes back, want %d", name, len(got), len(b))
		}
	}
	if got := readAll(t, be, "packs/aa/spooled", 6<<20, 1000); !bytes.Equal(got, b[6<<20:6<<20+1000]) {
		t.Errorf("ranged read across a part boundary differs")
	}
	if err := be.Put(ctx, "packs/aa/short", plain{bytes.NewReader(b[:6<<20])}, int64(len(b))); err == nil {
		t.Error("a short spooled put returned nil")
	}
	if _, err := be.Stat(ctx, "packs/aa/short"); !errors.Is(err, object.ErrNotFound) {
		t.Errorf("Stat after a short put: %v", err)
	}
}

func TestS3PutFile(t *testing.T) {
	f := newFakeS3(t)
	be := f.open(t, "s3://"+f.newBucket(t)+"/pf", f.options())
	ctx := context.Background()
	want := testutil.RandomBytes(2, 70_000)
	dir := t.TempDir()
	for i := range 2 { // the second finds the name taken
		path := filepath.Join(dir, fmt.Sprintf("pack-%d", i))
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := be.PutFile(ctx, "packs/bb/file", path); err != nil {
			t.Fatalf("PutFile #%d: %v", i+1, err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("PutFile #%d left the local file: %v", i+1, err)
		}
	}
	if got := readAll(t, be, "packs/bb/file", 0, -1); !bytes.Equal(got, want) {
		t.Errorf("got %d bytes back, want %d", len(got), len(want))
	}
}

func TestS3MissingBucket(t *testing.T) {
	f := newFakeS3(t)
	var requests atomic.Int64
	f.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		f.s3.ServeHTTP(w, r)
	})
	start := time.Now()
	_, err := object.NewS3(context.Background(), "s3://no-such-bucket/repo", f.options())
	if err == nil {
		t.Fatal("NewS3 of a missing bucket returned nil")
	}
	t.Logf("error: %v", err)
	for _, want := range []string{`"no-such-bucket"`, "NoSuchBucket", "does not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if d := time.Since(start); d > 2*time.Second || requests.Load() > 2 {
		t.Errorf("missing bucket took %v and %d requests; want an immediate failure", d, requests.Load())
	}
}

// denied answers every request with a 403 S3 error, as AWS does for bad
// credentials; gofakes3 does not check signatures.
func denied(code string, requests *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>%s</Code><Message>injected %s</Message><Resource>%s</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>`,
			code, code, r.URL.Path)
	})
}

func TestS3BadCredentials(t *testing.T) {
	for _, code := range []string{"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"} {
		t.Run(code, func(t *testing.T) {
			f := newFakeS3(t)
			bucket := f.newBucket(t)
			var requests atomic.Int64
			f.handler = denied(code, &requests)
			start := time.Now()
			_, err := object.NewS3(context.Background(), "s3://"+bucket+"/repo", f.options())
			if err == nil {
				t.Fatal("NewS3 with refused credentials returned nil")
			}
			t.Logf("error: %v", err)
			for _, want := range []string{bucket, code, "repo/"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %s", err, want)
				}
			}
			if d := time.Since(start); d > 2*time.Second || requests.Load() > 2 {
				t.Errorf("refused credentials took %v and %d requests; want an immediate failure", d, requests.Load())
			}
		})
	}
}

func TestS3DeniedAfterOpen(t *testing.T) {
	f := newFakeS3(t)
	bucket := f.newBucket(t)
	opts := f.options()
	opts.Region = "us-east-1"
	be := f.open(t, "s3://"+bucket+"/repo", opts)
	var requests atomic.Int64
	f.handler = denied("AccessDenied", &requests)
	ctx := context.Background()
	checks := map[string]error{
		"put":    be.Put(ctx, "packs/cc/x", strings.NewReader("x"), 1),
		"get":    func() error { _, err := be.Get(ctx, "packs/cc/x", 0, -1); return err }(),
		"stat":   func() error { _, err := be.Stat(ctx, "packs/cc/x"); return err }(),
		"list":   be.List(ctx, "packs/", func(object.FileInfo) error { return nil }),
		"delete": be.Delete(ctx, "packs/cc/x"),
	}
	for op, err := range checks {
		if err == nil {
			t.Errorf("%s: nil error while access is denied", op)
			continue
		}
		if errors.Is(err, object.ErrNotFound) {
			t.Errorf("%s: access denied reported as not found: %v", op, err)
		}
		for _, want := range []string{bucket, "repo/packs/", "AccessDenied"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %s", op, err, want)
			}
		}
	}
	if n := requests.Load(); n != int64(len(checks)) {
		t.Errorf("%d requests for %d refused operations; refusals must not be retried", n, len(checks))
	}
}

// faults answers 500 InternalError instead of passing a request on: every
// Nth request, or every request while down.
type faults struct {
	next     http.Handler
	every    int64
	down     atomic.Bool
	requests atomic.Int64
	injected atomic.Int64
}

func (f *faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.requests.Add(1)
	if f.down.Load() || (f.every > 0 && n%f.every == 0) {
		f.injected.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>InternalError</Code><Message>injected fault #%d</Message><Resource>%s</Resource><RequestId>1</RequestId></Error>`,
			n, r.URL.Path)
		return
	}
	f.next.ServeHTTP(w, r)
}

func TestS3RetriesTransientErrors(t *testing.T) {
	f := newFakeS3TLS(t)
	bucket := f.newBucket(t)
	flaky := &faults{next: f.s3, every: 3}
	f.handler = flaky
	opts := f.options()
	opts.PartSize = 5 << 20
	var logs lockedBuffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	be := f.open(t, "s3://"+bucket+"/flaky", opts)
	ctx := context.Background()
	files := map[string][]byte{}
	for i := range 8 {
		name := fmt.Sprintf("packs/%02x/p%d", i, i)
		files[name] = testutil.RandomBytes(uint64(10+i), 20_000+i*1000)
		var r io.Reader = bytes.NewReader(files[name])
		if i%2 == 1 {
			r = plain{r} // buffered by Put, so it can be re-sent too
		}
		if err := be.Put(ctx, name, r, int64(len(files[name]))); err != nil {
			t.Fatalf("Put(%s): %v", name, err)
		}
	}
	big := testutil.RandomBytes(99, 6<<20+5) // multipart, spooled
	if err := be.Put(ctx, "packs/ff/big", plain{bytes.NewReader(big)}, int64(len(big))); err != nil {
		t.Fatalf("multipart Put: %v", err)
	}
	files["packs/ff/big"] = big
	for name, want := range files {
		if got := readAll(t, be, name, 0, -1); !bytes.Equal(got, want) {
			t.Errorf("%s: got %d bytes, want %d", name, len(got), len(want))
		}
		if got := readAll(t, be, name, 100, 50); !bytes.Equal(got, want[100:150]) {
			t.Errorf("%s: ranged read differs", name)
		}
		fi, err := be.Stat(ctx, name)
		if err != nil || fi.Size != int64(len(want)) {
			t.Errorf("Stat(%s) = %+v, %v", name, fi, err)
		}
	}
	n := 0
	if err := be.List(ctx, "packs/", func(object.FileInfo) error { n++; return nil }); err != nil || n != len(files) {
		t.Errorf("List found %d files (%v), want %d", n, err, len(files))
	}
	for name := range files {
		if err := be.Delete(ctx, name); err != nil {
			t.Errorf("Delete(%s): %v", name, err)
		}
	}
	t.Logf("%d requests, %d failed by injection", flaky.requests.Load(), flaky.injected.Load())
	if flaky.injected.Load() < 10 {
		t.Errorf("only %d faults injected; the test did not exercise retries", flaky.injected.Load())
	}
	if got, want := int64(strings.Count(logs.String(), "s3 request failed")), flaky.injected.Load(); got != want {
		t.Errorf("%d failed attempts logged, want %d", got, want)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestS3GivesUp(t *testing.T) {
	f := newFakeS3(t)
	bucket := f.newBucket(t)
	broken := &faults{next: f.s3}
	f.handler = broken
	opts := f.options()
	opts.Region = "us-east-1"
	opts.Retries = 3
	be := f.open(t, "s3://"+bucket+"/down", opts)
	opts.Retries = 100
	patient := f.open(t, "s3://"+bucket+"/down", opts)
	ctx := context.Background()
	if err := be.Put(ctx, "packs/00/ok", strings.NewReader("ok"), 2); err != nil {
		t.Fatal(err)
	}

	broken.down.Store(true)
	ops := map[string]func() error{
		"put": func() error { return be.Put(ctx, "packs/00/new", strings.NewReader("new"), 3) },
		"get": func() error {
			rc, err := be.Get(ctx, "packs/00/ok", 0, -1)
			if err == nil {
				rc.Close()
			}
			return err
		},
		"list": func() error { return be.List(ctx, "", func(object.FileInfo) error { return nil }) },
	}
	for op, fn := range ops {
		before := broken.requests.Load()
		start := time.Now()
		err := fn()
		d, n := time.Since(start), broken.requests.Load()-before
		t.Logf("%s: %d requests in %v: %v", op, n, d, err)
		if err == nil {
			t.Errorf("%s succeeded against a server that fails everything", op)
			continue
		}
		// a HEAD (Put checks for the name first) has no error body
		for _, want := range []string{bucket, "500", "gave up after 3 retries"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not mention %s", op, err, want)
			}
		}
		if n != 4 {
			t.Errorf("%s: %d requests, want 1 + 3 retries", op, n)
		}
		if d > 10*time.Second {
			t.Errorf("%s: took %v to give up", op, d)
		}
	}

	// a context deadline bounds the retrying too
	tctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := patient.Put(tctx, "packs/00/new", strings.NewReader("new"), 3)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("Put with a deadline: %v after %v", err, time.Since(start))
	}
}

// breakGets cuts off the first download of every object after limit bytes
// by closing the connection.
type breakGets struct {
	next  http.Handler
	limit int

	mu     sync.Mutex
	seen   map[string]bool
	broken atomic.Int64
	gets   atomic.Int64
}

func (b *breakGets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	isObjectGet := r.Method == http.MethodGet && strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1 && r.URL.RawQuery == ""
	if !isObjectGet {
		b.next.ServeHTTP(w, r)
		return
	}
	b.gets.Add(1)
	b.mu.Lock()
	first := !b.seen[r.URL.Path]
	b.seen[r.URL.Path] = true
	b.mu.Unlock()
	if !first {
		b.next.ServeHTTP(w, r)
		return
	}
	b.broken.Add(1)
	cw := &cutWriter{ResponseWriter: w, left: b.limit}
	b.next.ServeHTTP(cw, r)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	panic(http.ErrAbortHandler) // drop the connection mid-body
}

type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) > c.left {
		n, _ := c.ResponseWriter.Write(p[:c.left])
		c.left -= n
		return n, errors.New("connection cut")
	}
	n, err := c.ResponseWriter.Write(p)
	c.left -= n
	return n, err
}

func TestS3ResumesBrokenDownload(t *testing.T) {
	f := newFakeS3(t)
	bucket := f.newBucket(t)
	be := f.open(t, "s3://"+bucket+"/resume", f.options())
	ctx := context.Background()
	want := testutil.RandomBytes(3, 300_000)
	if err := be.Put(ctx, "packs/ab/pack", bytes.NewReader(want), int64(len(want))); err != nil {
		t.Fatal(err)
	}
	if err := be.Put(ctx, "packs/ab/pack2", bytes.NewReader(want), int64(len(want))); err != nil {
		t.Fatal(err)
	}
	cut := &breakGets{next: f.s3, limit: 70_000, seen: map[string]bool{}}
	f.handler = cut
	if got := readAll(t, be, "packs/ab/pack", 0, -1); !bytes.Equal(got, want) {
		t.Errorf("whole read after a broken download: got %d bytes, want %d", len(got), len(want))
	}
	if got := readAll(t, be, "packs/ab/pack2", 1000, 200_000); !bytes.Equal(got, want[1000:201_000]) {
		t.Errorf("ranged read after a broken download: got %d bytes, want 200000", len(got))
	}
	if cut.broken.Load() != 2 || cut.gets.Load() != 4 {
		t.Errorf("%d downloads broken, %d GETs; want 2 broken and 2 resumed", cut.broken.Load(), cut.gets.Load())
	}
}

func TestParseS3URL(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, prefix string
		bad                bool
	}{
		{in: "s3://bucket", bucket: "bucket"},
		{in: "s3://bucket/", bucket: "bucket"},
		{in: "s3://bucket/prefix", bucket: "bucket", prefix: "prefix"},
		{in: "s3://bucket/a/b/c/", bucket: "bucket", prefix: "a/b/c"},
		{in: "s3://my.bucket-1//lead", bucket: "my.bucket-1", prefix: "lead"},
		{in: "S3://bucket/p", bucket: "bucket", prefix: "p"},
		{in: "s3://", bad: true},
		{in: "s3:///prefix", bad: true},
		{in: "bucket/prefix", bad: true},
		{in: "https://bucket/prefix", bad: true},
		{in: "s3://bucket/a//b", bad: true},
		{in: "s3://bucket/a/../b", bad: true},
		{in: "s3://ab/x", bad: true},
		{in: "s3://bad..dots/x", bad: true},
	} {
		bucket, prefix, err := object.ParseS3URL(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseS3URL(%q) = %q, %q; want an error", tc.in, bucket, prefix)
			}
			continue
		}
		if err != nil || bucket != tc.bucket || prefix != tc.prefix {
			t.Errorf("ParseS3URL(%q) = %q, %q, %v; want %q, %q", tc.in, bucket, prefix, err, tc.bucket, tc.prefix)
		}
	}
}

func TestS3OptionsFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	got := object.S3OptionsFromEnv(env(map[string]string{
		"AWS_ENDPOINT_URL":      "http://127.0.0.1:9000",
		"AWS_DEFAULT_REGION":    "eu-central-1",
		"AWS_ACCESS_KEY_ID":     "AKID",
		"AWS_SECRET_ACCESS_KEY": "SECRET",
		"AWS_SESSION_TOKEN":     "TOKEN",
	}))
	want := object.S3Options{
		Endpoint: "http://127.0.0.1:9000", Region: "eu-central-1",
		AccessKeyID: "AKID", SecretAccessKey: "SECRET", SessionToken: "TOKEN",
		Insecure: true,
	}
	if got != want {
		t.Errorf("S3OptionsFromEnv = %+v, want %+v", got, want)
	}
	got = object.S3OptionsFromEnv(env(map[string]string{
		"AWS_ENDPOINT_URL":    "https://minio.example.com",
		"AWS_ENDPOINT_URL_S3": "https://s3.example.com",
		"AWS_REGION":          "us-west-2",
		"AWS_DEFAULT_REGION":  "eu-central-1",
	}))
	if got.Endpoint != "https://s3.example.com" || got.Region != "us-west-2" || got.Insecure {
		t.Errorf("S3OptionsFromEnv = %+v", got)
	}
	if got := object.S3OptionsFromEnv(env(nil)); got != (object.S3Options{}) {
		t.Errorf("S3OptionsFromEnv of an empty environment = %+v", got)
	}
}

func TestNewS3BadOptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		loc  string
		opts object.S3Options
	}{
		{"bucket/prefix", object.S3Options{}},
		{"s3://bucket", object.S3Options{Endpoint: "ftp://host"}},
		{"s3://bucket", object.S3Options{Endpoint: "http://host/path"}},
		{"s3://bucket", object.S3Options{Endpoint: "http://127.0.0.1:1", PartSize: 1 << 20}},
	} {
		if _, err := object.NewS3(ctx, tc.loc, tc.opts); err == nil {
			t.Errorf("NewS3(%q, %+v) returned nil", tc.loc, tc.opts)
		}
	}
}
