// Package hooks runs the commands and webhooks configured under
// storage.hooks on silo's events.
//
// A command runs through the shell (/bin/sh -c; cmd /C on Windows) with
// the environment of silo plus SILO_EVENT, SILO_PROJECT_ID,
// SILO_PROJECT_NAME, SILO_SNAPSHOT_ID, SILO_REPOSITORY and, where one
// applies, SILO_PATH, and is killed (with its process group) after the
// timeout. A pre_* command that fails vetoes the operation: Pre returns an
// error wrapping ErrVetoed, and the caller records nothing. An on_* command
// runs after the operation succeeded; its failure is logged and counted,
// never undoing anything.
//
// Webhooks receive every on_* event as a JSON POST (the Event), signed with
// HMAC-SHA256 of the body under webhooks' secret in X-Silo-Signature
// ("sha256=<hex>"). They go through a bounded queue and one sender that
// retries with backoff, so an operation never waits for a webhook; a full
// queue drops the event, and drops are counted (Stats, /metrics).
package hooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silo-dev/silo/store/config"
)

// ErrVetoed means a pre_* hook refused the operation.
var ErrVetoed = errors.New("hooks: vetoed by a pre hook")

// Event is what a hook is told: the environment of a command, the body of
// a webhook.
type Event struct {
	Name        string    `json:"event"` // pre_store, on_store, ...
	Time        time.Time `json:"time"`
	Repository  string    `json:"repository"`
	ProjectID   string    `json:"project_id,omitempty"`
	ProjectName string    `json:"project_name,omitempty"`
	SnapshotID  string    `json:"snapshot_id,omitempty"`
	Path        string    `json:"path,omitempty"`
	// Details carries the operation's result where there is one (a backup
	// id, freed bytes).
	Details any `json:"details,omitempty"`
}

// secretEnv are silo's own secrets, kept from hook commands: a hook is
// the user's code, but it has no need of the API token, the webhook
// secret or a repository password.
var secretEnv = []string{"STORAGE_API_TOKEN=", "STORAGE_WEBHOOK_SECRET=", "STORAGE_PASSWORD=", "STORAGE_NEW_PASSWORD="}

// Env returns this process's environment without silo's secrets, with
// extra appended: the environment of a command silo runs for the user (a
// hook, a content filter).
func Env(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !slices.ContainsFunc(secretEnv, func(p string) bool { return strings.HasPrefix(kv, p) }) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func (e Event) env() []string {
	return Env("SILO_EVENT="+e.Name, "SILO_PROJECT_ID="+e.ProjectID, "SILO_PROJECT_NAME="+e.ProjectName,
		"SILO_SNAPSHOT_ID="+e.SnapshotID, "SILO_REPOSITORY="+e.Repository, "SILO_PATH="+e.Path)
}

// queueSize bounds the webhook events waiting to be sent.
const queueSize = 256

// Runner runs one configuration's hooks. The zero of *Runner (nil) runs
// nothing.
type Runner struct {
	commands map[string]string
	timeout  time.Duration
	urls     []string
	secret   []byte
	log      *slog.Logger
	client   *http.Client
	backoff  time.Duration // first retry delay

	once  sync.Once
	queue chan Event
	done  chan struct{}
	mu    sync.Mutex
	shut  bool

	delivered, failed, dropped, commandFailures atomic.Int64
}

// New returns the runner of cfg, or nil when it configures nothing.
func New(cfg config.HooksConfig, log *slog.Logger) *Runner {
	configured := len(cfg.Webhooks) > 0
	for _, c := range cfg.Commands {
		configured = configured || c != ""
	}
	if !configured {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := cfg.Timeout
	if t <= 0 {
		t = time.Minute
	}
	return &Runner{commands: cfg.Commands, timeout: t, urls: cfg.Webhooks, secret: []byte(cfg.WebhookSecret), log: log,
		client: &http.Client{Timeout: 30 * time.Second}, backoff: 500 * time.Millisecond}
}

// Pre runs the pre_* hook of ev.Name, if one is configured; its failure
// is an error wrapping ErrVetoed that names the hook and quotes its output.
func (r *Runner) Pre(ctx context.Context, ev Event) error {
	if r == nil || r.commands[ev.Name] == "" {
		return nil
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	out, err := r.run(ctx, ev)
	if err != nil {
		return fmt.Errorf("%w: %s (%s) %v%s", ErrVetoed, ev.Name, r.commands[ev.Name], err, quoted(out))
	}
	return nil
}

// On runs the on_* hook of ev.Name and queues ev for the webhooks. The
// command's failure is logged and counted; it never fails the caller.
// It waits for the command (bounded by the timeout), not for webhooks.
func (r *Runner) On(ctx context.Context, ev Event) {
	if r == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if r.commands[ev.Name] != "" {
		if out, err := r.run(context.WithoutCancel(ctx), ev); err != nil {
			r.commandFailures.Add(1)
			r.log.Warn("hook failed (the operation stands)", "event", ev.Name, "command", r.commands[ev.Name], "err", err, "output", strings.TrimSpace(string(out)))
		}
	}
	if len(r.urls) > 0 {
		r.enqueue(ev)
	}
}

// run runs ev's command with the timeout and returns its combined output
// (the last 4 KiB).
func (r *Runner) run(ctx context.Context, ev Event) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	cmd := shellCommand(ctx, r.commands[ev.Name])
	cmd.Env = ev.env()
	var out TailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %v", r.timeout)
	}
	return out.Bytes(), err
}

func quoted(out []byte) string {
	s := strings.TrimSpace(string(out))
	if s == "" {
		return ""
	}
	return ": " + s
}

// TailBuffer keeps the last 4 KiB written to it (a command's last words).
type TailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *TailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}

