package session_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/object/repotest"
	"github.com/silo-dev/silo/session"
	"github.com/silo-dev/silo/snapshot"
)

// fixture is a repository with its leases on an injected clock, and an Env
// that counts refreshes and keeps the condemned packs it is told, which
// the repository's packers avoid as store wires them (a new pack with the
// bytes, and so the name, of a condemned one would go with it).
type fixture struct {
	r         *repotest.Repo
	env       *session.Env
	mu        sync.Mutex
	now       time.Time
	refreshes int
	told      map[object.ID]bool
	dir       string // the directory storeTree stores
	pol       chunk.Pol
}

func newFixture(t *testing.T, shared bool) *fixture {
	f := &fixture{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC), told: map[object.ID]bool{}}
	f.r = repotest.New(t, func(o *object.RepositoryOptions) {
		o.Condemned = func(id object.ID) bool { f.mu.Lock(); defer f.mu.Unlock(); return f.told[id] }
	})
	leases := gc.NewLeases(f.r.BE, gc.LeasesOptions{TTL: time.Hour, Now: f.clock, Machine: "test"})
	f.env = &session.Env{Leases: leases, DB: f.r.DB, Repo: f.r.Repo, Cmd: "test", Location: f.r.Dir, Shared: shared,
		Log:      slog.New(slog.DiscardHandler),
		Refresh:  func(context.Context) error { f.mu.Lock(); f.refreshes++; f.mu.Unlock(); return nil },
		ListedAt: f.clock, // as if listed just now
		Condemned: func(ids map[object.ID]bool) {
			f.mu.Lock()
			defer f.mu.Unlock()
			for id := range ids {
				f.told[id] = true
			}
		}}
	return f
}

func (f *fixture) clock() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }

func (f *fixture) advance(d time.Duration) { f.mu.Lock(); f.now = f.now.Add(d); f.mu.Unlock() }

