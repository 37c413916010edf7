package server

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMemo: one computation for concurrent readers of a generation; a new
// generation or age recomputes; errors are not cached.
func TestMemo(t *testing.T) {
	var gen generation
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	m := memo[int]{gen: &gen, now: clock}
	var calls atomic.Int64
	release := make(chan struct{})
	compute := func() (int, error) {
		<-release
		return int(calls.Add(1)), nil
	}
	var wg sync.WaitGroup
	results := make([]int, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = m.get(compute)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	for _, r := range results {
		if r != results[0] {
			t.Fatalf("concurrent readers got %v", results)
		}
	}
	if n := calls.Load(); n > 2 { // the first may start before the others queue
		t.Fatalf("%d computations for one generation", n)
	}
	before := calls.Load()
	if v, _ := m.get(compute); v != results[0] || calls.Load() != before {
		t.Fatal("a cached value was recomputed")
	}
	gen.bump()
	if v, _ := m.get(compute); v != int(before)+1 {
		t.Fatalf("after a bump: %d", v)
	}
	mu.Lock()
	now = now.Add(cacheMaxAge)
	mu.Unlock()
	if v, _ := m.get(compute); v != int(before)+2 {
		t.Fatalf("after the max age: %d", v)
	}
	boom := errors.New("boom")
	gen.bump()
	if _, err := m.get(func() (int, error) { return 0, boom }); err != boom {
		t.Fatal(err)
	}
	if v, _ := m.get(compute); v != int(before)+3 {
		t.Fatalf("an error was cached: %d", v)
	}
}

// TestListAndStatsFollowWrites: the cached reads change as soon as a write
// through the API lands.
func TestListAndStatsFollowWrites(t *testing.T) {
	s := newTestServer(t)
	var st struct {
		TotalProjects int `json:"total_projects"`
	}
	var list projectList
	for i := range 3 {
		s.must(200, "GET", "/api/storage/stats", nil).json(t, &st)
		s.must(200, "GET", "/api/storage/projects", nil).json(t, &list)
		if st.TotalProjects != i || list.Total != i {
			t.Fatalf("after %d uploads: stats %d, list %d", i, st.TotalProjects, list.Total)
		}
		s.upload("p"+string(rune('a'+i)), makeTar(t, file("x", []byte{byte(i)})), "")
	}
	s.must(200, "DELETE", "/api/storage/projects/pa", nil)
	s.must(200, "GET", "/api/storage/projects", nil).json(t, &list)
	s.must(200, "GET", "/api/storage/stats", nil).json(t, &st)
	if list.Total != 2 || st.TotalProjects != 2 {
		t.Fatalf("after a delete: list %d, stats %d", list.Total, st.TotalProjects)
	}
}
