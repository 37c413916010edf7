// Package server is silo's HTTP API over package store: the orchestrator's
// storage guide under /api/storage (stats, projects, archive, delete,
// cleanup, extract, backup), streaming tar upload and download, one file
// with Range support, a dedup-aware upload protocol (missing blobs, blob
// upload, commit), long operations as jobs, bearer-token auth, an OpenAPI
// document, /healthz and Prometheus /metrics.
//
// # Conventions
//
// Bodies are JSON unless a route says otherwise; JSON bodies must be sent
// as application/json, are limited (Options.MaxBody), decoded strictly
// (unknown fields are an error) and optional where the guide calls a route
// with no body. Requests for a Host other than loopback, the listen host
// or api.allowed_hosts are answered 421 and cross-origin requests 403 (see
// guard.go); bodies that stall are cut and uploads per client bounded (see
// body.go); extract and backup destinations are bounded (see paths.go). Errors are
// {"error": {"code", "message", "details"}} with the status chosen in one
// place (statusOf): not found 404; invalid argument, malformed JSON or tar,
// blob digest mismatch 400; unsafe tar paths 422; name taken, missing blobs
// at commit, an operation already running 409; quota 413; body too large
// 413; repository locked or server shutting down 503; corruption and
// failed checks 500; client gone 499.
//
// # Jobs
//
// Backup, cleanup, extract and archive with export run as jobs: the route
// answers 202 with {"job_id", "status_url"} at once (or, with ?wait=true,
// waits and answers 200 with the job). GET /api/storage/jobs/{id} reports
// state (queued, running, succeeded, failed, canceled), files and bytes done
// and total, percent, error and result; DELETE cancels. A tar upload whose
// Content-Length passes Options.UploadJobThreshold (or is unknown) is a job
// too, but one that runs inside its request, because only the request can
// read the body: it is listed under /jobs (kind "upload") while the body
// streams in, can be polled and canceled from another connection (pass
// ?job_id=NAME to choose its id), and the upload itself answers 201 with the
// new version when done.
//
// # Dedup upload protocol
//
// GET /repository gives the chunker polynomial; the client chunks and hashes
// (BLAKE3-256) locally, asks POST /blobs/missing which ids the server lacks,
// PUTs only those (each hashed while read and refused on mismatch), and
// commits the root tree with POST /projects/{id}/versions. Blobs reported
// present or uploaded are pinned against garbage collection for
// Options.PinTTL; the commit walks the whole tree and refuses it with 409
// missing_blobs when anything is absent.
package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/silo-dev/silo/store"
)

// Options configure a Server. The zero value works: no auth (for tests and
// loopback use; `silo serve` refuses a non-loopback address without a
// token), 1 MiB JSON bodies, upload jobs above 16 MiB.
type Options struct {
	// Token is the bearer token every /api route (and /metrics) requires;
	// "" disables auth.
	Token  string
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
	// MaxBody bounds JSON request bodies (default 1 MiB).
	MaxBody int64
	// MaxUpload bounds tar upload bodies (0: unlimited; max_project_size
	// and total_quota still apply to what they hold).
	MaxUpload int64
	// UploadJobThreshold: a tar upload larger than this (or of unknown
	// length) is registered as a job (default 16 MiB; <0: never).
	UploadJobThreshold int64
	// JobRetention is how long finished jobs stay queryable (default 24h);
	// MaxJobs bounds how many finished jobs are kept (default 1000).
	JobRetention time.Duration
	MaxJobs      int
	// PinTTL is how long uploaded or reported blobs are pinned against
	// garbage collection while a client prepares its commit (default 30m).
	PinTTL time.Duration
	// ListLimit and MaxListLimit: default and largest page size of
	// GET /projects (default 1000 and 10000).
	ListLimit, MaxListLimit int
	// AllowedHosts are Host values answered besides loopback names and
	// addresses and api.allowed_hosts (silo serve adds the host of the
	// address it listens on). Other hosts are answered 421.
	AllowedHosts []string
	// BodyIdleTimeout cuts a request body that sends nothing for this
	// long with 408 (default 2 minutes; <0: never).
	BodyIdleTimeout time.Duration
	// MaxUploadsPerClient bounds the uploads (tar and blob) running at
	// once from one client address; one more is answered 429
	// (default 8; <0: no bound).
	MaxUploadsPerClient int
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 1 << 20
	}
	if o.UploadJobThreshold == 0 {
		o.UploadJobThreshold = 16 << 20
	}
	if o.JobRetention <= 0 {
		o.JobRetention = 24 * time.Hour
	}
	if o.MaxJobs <= 0 {
		o.MaxJobs = 1000
	}
	if o.ListLimit <= 0 {
		o.ListLimit = 1000
	}
	if o.MaxListLimit <= 0 {
		o.MaxListLimit = 10000
	}
	if o.ListLimit > o.MaxListLimit {
		o.ListLimit = o.MaxListLimit
	}
	if o.BodyIdleTimeout == 0 {
		o.BodyIdleTimeout = 2 * time.Minute
	}
	if o.MaxUploadsPerClient == 0 {
		o.MaxUploadsPerClient = 8
	}
}