// ---- webhooks ----

func (r *Runner) enqueue(ev Event) {
	r.once.Do(func() {
		r.queue, r.done = make(chan Event, queueSize), make(chan struct{})
		go r.sender()
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shut {
		r.dropped.Add(1)
		return
	}
	select {
	case r.queue <- ev:
	default:
		r.dropped.Add(1)
		r.log.Warn("webhook queue full: event dropped", "event", ev.Name)
	}
}

func (r *Runner) sender() {
	defer close(r.done)
	for ev := range r.queue {
		body, _ := json.Marshal(ev)
		for _, u := range r.urls {
			if err := r.deliver(u, ev.Name, body); err != nil {
				r.failed.Add(1)
				r.log.Warn("webhook not delivered", "url", u, "event", ev.Name, "err", err)
			} else {
				r.delivered.Add(1)
			}
		}
	}
}

// deliver POSTs body to u, retrying a network error, a 429 or a 5xx answer
// up to four times with doubling waits.
func (r *Runner) deliver(u, name string, body []byte) error {
	wait := r.backoff
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		if attempt > 1 {
			time.Sleep(wait)
			wait *= 2
		}
		var req *http.Request
		req, err = http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "silo-hooks")
		req.Header.Set("X-Silo-Event", name)
		if len(r.secret) > 0 {
			req.Header.Set("X-Silo-Signature", Sign(r.secret, body))
		}
		var resp *http.Response
		resp, err = r.client.Do(req)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			err = fmt.Errorf("answered %s", resp.Status)
		default:
			return fmt.Errorf("answered %s", resp.Status)
		}
	}
	return err
}

// Sign is the X-Silo-Signature of body under secret: "sha256=" and the hex
// HMAC-SHA256. A receiver recomputes it over the raw body and compares in
// constant time (hmac.Equal).
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Close stops taking webhook events and waits until the queued ones are
// sent or ctx ends (what is left is counted as dropped).
func (r *Runner) Close(ctx context.Context) {
	if r == nil {
		return
	}
	r.mu.Lock()
	started := r.queue != nil
	if !r.shut && started {
		close(r.queue)
	}
	r.shut = true
	r.mu.Unlock()
	if !started {
		return
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		r.dropped.Add(int64(len(r.queue)))
	}
}

// Stats counts webhook deliveries (per URL), failures and drops, and
// failed on_* commands.
type Stats struct {
	Delivered, Failed, Dropped, CommandFailures int64
}

// Stats returns the counts so far.
func (r *Runner) Stats() Stats {
	if r == nil {
		return Stats{}
	}
	return Stats{r.delivered.Load(), r.failed.Load(), r.dropped.Load(), r.commandFailures.Load()}
}

// Shell returns command run through the platform's shell (/bin/sh -c, or
// cmd /C on Windows), as hooks run: for other commands silo runs for the
// user (a --password-command).
func Shell(ctx context.Context, command string) *exec.Cmd { return shellCommand(ctx, command) }

// ForegroundShell is Shell for a command that may talk to the user on the
// terminal (a --password-command asking through a pinentry or stty -echo):
// it stays in silo's process group, so the terminal does not stop it as a
// background job, and a cancelled ctx (Ctrl-C, SIGTERM) kills it.
func ForegroundShell(ctx context.Context, command string) *exec.Cmd {
	cmd := shellCommand(ctx, command)
	cmd.SysProcAttr = nil
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	return cmd
}
