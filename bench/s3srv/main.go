// Command s3srv is an in-memory S3-protocol server on a loopback address for
// bench/s3.sh: gofakes3 (s3mem) behind counters of requests and bytes.
//
//	s3srv [-addr 127.0.0.1:0] [-url-file FILE] BUCKET...
//
// It creates the buckets, listens, writes its base URL (http://host:port) to
// -url-file (and stdout) once it accepts connections, and serves until
// killed. GET /_stats answers the counters as JSON (bucket names cannot
// start with "_", so the path never shadows a bucket):
//
//	{"requests": 1234, "by_kind": {"get": 10, "put": 3, ...},
//	 "bytes_in": ..., "bytes_out": ..., "get_bytes": ..., "stored_bytes": ..., "objects": ...}
//
// bytes_in counts request bodies, bytes_out response bodies, get_bytes the
// bodies of object GETs (downloads); stored_bytes and objects describe what
// the buckets hold now. Requests to /_stats are not counted.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// kinds a request is counted under
var kinds = []string{"get", "head", "list", "put", "put_part", "multipart_init", "multipart_complete",
	"multipart_abort", "delete", "delete_multi", "bucket", "other"}

type counters struct {
	requests atomic.Int64
	bytesIn  atomic.Int64
	bytesOut atomic.Int64
	getBytes atomic.Int64
	byKind   map[string]*atomic.Int64
}

func newCounters() *counters {
	c := &counters{byKind: map[string]*atomic.Int64{}}
	for _, k := range kinds {
		c.byKind[k] = new(atomic.Int64)
	}
	return c
}

// kind classifies a path-style S3 request (/bucket or /bucket/key).
func kind(r *http.Request) string {
	path := strings.TrimPrefix(r.URL.Path, "/")
	_, key, _ := strings.Cut(path, "/")
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		switch {
		case key != "":
			return "get"
		case q.Has("location") || q.Has("versioning"):
			return "bucket"
		default:
			return "list"
		}
	case http.MethodHead:
		if key == "" {
			return "bucket"
		}
		return "head"
	case http.MethodPut:
		switch {
		case key == "":
			return "bucket"
		case q.Has("partNumber"):
			return "put_part"
		default:
			return "put"
		}
	case http.MethodPost:
		switch {
		case q.Has("uploads"):
			return "multipart_init"
		case q.Has("uploadId"):
			return "multipart_complete"
		case q.Has("delete"):
			return "delete_multi"
		}
	case http.MethodDelete:
		if q.Has("uploadId") {
			return "multipart_abort"
		}
		if key != "" {
			return "delete"
		}
		return "bucket"
	}
	return "other"
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

type countingWriter struct {
	http.ResponseWriter
	n   *atomic.Int64
	get *atomic.Int64 // nil unless an object GET
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(n))
	if w.get != nil {
		w.get.Add(int64(n))
	}
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type server struct {
	mem     *s3mem.Backend
	s3      http.Handler
	c       *counters
	buckets []string
	mu      sync.Mutex // one /_stats listing at a time
	trace   bool       // log every request (-trace)
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_stats" {
		s.stats(w)
		return
	}
	s.c.requests.Add(1)
	k := kind(r)
	if s.trace {
		log.Printf("%s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
	}
	s.c.byKind[k].Add(1)
	if r.Body != nil {
		r.Body = &countingBody{ReadCloser: r.Body, n: &s.c.bytesIn}
	}
	cw := &countingWriter{ResponseWriter: w, n: &s.c.bytesOut}
	if k == "get" {
		cw.get = &s.c.getBytes
	}
	s.s3.ServeHTTP(cw, r)
}

func (s *server) stats(w http.ResponseWriter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]any{
		"requests":  s.c.requests.Load(),
		"bytes_in":  s.c.bytesIn.Load(),
		"bytes_out": s.c.bytesOut.Load(),
		"get_bytes": s.c.getBytes.Load(),
	}
	byKind := map[string]int64{}
	for k, v := range s.c.byKind {
		if n := v.Load(); n > 0 {
			byKind[k] = n
		}
	}
	out["by_kind"] = byKind
	var objects, stored int64
	for _, b := range s.buckets {
		res, err := s.mem.ListBucket(b, nil, gofakes3.ListBucketPage{}) // no page: every key
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, o := range res.Contents {
			objects++
			stored += o.Size
		}
	}
	out["objects"], out["stored_bytes"] = objects, stored
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen `ADDRESS` (keep it on loopback)")
	urlFile := flag.String("url-file", "", "write the base URL to `FILE` once listening")
	trace := flag.Bool("trace", false, "log every request (method, path, query) to stderr")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: s3srv [-addr 127.0.0.1:0] [-url-file FILE] BUCKET...")
		flag.PrintDefaults()
	}
	flag.Parse()
	mem := s3mem.New()
	for _, b := range flag.Args() {
		if err := mem.CreateBucket(b); err != nil {
			log.Fatalf("s3srv: create bucket %s: %v", b, err)
		}
	}
	s := &server{mem: mem, s3: gofakes3.New(mem).Server(), c: newCounters(), buckets: flag.Args(), trace: *trace}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("s3srv: %v", err)
	}
	url := "http://" + ln.Addr().String()
	if *urlFile != "" {
		tmp := *urlFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(url+"\n"), 0o644); err != nil {
			log.Fatalf("s3srv: %v", err)
		}
		if err := os.Rename(tmp, *urlFile); err != nil {
			log.Fatalf("s3srv: %v", err)
		}
	}
	fmt.Println(url)
	srv := &http.Server{Handler: s, ErrorLog: log.New(io.Discard, "", 0)}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("s3srv: %v", err)
	}
}
