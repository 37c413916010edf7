//go:build unix

package store

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/silo-dev/silo/hooks"
	"github.com/silo-dev/silo/store/config"
)

// TestHooks: storage.hooks runs on every event with the project, version
// and path; a failing pre_store vetoes the store and nothing is recorded;
// a failing on_* hook leaves the operation standing; webhooks get the
// events signed.
func TestHooks(t *testing.T) {
	var mu sync.Mutex
	var posted []hooks.Event
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Silo-Signature") != hooks.Sign([]byte("k"), body) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var ev hooks.Event
		json.Unmarshal(body, &ev)
		mu.Lock()
		posted = append(posted, ev)
		mu.Unlock()
	}))
	defer ts.Close()
	var logPath string
	e := newEnv(t, func(c *config.Config) {
		logPath = filepath.Join(filepath.Dir(c.BasePath), "hook.log")
		line := `echo "$SILO_EVENT|$SILO_PROJECT_NAME|$SILO_SNAPSHOT_ID|$SILO_PATH" >> ` + logPath
		c.Hooks.Commands = map[string]string{"pre_store": `test "$SILO_PROJECT_NAME" != forbidden`}
		for _, ev := range config.HookEvents[1:] {
			c.Hooks.Commands[ev] = line
		}
		c.Hooks.Commands["on_delete"] = line + "; exit 1" // fails: the delete stands
		c.Hooks.Webhooks, c.Hooks.WebhookSecret = []string{ts.URL}, "k"
	})
	ctx := context.Background()
	dir := e.path("src")
	writeFile(t, dir, "a.txt", []byte("a"))

	r, err := e.s.Save(ctx, dir, SaveOptions{Project: "allowed"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Save(ctx, dir, SaveOptions{Project: "forbidden"})
	if !errors.Is(err, hooks.ErrVetoed) || KindOf(err).Code != "vetoed" || !strings.Contains(err.Error(), "forbidden") ||
		!strings.Contains(err.Error(), "nothing was recorded") {
		t.Fatalf("vetoed store: %v", err)
	}
	if _, err := e.s.Get("forbidden"); !errors.Is(err, ErrProjectNotFound) {
		t.Fatalf("the vetoed project was recorded: %v", err)
	}
	out := e.path("out")
	if _, _, err := e.s.Restore(ctx, "allowed", out, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Extract(ctx, "allowed", ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Backup(ctx, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Archive(ctx, "allowed", ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Delete(ctx, "allowed", false); err != nil {
		t.Fatalf("a failing on_delete hook failed the delete: %v", err)
	}
	if p, _ := e.s.Get("allowed"); p == nil || p.Status != StatusDeleted {
		t.Fatalf("after delete: %+v", p)
	}
	if _, err := e.s.Cleanup(ctx, CleanupOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(logPath)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var events []string
	for _, l := range lines {
		events = append(events, strings.SplitN(l, "|", 2)[0])
	}
	want := []string{"on_store", "on_restore", "on_extract", "on_backup", "on_archive", "on_delete", "on_cleanup"}
	if strings.Join(events, ",") != strings.Join(want, ",") {
		t.Fatalf("hooks ran for %v, want %v:\n%s", events, want, b)
	}
	absSrc, _ := filepath.Abs(dir)
	absOut, _ := filepath.Abs(out)
	for i, w := range []string{"on_store|allowed|" + r.Snapshot.String() + "|" + absSrc, "on_restore|allowed|" + r.Snapshot.String() + "|" + absOut} {
		if lines[i] != w {
			t.Errorf("line %d: %q, want %q", i, lines[i], w)
		}
	}
	if st := e.s.HookStats(); st.CommandFailures != 1 {
		t.Errorf("hook stats %+v", st)
	}
	e.close(t) // waits for the webhooks
	mu.Lock()
	defer mu.Unlock()
	if len(posted) != len(want) || posted[0].Name != "on_store" || posted[0].SnapshotID != r.Snapshot.String() {
		t.Fatalf("webhooks got %+v", posted)
	}
}
