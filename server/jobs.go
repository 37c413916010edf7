package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/silo-dev/silo/snapshot"
)

// Job states.
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateCanceled  = "canceled"
)

// maxRunningJobs bounds background jobs running at once; more wait queued.
const maxRunningJobs = 4

// JobStatus is a job as GET /api/storage/jobs/{id} shows it.
type JobStatus struct {
	ID         string       `json:"job_id"`
	Kind       string       `json:"kind"` // backup, cleanup, extract, archive, upload
	State      string       `json:"state"`
	Trigger    string       `json:"trigger"` // api or schedule
	Target     string       `json:"target,omitempty"`
	StatusURL  string       `json:"status_url"`
	Created    time.Time    `json:"created_at"`
	Started    *time.Time   `json:"started_at,omitempty"`
	Finished   *time.Time   `json:"finished_at,omitempty"`
	Files      int64        `json:"files_done"`
	TotalFiles int64        `json:"files_total"`
	Bytes      int64        `json:"bytes_done"`
	TotalBytes int64        `json:"bytes_total"`
	Percent    float64      `json:"percent"`
	Error      *errorDetail `json:"error,omitempty"`
	Result     any          `json:"result,omitempty"`
}

// job is one long operation.
type job struct {
	id, kind, trigger, target string
	prog                      snapshot.Counter
	cancel                    context.CancelFunc
	done                      chan struct{}

	mu       sync.Mutex
	state    string
	created  time.Time
	started  time.Time
	finished time.Time
	err      error
	result   any
}

func (j *job) status() JobStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	st := JobStatus{ID: j.id, Kind: j.kind, State: j.state, Trigger: j.trigger, Target: j.target,
		StatusURL: "/api/storage/jobs/" + j.id, Created: j.created, Result: j.result,
		Files: j.prog.Files.Load(), TotalFiles: j.prog.TotalFiles.Load(),
		Bytes: j.prog.Bytes.Load(), TotalBytes: j.prog.TotalBytes.Load()}
	if !j.started.IsZero() {
		t := j.started
		st.Started = &t
	}
	if !j.finished.IsZero() {
		t := j.finished
		st.Finished = &t
	}
	switch {
	case j.state == StateSucceeded:
		st.Percent = 100
	case st.TotalBytes > 0:
		st.Percent = min(100, 100*float64(st.Bytes)/float64(st.TotalBytes))
	case st.TotalFiles > 0:
		st.Percent = min(100, 100*float64(st.Files)/float64(st.TotalFiles))
	}
	st.Percent = float64(int(st.Percent*10)) / 10
	if j.err != nil {
		_, code, details := statusOf(j.err)
		st.Error = &errorDetail{Code: code, Message: j.err.Error(), Details: details}
	}
	return st
}

func (j *job) isFinished() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return !j.finished.IsZero()
}

// jobs is the registry. Background jobs run in their own goroutines under
// the server's base context; request-bound jobs (uploads) run in their
// handler and are only tracked here.
type jobs struct {
	base      context.Context
	now       func() time.Time
	retention time.Duration
	max       int
	metrics   *metrics
	log       *slog.Logger
	sem       chan struct{}
	onFinish  func() // after every job end (nil: nothing)

	mu   sync.Mutex
	byID map[string]*job
	all  []*job // creation order
	wg   sync.WaitGroup
}

func newJobs(base context.Context, now func() time.Time, retention time.Duration, max int, m *metrics, log *slog.Logger) *jobs {
	return &jobs{base: base, now: now, retention: retention, max: max, metrics: m, log: log,
		sem: make(chan struct{}, maxRunningJobs), byID: map[string]*job{}}
}

var jobIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// errJobRunning says a job of an exclusive kind is already queued or running.
func errJobRunning(j *job) error {
	return &apiError{status: 409, code: "job_running",
		msg:     fmt.Sprintf("a %s job is already %s (%s)", j.kind, j.state, j.id),
		details: map[string]string{"job_id": j.id, "status_url": "/api/storage/jobs/" + j.id}}
}

// add registers a job. exclusive refuses it while another of its kind is
// queued or running.
func (js *jobs) add(kind, id, trigger, target string, exclusive bool) (*job, error) {
	if id == "" {
		id = uuid.NewString()
	} else if !jobIDRE.MatchString(id) {
		return nil, badRequest("invalid", fmt.Sprintf("job id %q: use 1-64 letters, digits, '.', '_' or '-'", id))
	}
	js.mu.Lock()
	defer js.mu.Unlock()
	js.pruneLocked()
	if _, ok := js.byID[id]; ok {
		return nil, &apiError{status: 409, code: "exists", msg: fmt.Sprintf("job %q exists", id)}
	}
	if exclusive {
		for _, o := range js.all {
			if o.kind == kind && !o.isFinished() {
				return nil, errJobRunning(o)
			}
		}
	}
	j := &job{id: id, kind: kind, trigger: trigger, target: target, state: StateQueued, created: js.now().UTC(),
		done: make(chan struct{})}
	js.byID[id] = j
	js.all = append(js.all, j)
	js.wg.Add(1)
	js.metrics.jobStarted(kind)
	return j, nil
}

