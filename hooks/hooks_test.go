//go:build unix

package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/silo-dev/silo/store/config"
)

func TestPreVetoes(t *testing.T) {
	r := New(config.HooksConfig{Commands: map[string]string{"pre_store": `test "$SILO_PROJECT_NAME" != forbidden || { echo "no: $SILO_PATH" >&2; exit 3; }`}}, nil)
	if err := r.Pre(context.Background(), Event{Name: "pre_store", ProjectName: "allowed"}); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	err := r.Pre(context.Background(), Event{Name: "pre_store", ProjectName: "forbidden", Path: "/src/x"})
	if !errors.Is(err, ErrVetoed) || !strings.Contains(err.Error(), "pre_store") || !strings.Contains(err.Error(), "no: /src/x") ||
		!strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("vetoed: %v", err)
	}
	if err := r.Pre(context.Background(), Event{Name: "pre_other"}); err != nil {
		t.Fatalf("an event without a hook: %v", err)
	}
	var none *Runner
	if err := none.Pre(context.Background(), Event{Name: "pre_store"}); err != nil {
		t.Fatal(err)
	}
	none.On(context.Background(), Event{Name: "on_store"})
}

func TestOnGetsTheEnvironmentAndNeverFails(t *testing.T) {
	t.Setenv("STORAGE_API_TOKEN", "tok-secret")
	t.Setenv("STORAGE_PASSWORD", "pw-secret")
	t.Setenv("SILO_TEST_VISIBLE", "yes")
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	r := New(config.HooksConfig{Commands: map[string]string{
		"on_store":  `echo "$SILO_EVENT|$SILO_PROJECT_ID|$SILO_PROJECT_NAME|$SILO_SNAPSHOT_ID|$SILO_REPOSITORY|$SILO_PATH" >> ` + log,
		"on_delete": "exit 9",
		"on_backup": `echo "[$STORAGE_API_TOKEN][$STORAGE_PASSWORD][$SILO_TEST_VISIBLE]" >> ` + log,
	}}, nil)
	r.On(context.Background(), Event{Name: "on_store", ProjectID: "id1", ProjectName: "p", SnapshotID: "abc", Repository: "/r", Path: "/src"})
	r.On(context.Background(), Event{Name: "on_delete", ProjectID: "id1"})
	r.On(context.Background(), Event{Name: "on_backup"})
	b, _ := os.ReadFile(log)
	if got := strings.TrimSpace(string(b)); got != "on_store|id1|p|abc|/r|/src\n[][][yes]" {
		t.Errorf("hook saw %q", got)
	}
	if st := r.Stats(); st.CommandFailures != 1 {
		t.Errorf("stats %+v", st)
	}
}

// A hook past its timeout is killed with everything it started.
func TestTimeoutKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	r := New(config.HooksConfig{Timeout: 300 * time.Millisecond,
		Commands: map[string]string{"pre_store": "sleep 30 & echo $! > " + pidFile + "; wait"}}, nil)
	t0 := time.Now()
	err := r.Pre(context.Background(), Event{Name: "pre_store"})
	if !errors.Is(err, ErrVetoed) || !strings.Contains(err.Error(), "timed out") || time.Since(t0) > 10*time.Second {
		t.Fatalf("after %v: %v", time.Since(t0), err)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid == 0 {
		t.Fatal("no pid written")
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the hook's child %d outlived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Webhooks: signed JSON, retried after a 5xx, never blocking On; a full
// queue drops and counts.
func TestWebhooks(t *testing.T) {
	var mu sync.Mutex
	var got []Event
	var calls atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusBadGateway) // the first answer fails: retried
			return
		}
		if r.Header.Get("X-Silo-Signature") != Sign([]byte("whsec"), body) || r.Header.Get("X-Silo-Event") != "on_backup" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev Event
		json.Unmarshal(body, &ev)
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	defer ts.Close()
	r := New(config.HooksConfig{Webhooks: []string{ts.URL}, WebhookSecret: "whsec"}, nil)
	r.backoff = 10 * time.Millisecond
	r.On(context.Background(), Event{Name: "on_backup", ProjectID: "p1", Details: map[string]string{"backup_id": "b1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r.Close(ctx)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].ProjectID != "p1" || got[0].Name != "on_backup" || got[0].Time.IsZero() {
		t.Fatalf("received %+v", got)
	}
	if st := r.Stats(); st.Delivered != 1 || st.Failed != 0 || st.Dropped != 0 || calls.Load() != 2 {
		t.Errorf("stats %+v after %d calls", st, calls.Load())
	}

	// a receiver that hangs: On does not wait, the queue fills, drops count
	block := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer slow.Close()
	defer close(block)
	r2 := New(config.HooksConfig{Webhooks: []string{slow.URL}}, nil)
	t0 := time.Now()
	for range queueSize + 50 {
		r2.On(context.Background(), Event{Name: "on_store"})
	}
	if time.Since(t0) > 2*time.Second {
		t.Errorf("On waited for a hanging webhook: %v", time.Since(t0))
	}
	if st := r2.Stats(); st.Dropped < 49 {
		t.Errorf("a full queue dropped %d events", st.Dropped)
	}
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	r2.Close(short)
	if st := r2.Stats(); st.Dropped < queueSize {
		t.Errorf("after Close timed out, dropped %d", st.Dropped)
	}
}
