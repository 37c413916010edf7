package gc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-dev/silo/object"
)

// clock is an injected clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// world is a repository with roots the test sets, and collections over it.
type world struct {
	*repoFixture
	clk    *clock
	leases *Leases
	mu     sync.Mutex
	live   []object.ID // root blobs (no trees: every blob is a root of its own)
}

func newWorld(t *testing.T) *world {
	f := newRepo(t)
	c := newClock()
	// the refresher ticks every TTL/4 of real time: keep it quiet in tests
	return &world{repoFixture: f, clk: c, leases: NewLeases(f.repo.Backend(), LeasesOptions{Now: c.Now, TTL: time.Hour})}
}

func (w *world) setLive(ids ...object.ID) {
	w.mu.Lock()
	w.live = ids
	w.mu.Unlock()
}

func (w *world) mark(ctx context.Context) (Options, error) {
	w.mu.Lock()
	live := append([]object.ID(nil), w.live...)
	w.mu.Unlock()
	listed := map[object.ID]bool{}
	err := w.repo.Backend().List(ctx, "packs/", func(fi object.FileInfo) error {
		if id, err := object.ParseID(filepath.Base(fi.Name)); err == nil {
			listed[id] = true
		}
		return nil
	})
	return Options{DB: w.db, Repo: w.repo, Live: live, Children: noChildren, Listed: listed, Now: w.clk.Now}, err
}

// collect runs one collection in a session of its own.
func (w *world) collect(t *testing.T) *Result {
	t.Helper()
	ctx := context.Background()
	self, err := w.leases.Start(ctx, KindGC, "test gc")
	if err != nil {
		t.Fatal(err)
	}
	defer self.End(ctx)
	if err := Exclusive(ctx, w.leases, self); err != nil {
		t.Fatal(err)
	}
	c := &Collection{DB: w.db, Repo: w.repo, Leases: w.leases, Self: self, Mark: w.mark}
	_, res, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (w *world) session(t *testing.T, kind string) *Lease {
	t.Helper()
	le, err := w.leases.Start(context.Background(), kind, "test "+kind)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { le.End(context.Background()) })
	return le
}

// Alone, a collection deletes what is dead in one run, and keeps the rest.
func TestCollectionAloneDeletesAtOnce(t *testing.T) {
	w := newWorld(t)
	live, livePack := w.blobInOwnPack(t, 1)
	_, deadPack := w.blobInOwnPack(t, 2)
	w.setLive(live)
	res := w.collect(t)
	if res.PacksDeleted != 1 || res.DeferredPacks != 0 {
		t.Fatalf("result %+v, want one pack deleted now", res)
	}
	if w.exists(deadPack) || !w.exists(livePack) {
		t.Fatalf("dead pack exists=%v, live pack exists=%v", w.exists(deadPack), w.exists(livePack))
	}
	plans, err := LoadPlans(context.Background(), w.repo.Backend())
	if err != nil || len(plans.Pending) != 0 || len(plans.done) != 1 {
		t.Fatalf("plans after the run: %+v, %v", plans, err)
	}
}

// A session alive when a plan is armed holds its deletions back until it
// ends; a version it records meanwhile keeps what it refers to.
func TestPlanWaitsForOlderSessions(t *testing.T) {
	w := newWorld(t)
	live, _ := w.blobInOwnPack(t, 1)
	reused, reusedPack := w.blobInOwnPack(t, 2) // dead now; the store will refer to it
	_, deadPack := w.blobInOwnPack(t, 3)
	w.setLive(live)
	store := w.session(t, KindStore)
	res := w.collect(t)
	if res.PacksDeleted != 0 || res.DeferredPacks != 2 || len(res.Waiting) != 1 || res.Waiting[0].Session != store.Session() {
		t.Fatalf("result %+v, want both dead packs deferred, waiting for the store", res)
	}
	// another run while the store still runs deletes nothing either
	if res := w.collect(t); res.PacksDeleted != 0 || res.DeferredPacks != 2 {
		t.Fatalf("second run %+v", res)
	}
	// the store records a version that refers to the blob, then ends
	w.setLive(live, reused)
	store.End(context.Background())
	res = w.collect(t)
	if res.PacksDeleted != 1 || res.PacksKept != 1 {
		t.Fatalf("after the store ended: %+v, want the unreferenced pack deleted and the reused one kept", res)
	}
	if !w.exists(reusedPack) || w.exists(deadPack) {
		t.Fatalf("reused pack exists=%v, dead pack exists=%v", w.exists(reusedPack), w.exists(deadPack))
	}
	if _, ok, _ := w.repo.Lookup(reused); !ok {
		t.Fatal("the reused blob left the index")
	}
}