// Server is the HTTP API. It is an http.Handler; Shutdown cancels its jobs
// and in-flight requests and waits for them, after which the store may be
// closed.
type Server struct {
	st      *store.Store
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []Route
	jobs    *jobs
	uploads *store.Uploads
	metrics *metrics
	hosts   *hostGuard
	slots   *uploadSlots

	// cached whole-repository reads, see cache.go
	gen       generation
	statsMemo memo[*store.Stats]
	listMemo  memo[[]store.ListItem]

	// base is canceled by Shutdown: every job and request context
	// derives from it.
	base     context.Context
	cancel   context.CancelFunc
	inflight sync.WaitGroup
	mu       sync.Mutex
	closing  bool
}

// Route is one documented route.
type Route struct {
	Method  string // GET, POST, PUT, DELETE
	Path    string // ServeMux path pattern, e.g. /api/storage/projects/{id}
	Summary string
	Auth    bool // requires the token (when one is set)
	handler http.HandlerFunc
}

// Pattern is the ServeMux pattern of the route.
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// New returns the API over an open, writable store.
func New(st *store.Store, opts Options) *Server {
	opts.defaults()
	s := &Server{st: st, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.metrics = newMetrics()
	s.metrics.watchHooks(st.HookStats)
	s.statsMemo = memo[*store.Stats]{gen: &s.gen, now: opts.Now}
	s.listMemo = memo[[]store.ListItem]{gen: &s.gen, now: opts.Now}
	s.jobs = newJobs(s.base, opts.Now, opts.JobRetention, opts.MaxJobs, s.metrics, s.log)
	s.jobs.onFinish = s.gen.bump
	s.uploads = st.NewUploads(opts.PinTTL)
	s.hosts = newHostGuard(append(slices.Clone(st.Config().API.AllowedHosts), opts.AllowedHosts...))
	s.slots = &uploadSlots{max: opts.MaxUploadsPerClient, used: map[string]int{}}
	s.routes = s.routeTable()
	for _, rt := range s.routes {
		s.mux.Handle(rt.Pattern(), s.wrap(rt))
	}
	// unknown /api paths answer in the API's error format
	s.mux.HandleFunc("/api/", s.notFound)
	return s
}

// Routes returns the route table (for documentation and tests).
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		w.Header().Set("Connection", "close")
		writeError(w, r, errShuttingDown)
		return
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()
	if !s.guard(w, r) {
		return
	}
	// the request ends when the client goes or the server shuts down
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	stop := context.AfterFunc(s.base, func() { cancel(errShuttingDown) })
	defer stop()
	s.mux.ServeHTTP(w, r.WithContext(ctx))
}

// Shutdown refuses new requests, cancels running jobs and requests, and
// waits for them to return (or for ctx). Pins of uploads are released.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.cancel()
	s.jobs.cancelAll()
	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		s.jobs.wait()
		close(done)
	}()
	select {
	case <-done:
		s.uploads.Close()
		return nil
	case <-ctx.Done():
		return errors.New("server: jobs or requests still running at shutdown")
	}
}

// Jobs lists the jobs (for the scheduler and tests).
func (s *Server) Jobs() []JobStatus { return s.jobs.list("", "") }

// wrap adds auth, metrics and logging to a route.
func (s *Server) wrap(rt Route) http.Handler {
	label := rt.Pattern()
	// requests that may change the catalogue or the packs invalidate the
	// cached whole-repository reads
	mutates := rt.Method != http.MethodGet && !strings.HasSuffix(rt.Path, "/blobs/missing")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w}
		defer func() {
			if mutates {
				s.gen.bump()
			}
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					s.metrics.observe(label, 0, time.Since(start))
					panic(p)
				}
				s.log.Error("handler panic", "route", label, "panic", p)
				if !rw.wrote {
					writeError(rw, r, errors.New("internal error"))
				}
			}
			s.metrics.observe(label, rw.code(), time.Since(start))
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", rw.code(), "duration", time.Since(start))
		}()
		if rt.Auth && !s.authorized(r) {
			s.unauthorized(rw)
			return
		}
		rt.handler(rw, r)
	})
}

// statusWriter records the status for metrics. It passes Flush through
// (streamed downloads) and exposes the underlying writer for
// http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if !w.wrote {
		return http.StatusOK
	}
	return w.status
}
