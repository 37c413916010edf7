package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silo-dev/silo/object"
)

// TestRemoteUploadsStayUnderTheServersLimit: blobs saved from several
// workers at once (as the store pipeline does) never have more than
// putWorkers uploads running, and an upload the server answers 429
// is sent again, whole. The server here injects the 429s; the real one
// answers a client's ninth concurrent upload that way (a 1 GiB store
// --remote failed on it).
func TestRemoteUploadsStayUnderTheServersLimit(t *testing.T) {
	var inflight, maxInflight, rejected atomic.Int64
	var mu sync.Mutex
	got := map[string][]byte{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/storage/blobs/missing", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			IDs []string `json:"ids"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		json.NewEncoder(w).Encode(map[string]any{"missing": req.IDs})
	})
	mux.HandleFunc("PUT /api/storage/blobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for m := maxInflight.Load(); n > m && !maxInflight.CompareAndSwap(m, n); m = maxInflight.Load() {
		}
		body, _ := io.ReadAll(r.Body)
		if rejected.Load() < 20 && len(body)%3 == 0 { // every third size, until 20 were refused
			rejected.Add(1)
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"error":{"code":"too_many_uploads","message":"busy"}}`)
			return
		}
		time.Sleep(time.Millisecond)
		mu.Lock()
		got[r.PathValue("id")] = body
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	r := NewBlobs(NewWith(ts.URL, "", ts.Client()))
	ctx := context.Background()
	want := map[string][]byte{}
	var wmu sync.Mutex
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 400 {
				data := []byte(strings.Repeat(fmt.Sprintf("w%d-b%d ", w, i), 1+i%7))
				id := object.Hash(data)
				wmu.Lock()
				want[id.String()] = data
				wmu.Unlock()
				if _, err := r.SaveBlob(ctx, object.DataBlob, id, data); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("the server got %d blobs, %d were saved", len(got), len(want))
	}
	for id, data := range want {
		if string(got[id]) != string(data) {
			t.Fatalf("blob %s arrived as %q, want %q", id[:8], got[id], data)
		}
	}
	if m := maxInflight.Load(); m > putWorkers {
		t.Errorf("%d uploads ran at once, at most %d may", m, putWorkers)
	}
	if rejected.Load() == 0 {
		t.Error("no upload was refused: the retry went untested")
	}
}