// A session that started after a plan was armed does not hold it back.
func TestLaterSessionsDoNotWait(t *testing.T) {
	w := newWorld(t)
	live, _ := w.blobInOwnPack(t, 1)
	_, deadPack := w.blobInOwnPack(t, 2)
	w.setLive(live)
	early := w.session(t, KindStore)
	if res := w.collect(t); res.DeferredPacks != 1 {
		t.Fatalf("first run %+v", res)
	}
	early.End(context.Background())
	late := w.session(t, KindStore) // saw the plan when it started
	_ = late
	if res := w.collect(t); res.PacksDeleted != 1 {
		t.Fatalf("run with only a later session alive: %+v, want the pack deleted", res)
	}
	if w.exists(deadPack) {
		t.Fatal("dead pack still there")
	}
}

// A crashed session's lease stops counting once it expires, by the
// injected clock; no test sleeps through the TTL.
func TestExpiredLeaseDoesNotBlock(t *testing.T) {
	w := newWorld(t)
	live, _ := w.blobInOwnPack(t, 1)
	_, deadPack := w.blobInOwnPack(t, 2)
	w.setLive(live)
	crashed := w.session(t, KindStore)
	crashed.stopRefreshing() // as if the process died
	if res := w.collect(t); res.DeferredPacks != 1 {
		t.Fatalf("run beside a live lease: %+v", res)
	}
	w.clk.Add(59 * time.Minute)
	if res := w.collect(t); res.PacksDeleted != 0 {
		t.Fatalf("run before the TTL passed: %+v", res)
	}
	w.clk.Add(2 * time.Minute)
	if res := w.collect(t); res.PacksDeleted != 1 {
		t.Fatalf("run after the lease expired: %+v", res)
	}
	if w.exists(deadPack) {
		t.Fatal("dead pack still there")
	}
	w.leaseFileGoesATTLLater(t)
}

// leaseFileGoesATTLLater checks, just after a lease expired, that Prune
// leaves its file (the only one) until a TTL later, then deletes it.
func (w *world) leaseFileGoesATTLLater(t *testing.T) {
	t.Helper()
	for i, want := range []int{0, 1} {
		if n, err := w.leases.Prune(context.Background()); err != nil || n != want {
			t.Fatalf("Prune deleted %d lease files (%v), want %d", n, err, want)
		}
		if n := w.leaseFiles(t); n != 1-want {
			t.Fatalf("%d lease files after Prune, want %d", n, 1-want)
		}
		if i == 0 {
			w.clk.Add(time.Hour)
		}
	}
}