// runFunc does a job's work, reporting progress to prog.
type runFunc func(ctx context.Context, prog *snapshot.Counter) (any, error)

// start registers and launches a background job.
func (js *jobs) start(kind, trigger, target string, exclusive bool, run runFunc) (*job, error) {
	j, err := js.add(kind, "", trigger, target, exclusive)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(js.base)
	j.cancel = cancel
	go func() {
		defer cancel()
		select {
		case js.sem <- struct{}{}:
		case <-ctx.Done():
			js.finish(j, nil, ctx.Err())
			return
		}
		defer func() { <-js.sem }()
		j.mu.Lock()
		j.state, j.started = StateRunning, js.now().UTC()
		j.mu.Unlock()
		js.log.Info("job started", "job", j.id, "kind", j.kind, "trigger", j.trigger, "target", j.target)
		res, err := js.protect(ctx, j, run)
		js.finish(j, res, err)
	}()
	return j, nil
}

// protect runs fn, turning a panic into an error.
func (js *jobs) protect(ctx context.Context, j *job, fn runFunc) (res any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("job %s panicked: %v", j.id, p)
		}
	}()
	return fn(ctx, &j.prog)
}

// track registers a job that runs in the caller (an upload in its
// request); cancel is called by DELETE. The caller must call finish.
func (js *jobs) track(kind, id, target string, cancel context.CancelFunc) (*job, error) {
	j, err := js.add(kind, id, "api", target, false)
	if err != nil {
		return nil, err
	}
	j.cancel = cancel
	j.mu.Lock()
	j.state, j.started = StateRunning, js.now().UTC()
	j.mu.Unlock()
	return j, nil
}

// finish records a job's outcome.
func (js *jobs) finish(j *job, res any, err error) {
	j.mu.Lock()
	if !j.finished.IsZero() {
		j.mu.Unlock()
		return
	}
	j.finished = js.now().UTC()
	switch {
	case err == nil:
		j.state, j.result = StateSucceeded, res
	case errors.Is(err, context.Canceled):
		j.state, j.err, j.result = StateCanceled, err, res
	default:
		j.state, j.err, j.result = StateFailed, err, res
	}
	state := j.state
	elapsed := j.finished.Sub(j.created)
	j.mu.Unlock()
	js.metrics.jobFinished(j.kind, state)
	if js.onFinish != nil {
		js.onFinish()
	}
	close(j.done)
	lvl := slog.LevelInfo
	if state == StateFailed {
		lvl = slog.LevelError
	}
	js.log.Log(context.Background(), lvl, "job finished", "job", j.id, "kind", j.kind, "trigger", j.trigger,
		"target", j.target, "state", state, "duration", elapsed, "err", err)
	js.wg.Done()
}

func (js *jobs) get(id string) (*job, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.byID[id]
	return j, ok
}

// list returns jobs newest first, filtered by kind and state when given.
func (js *jobs) list(kind, state string) []JobStatus {
	js.mu.Lock()
	js.pruneLocked()
	all := slices.Clone(js.all)
	js.mu.Unlock()
	out := []JobStatus{}
	for i := len(all) - 1; i >= 0; i-- {
		st := all[i].status()
		if (kind == "" || st.Kind == kind) && (state == "" || st.State == state) {
			out = append(out, st)
		}
	}
	return out
}

// pruneLocked forgets finished jobs past the retention, and the oldest
// finished ones beyond the count limit.
func (js *jobs) pruneLocked() {
	cut := js.now().Add(-js.retention)
	finished := 0
	for _, j := range js.all {
		if j.isFinished() {
			finished++
		}
	}
	keep := js.all[:0]
	for _, j := range js.all {
		j.mu.Lock()
		done, at := !j.finished.IsZero(), j.finished
		j.mu.Unlock()
		if done && (at.Before(cut) || finished > js.max) {
			finished--
			delete(js.byID, j.id)
			continue
		}
		keep = append(keep, j)
	}
	clear(js.all[len(keep):])
	js.all = keep
}

// cancelJob cancels a job; finished jobs are left as they are.
func (js *jobs) cancelJob(j *job) {
	if j.cancel != nil {
		j.cancel()
	}
}

// cancelAll cancels every unfinished job.
func (js *jobs) cancelAll() {
	js.mu.Lock()
	all := slices.Clone(js.all)
	js.mu.Unlock()
	for _, j := range all {
		if !j.isFinished() {
			js.cancelJob(j)
		}
	}
}

// wait waits for every job to finish.
func (js *jobs) wait() { js.wg.Wait() }