// storeTree stores the fixture's directory of three files through a
// session's writer and returns its tree.
func (f *fixture) storeTree(t *testing.T, ctx context.Context, se *session.Session) object.ID {
	t.Helper()
	if f.dir == "" {
		f.dir = t.TempDir()
		for i, name := range []string{"a.txt", "b.txt", "sub/c.txt"} {
			os.MkdirAll(filepath.Dir(filepath.Join(f.dir, name)), 0o755)
			if err := os.WriteFile(filepath.Join(f.dir, name), []byte(strings.Repeat(name, 1000+i)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if f.pol, err = chunk.RandomPolynomial(); err != nil {
			t.Fatal(err)
		}
	}
	w := se.Writer()
	res, err := snapshot.Store(ctx, w, f.dir, snapshot.StoreOptions{Pol: f.pol, Reusable: se.Reusable()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return res.Tree
}

// packsOf returns the packs holding the tree's blobs (first locations).
func (f *fixture) packsOf(t *testing.T, ctx context.Context, tree object.ID) []gc.PackRef {
	t.Helper()
	seen := map[object.ID]bool{}
	var refs []gc.PackRef
	add := func(id object.ID) {
		loc, ok, err := f.r.DB.Lookup(id)
		if err != nil || !ok {
			t.Fatalf("blob %s not indexed: %v", id, err)
		}
		if !seen[loc.Pack] {
			seen[loc.Pack] = true
			refs = append(refs, gc.PackRef{ID: loc.Pack})
		}
	}
	add(tree)
	err := snapshot.Walk(ctx, f.r.Repo, tree, func(_ string, n *snapshot.Node) error {
		if n.Type == snapshot.Dir {
			add(n.Subtree)
		}
		for _, id := range n.Content {
			add(id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

// condemn condemns packs as repair does, from a gc session of its own.
func (f *fixture) condemn(t *testing.T, ctx context.Context, packs []gc.PackRef) {
	t.Helper()
	gcs, err := session.BeginExclusive(ctx, f.env)
	if err != nil {
		t.Fatal(err)
	}
	defer gcs.End()
	if err := gc.Condemn(ctx, f.r.BE, f.env.Leases, gcs.Lease(), packs); err != nil {
		t.Fatal(err)
	}
}

// A session that begins after a plan condemned a pack neither reuses the
// pack's blobs nor lets a store refer to them: it writes them again, and
// afterwards the new copies are the ones it may use.
func TestCondemnedBlobsAreNotReused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, false)
	first, err := session.Begin(ctx, f.env, gc.KindStore)
	if err != nil {
		t.Fatal(err)
	}
	tree := f.storeTree(t, ctx, first)
	first.End()
	if f.refreshes != 0 || len(first.Condemned()) != 0 || first.Reusable() != nil {
		t.Fatalf("no plan pending: refreshes %d, condemned %v, reusable set", f.refreshes, first.Condemned())
	}
	packs := f.packsOf(t, ctx, tree)
	f.condemn(t, ctx, packs)

	se, err := session.Begin(ctx, f.env, gc.KindStore)
	if err != nil {
		t.Fatal(err)
	}
	defer se.End()
	for _, p := range packs {
		if !se.Condemned()[p.ID] || !f.told[p.ID] {
			t.Fatalf("pack %s: condemned %v, told the repository %v", p.ID, se.Condemned()[p.ID], f.told[p.ID])
		}
	}
	// the index is not shared: the condemned packs' survivors may be new
	if f.refreshes == 0 {
		t.Fatal("a session beginning beside a plan did not refresh the index")
	}
	loc, _, _ := f.r.DB.Lookup(tree)
	if !se.Exclude(loc) {
		t.Fatalf("the tree's only copy is condemned, yet Exclude allows it")
	}
	if reuse := se.Reusable(); reuse == nil || reuse([]object.ID{tree}) {
		t.Fatal("Reusable lets a file refer to a condemned blob")
	}
	// the same tree stored again: every blob is written again
	again := f.storeTree(t, ctx, se)
	if again != tree {
		t.Fatalf("the same directory gave tree %s, then %s", tree, again)
	}
	locs, err := f.r.DB.Locations(tree)
	if err != nil || len(locs) < 2 {
		t.Fatalf("the tree has %d locations (%v): it was not written again", len(locs), err)
	}
	if se.Exclude(loc) {
		t.Fatal("the tree has a copy outside the condemned packs, yet its condemned location is still excluded")
	}
	if err := se.CheckLease(ctx, tree); err != nil {
		t.Fatalf("a lease that did not lapse: %v", err)
	}
}

// Adopt writes again exactly the blobs of a tree whose copies are all
// condemned, so a version that takes the tree over (a template's, an
// upload's) refers to copies that stay.
func TestAdoptWritesCondemnedBlobsAgain(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true)
	se, err := session.Begin(ctx, f.env, gc.KindStore)
	if err != nil {
		t.Fatal(err)
	}
	tree := f.storeTree(t, ctx, se)
	// nothing condemned: adopting writes nothing
	before := f.blobCount(t, ctx, tree)
	w := se.Writer()
	if err := se.Adopt(ctx, w, tree); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.blobCount(t, ctx, tree); n != before {
		t.Fatalf("adopting a tree nothing condemns wrote %d copies", n-before)
	}
	se.End()
	f.condemn(t, ctx, f.packsOf(t, ctx, tree))
	if f.refreshes != 0 {
		t.Fatalf("a shared index was refreshed %d times", f.refreshes)
	}

	se, err = session.Begin(ctx, f.env, gc.KindStore)
	if err != nil {
		t.Fatal(err)
	}
	defer se.End()
	w = se.Writer()
	if err := se.Adopt(ctx, w, tree); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	after := f.blobCount(t, ctx, tree)
	if after != 2*before {
		t.Fatalf("locations before adopting %d, after %d; want every blob written once more", before, after)
	}
	// every blob has a copy outside the condemned packs (without the
	// packers' padding, a copy could land in a pack of a condemned one's
	// bytes and name, and go with it)
	for id, locs := range f.locations(t, ctx, tree) {
		if !slices.ContainsFunc(locs, func(l object.Location) bool { return !se.Condemned()[l.Pack] }) {
			t.Fatalf("blob %s: every copy is in a condemned pack: %v", id, locs)
		}
	}
	if err := se.CheckLease(ctx, tree); err != nil {
		t.Fatal(err)
	}
}

// locations returns the locations index.db holds of each blob of tree.
func (f *fixture) locations(t *testing.T, ctx context.Context, tree object.ID) map[object.ID][]object.Location {
	t.Helper()
	ids := []object.ID{tree}
	err := snapshot.Walk(ctx, f.r.Repo, tree, func(_ string, n *snapshot.Node) error {
		if n.Type == snapshot.Dir {
			ids = append(ids, n.Subtree)
		}
		ids = append(ids, n.Content...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[object.ID][]object.Location{}
	for _, id := range ids {
		locs, err := f.r.DB.Locations(id)
		if err != nil {
			t.Fatal(err)
		}
		out[id] = locs
	}
	return out
}

// blobCount counts the locations index.db holds of the tree's blobs.
func (f *fixture) blobCount(t *testing.T, ctx context.Context, tree object.ID) (n int) {
	for _, locs := range f.locations(t, ctx, tree) {
		n += len(locs)
	}
	return n
}

// A session paused past half its lease may have been taken for dead: the
// last check before it records anything renews the lease, refreshes the
// index, and refuses with ErrConflict when a plan took a blob the tree
// needs; it passes when nothing was taken.
func TestCheckLeaseAfterLapse(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, false)
	se, err := session.Begin(ctx, f.env, gc.KindStore)
	if err != nil {
		t.Fatal(err)
	}
	defer se.End()
	tree := f.storeTree(t, ctx, se)

	f.advance(31 * time.Minute)
	if !se.Lease().Lapsed() {
		t.Fatal("31 minutes without a refresh of a 1-hour lease: not lapsed")
	}
	refreshes := f.refreshes
	if err := se.CheckLease(ctx, tree); err != nil {
		t.Fatalf("lapsed, but nothing was taken: %v", err)
	}
	if se.Lease().Lapsed() || f.refreshes != refreshes+1 {
		t.Fatalf("after the check: lapsed %v, refreshes %d (want the lease renewed and one refresh)", se.Lease().Lapsed(), f.refreshes-refreshes)
	}

	packs := f.packsOf(t, ctx, tree)
	f.condemn(t, ctx, packs)
	f.advance(31 * time.Minute)
	err = se.CheckLease(ctx, tree)
	if !errors.Is(err, session.ErrConflict) {
		t.Fatalf("a plan took the tree's packs while the lease lapsed: %v, want ErrConflict", err)
	}
	if !strings.Contains(err.Error(), "nothing was recorded") || !strings.Contains(err.Error(), "blobs it relied on") {
		t.Fatalf("message %q does not say what happened", err)
	}
	if !se.Condemned()[packs[0].ID] {
		t.Fatal("the renewal did not load the new plan's condemned packs")
	}
}