// leaseFiles counts the files under locks/.
func (w *world) leaseFiles(t *testing.T) int {
	t.Helper()
	n := 0
	if err := w.repo.Backend().List(context.Background(), leasePrefix, func(object.FileInfo) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// A session that sees a condemned pack treats its blobs as absent, unless
// a copy outside condemned packs exists.
func TestRepackMovesSurvivorsFirst(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	// one pack with a live and a dead blob: rewritten at any threshold
	a, b := []byte("live blob a, kept"), []byte("dead blob b, dropped")
	for _, d := range [][]byte{a, b} {
		if _, err := w.repo.SaveBlob(ctx, object.DataBlob, object.Hash(d), d); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.repo.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	loc, _, _ := w.repo.Lookup(object.Hash(a))
	oldPack := loc.Pack
	w.setLive(object.Hash(a))
	store := w.session(t, KindStore)
	res := w.collect(t)
	if res.PacksWritten != 1 || res.DeferredPacks != 1 {
		t.Fatalf("result %+v, want a rewrite and the old pack deferred", res)
	}
	// the survivor is read from its new pack already; the old pack stays
	loc, ok, _ := w.repo.Lookup(object.Hash(a))
	if !ok || loc.Pack == oldPack || !w.exists(oldPack) {
		t.Fatalf("a at %s (old %s, still there %v)", loc.Pack.Short(), oldPack.Short(), w.exists(oldPack))
	}
	if got, err := w.repo.LoadBlob(ctx, object.Hash(a), nil); err != nil || string(got) != string(a) {
		t.Fatalf("load a: %q, %v", got, err)
	}
	store.End(ctx)
	if res := w.collect(t); res.PacksRepacked != 1 {
		t.Fatalf("second run %+v, want the rewritten pack deleted", res)
	}
	if w.exists(oldPack) {
		t.Fatal("rewritten pack still there")
	}
	if got, err := w.repo.LoadBlob(ctx, object.Hash(a), nil); err != nil || string(got) != string(a) {
		t.Fatalf("load a after the old pack went: %q, %v", got, err)
	}
	if _, ok, _ := w.repo.Lookup(object.Hash(b)); ok {
		t.Fatal("dead blob b still indexed")
	}
}

// One collection at a time.
func TestCollectionsExcludeEachOther(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	first := w.session(t, KindGC)
	second := w.session(t, KindGC)
	err := Exclusive(ctx, w.leases, second)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), first.Session()) {
		t.Fatalf("second collection: %v, want ErrBusy naming the first", err)
	}
	first.End(ctx)
	if err := Exclusive(ctx, w.leases, second); err != nil {
		t.Fatalf("after the first ended: %v", err)
	}
}

// Leases refresh to a new file and list by their newest one.
func TestLeaseRefresh(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	le := w.session(t, KindRead)
	for range 3 {
		w.clk.Add(time.Minute)
		if err := le.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	all, err := w.leases.List(ctx)
	if err != nil || len(all) != 1 || all[0].Seq != 3 || !all[0].Refreshed.Equal(w.clk.Now()) {
		t.Fatalf("List = %+v, %v", all, err)
	}
	files, _ := filepath.Glob(filepath.Join(w.dir, "locks", "*"))
	if len(files) != 1 {
		t.Fatalf("lease files %v, want the newest only", files)
	}
	if le.Lapsed() {
		t.Fatal("a fresh lease lapsed")
	}
	w.clk.Add(31 * time.Minute)
	if !le.Lapsed() {
		t.Fatal("a lease unrefreshed for half its TTL has not lapsed")
	}
	le.End(ctx)
	if files, _ := os.ReadDir(filepath.Join(w.dir, "locks")); len(files) != 0 {
		t.Fatalf("lease files after End: %v", files)
	}
}

// A copy of a live blob in a pack a pending plan condemns is no copy to
// rely on: a pack holding the other copy is not condemned as well (two
// plans, each relying on the copy the other deletes, would lose the blob,
// whatever order machines with different index views carry them out in).
func TestCopiesInCondemnedPacksDoNotCount(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	b, p1 := w.blobInOwnPack(t, 1)
	// a second copy of b, with a dead blob, in a pack of its own
	wr := w.repo.NewWriter(object.WriterOptions{Exclude: func(l object.Location) bool { return l.Pack == p1 }})
	data := slices.Repeat([]byte{1}, 1001)
	if _, err := wr.SaveBlob(ctx, object.DataBlob, b, data); err != nil {
		t.Fatal(err)
	}
	dead := slices.Repeat([]byte{9}, 777)
	if _, err := wr.SaveBlob(ctx, object.DataBlob, object.Hash(dead), dead); err != nil {
		t.Fatal(err)
	}
	if err := wr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	locs, err := w.db.Locations(b)
	if err != nil || len(locs) != 2 {
		t.Fatalf("locations of %s: %v %v, want two", b.Short(), locs, err)
	}
	p2 := locs[1].Pack
	if p2 == p1 {
		p2 = locs[0].Pack
	}
	// another collection condemned p1 while a session was alive
	w.session(t, KindStore)
	a := &Pending{ID: newPlanID(w.clk.Now()), Created: w.clk.Now(), Packs: []PackRef{{ID: p1}}}
	if err := writePlan(ctx, w.repo.Backend(), a); err != nil {
		t.Fatal(err)
	}
	if err := arm(ctx, w.repo.Backend(), w.leases, "", a); err != nil {
		t.Fatal(err)
	}
	w.setLive(b)
	w.collect(t)
	plans, err := LoadPlans(ctx, w.repo.Backend())
	if err != nil {
		t.Fatal(err)
	}
	if c := plans.Condemned(); c[p2] || !c[p1] || len(c) != 1 {
		t.Fatalf("condemned %v; want only %s (the other copy of live blob %s, in %s, kept out)", c, p1.Short(), b.Short(), p2.Short())
	}
	if !w.exists(p1) || !w.exists(p2) {
		t.Fatal("a pack was deleted while its plan waited")
	}
}

// A lease that lapsed stays lapsed after the refresh that comes when the
// process resumes (the refresher's tick usually runs before the store
// reaches its commit), until Renew: otherwise the commit-time check of
// what the session relied on would be skipped after a pause.
func TestLapseSurvivesRefresh(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	le := w.session(t, KindStore)
	w.clk.Add(2 * time.Hour)
	if !le.Lapsed() {
		t.Fatal("a lease unrefreshed for two hours has not lapsed")
	}
	if err := le.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if !le.Lapsed() {
		t.Fatal("a refresh after a pause past the TTL hid the lapse")
	}
	if err := le.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if le.Lapsed() {
		t.Fatal("Renew left the lease lapsed")
	}
	w.clk.Add(10 * time.Minute)
	if err := le.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if le.Lapsed() {
		t.Fatal("a refresh within half the TTL made the lease lapsed")
	}
}

// An unreadable lease file holds a collection back like a live session
// until it is twice the TTL old by the backend's time; then it is a dead
// session's, and the condemned pack goes.
func TestUnreadableLeaseExpires(t *testing.T) {
	w := newWorld(t)
	live, _ := w.blobInOwnPack(t, 1)
	_, deadPack := w.blobInOwnPack(t, 2)
	w.setLive(live)
	ctx := context.Background()
	name := leasePrefix + "0123456789abcdef-00000004.json"
	if _, err := object.PutNew(ctx, w.repo.Backend(), name, strings.NewReader("not a lease"), 11); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(w.repo.Backend().(object.Rooted).Root(), filepath.FromSlash(name))
	if err := os.Chtimes(path, w.clk.Now(), w.clk.Now()); err != nil {
		t.Fatal(err)
	}
	alive, err := w.leases.Alive(ctx, "")
	if err != nil || len(alive) != 1 || alive[0].Session != "0123456789abcdef" {
		t.Fatalf("an unreadable lease: alive %+v, %v", alive, err)
	}
	if res := w.collect(t); res.DeferredPacks != 1 {
		t.Fatalf("run beside an unreadable lease: %+v", res)
	}
	w.clk.Add(2*time.Hour - time.Minute)
	if res := w.collect(t); res.PacksDeleted != 0 {
		t.Fatalf("run before twice the TTL passed: %+v", res)
	}
	w.clk.Add(2 * time.Minute)
	if res := w.collect(t); res.PacksDeleted != 1 || w.exists(deadPack) {
		t.Fatalf("run after twice the TTL: %+v", res)
	}
	w.leaseFileGoesATTLLater(t)
}

// A mark that finds a referenced blob the index lacks is made once more
// before the blob counts as missing: a listing may have missed a pack
// written while it ran. Missing twice, the collection stops with
// ErrMissing and deletes nothing.
func TestCollectionMarksAgainBeforeMissing(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	live, _ := w.blobInOwnPack(t, 1)
	_, deadPack := w.blobInOwnPack(t, 2)
	w.setLive(live)
	ghost := idWithPrefix(42, 42)
	run := func(missing int) (*Result, int, error) {
		self, err := w.leases.Start(ctx, KindGC, "test gc")
		if err != nil {
			t.Fatal(err)
		}
		defer self.End(ctx)
		marks := 0
		mark := func(ctx context.Context) (Options, error) {
			marks++
			o, err := w.mark(ctx)
			if marks <= missing {
				// as a listing that saw a version's pack and missed the
				// pack of a blob it refers to
				o.Live = append(o.Live, ghost)
			}
			return o, err
		}
		c := &Collection{DB: w.db, Repo: w.repo, Leases: w.leases, Self: self, Mark: mark}
		_, res, err := c.Run(ctx)
		return res, marks, err
	}
	if _, marks, err := run(2); !errors.Is(err, ErrMissing) || marks != 2 || !w.exists(deadPack) {
		t.Fatalf("a blob missing from two marks: %v after %d marks (dead pack kept: %v), want ErrMissing after 2", err, marks, w.exists(deadPack))
	}
	res, marks, err := run(1)
	if err != nil || marks < 2 || res.PacksDeleted != 1 || w.exists(deadPack) {
		t.Fatalf("a blob missing from the first mark only: %+v, %v after %d marks", res, err, marks)
	}
}
