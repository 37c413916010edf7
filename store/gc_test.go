package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store/config"
)

// uniqueBytes sums the stored bytes of the blobs reachable from drop's
// versions and from no version of keep.
func uniqueBytes(t testing.TB, s *Store, drop, keep []object.ID) (int64, map[object.ID]bool) {
	t.Helper()
	gone := reachable(t, s, drop)
	live := reachable(t, s, keep)
	locs := indexedBlobs(t, s)
	var n int64
	unique := map[object.ID]bool{}
	for id := range gone {
		if !live[id] {
			unique[id] = true
			n += int64(locs[id].Length)
		}
	}
	return n, unique
}

// allVersions returns every recorded version id (projects and templates).
func allVersions(t testing.TB, s *Store) []object.ID {
	t.Helper()
	var out []object.ID
	err := s.db.View(func(tx *index.Tx) error {
		return tx.Snapshots(func(ref index.SnapshotRef, _ []byte) error { out = append(out, ref.ID); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestGCHardDeleteFreesUniqueBytes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	common := map[string][]byte{
		"vendor/lib.bin": testutil.RandomBytes(1, 700<<10),
		"vendor/lib.go":  textBytes(2, 200<<10),
	}
	mk := func(name string, seed uint64) string {
		d := e.path("src", name)
		writeTree(t, d, common)
		writeTree(t, d, map[string][]byte{
			"own.bin":    testutil.RandomBytes(seed, 900<<10),
			"own/src.go": textBytes(seed+1, 300<<10),
		})
		return d
	}
	// the project to delete goes first, so the shared blobs sit in its packs
	// and have to be rewritten, not just left alone
	doomed, keep := mk("doomed", 10), mk("keep", 20)
	e.save(t, doomed, "doomed")
	e.clock.Advance(time.Minute)
	want := map[string]manifest{}
	r := e.save(t, keep, "keep")
	want[r.Snapshot.String()] = takeManifest(t, keep)
	e.clock.Advance(time.Minute)
	writeFile(t, doomed, "own/v2.bin", testutil.RandomBytes(11, 400<<10))
	e.save(t, doomed, "doomed")
	e.clock.Advance(time.Minute)
	writeFile(t, keep, "own/v2.go", textBytes(21, 100<<10))
	r = e.save(t, keep, "keep")
	want[r.Snapshot.String()] = takeManifest(t, keep)

	doomedVersions := versionIDs(t, e.s, "doomed")
	keepVersions := versionIDs(t, e.s, "keep")
	unique, uniqueIDs := uniqueBytes(t, e.s, doomedVersions, keepVersions)
	shared := reachable(t, e.s, keepVersions)
	if unique < 1<<20 {
		t.Fatalf("setup: only %d bytes unique to the doomed project", unique)
	}
	if _, err := e.s.Delete(ctx, "doomed", true); err != nil {
		t.Fatal(err)
	}
	before, packsBefore := packBytes(t, e.s)

	// the plan changes nothing and predicts what the sweep frees
	dry, err := e.s.GC(ctx, GCOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := packBytes(t, e.s); n != before {
		t.Fatalf("dry run changed the packs: %d bytes, was %d", n, before)
	}
	if len(dry.Plan.Repack) == 0 {
		t.Errorf("plan repacks nothing, but the doomed project's packs hold shared blobs")
	}
	rep, err := e.s.GC(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after, packsAfter := packBytes(t, e.s)
	freed := before - after
	t.Logf("packs %d -> %d, %d bytes -> %d: freed %d, unique to the deleted project %d (plan said %d, result %d)",
		packsBefore, packsAfter, before, after, freed, unique, dry.Plan.FreedBytes, rep.Result.FreedBytes)
	// within pack overhead: headers and tables of the packs rewritten
	if slack := int64(packsBefore) * 2048; freed < unique-slack || freed > unique+slack {
		t.Errorf("gc freed %d bytes, %d are unique to the deleted project (slack %d)", freed, unique, slack)
	}
	if rep.Result.FreedBytes != freed {
		t.Errorf("gc reports %d bytes freed, the packs shrank by %d", rep.Result.FreedBytes, freed)
	}
	if d := dry.Plan.FreedBytes - freed; d < -4096 || d > 4096 {
		t.Errorf("the plan predicted %d bytes freed, the sweep freed %d", dry.Plan.FreedBytes, freed)
	}
	locs := indexedBlobs(t, e.s)
	for id := range uniqueIDs {
		if _, ok := locs[id]; ok {
			t.Fatalf("blob %s unique to the deleted project survived gc", id.Short())
		}
	}
	for id := range shared {
		if _, ok := locs[id]; !ok {
			t.Fatalf("shared blob %s lost", id.Short())
		}
	}
	checkClean(t, e.s)
	for id, m := range want {
		restoreMatches(t, e.s, id, m)
	}
	// a second collection finds nothing to do
	again, err := e.s.GC(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.Result.PacksDeleted+again.Result.PacksRepacked != 0 || again.Result.FreedBytes != 0 {
		t.Errorf("second gc: %+v", again.Result)
	}
	// and the log has a line per collection
	b, err := os.ReadFile(filepath.Join(e.s.BaseDir(), "logs", "gc.log"))
	if err != nil || strings.Count(string(b), `"operation":"gc"`) != 2 {
		t.Errorf("gc.log: %q %v", b, err)
	}
}

func TestGCRepackKeepsSurvivors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("p")
	writeTree(t, dir, map[string][]byte{
		"dead.bin":  testutil.RandomBytes(1, 150<<10),
		"dead.go":   textBytes(2, 40<<10),
		"live.bin":  testutil.RandomBytes(3, 300<<10),
		"live.go":   textBytes(4, 120<<10),
		"small.txt": []byte("small\n"),
	})
	e.save(t, dir, "p")
	if _, err := e.s.AddTemplate(ctx, "tpl", "backend", dir, false); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "dead.bin")); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "dead.go"))
	os.Remove(filepath.Join(e.path("p"), "small.txt"))
	e.clock.Advance(time.Hour)
	v2 := e.save(t, dir, "p")
	m2 := takeManifest(t, dir)
	// the template keeps the first tree alive; replace it so the dead files
	// are dead everywhere
	other := e.path("tpl2")
	writeFile(t, other, "x.txt", []byte("x"))
	if _, err := e.s.AddTemplate(ctx, "tpl", "backend", other, true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.NewFromTemplate(ctx, "tpl", SaveOptions{Project: "from-tpl"}); err != nil {
		t.Fatal(err)
	}
	res, err := e.s.Forget(ctx, "p", gc.Policy{Last: 1}, false)
	if err != nil || res.Removed != 1 || res.Kept != 1 {
		t.Fatalf("forget: %+v %v", res, err)
	}

	// a high threshold leaves the mostly-live data pack alone
	plan, err := e.s.GC(ctx, GCOptions{DryRun: true, Threshold: 0.99})
	if err != nil {
		t.Fatal(err)
	}
	for _, pp := range plan.Plan.Repack {
		if pp.Data {
			t.Errorf("threshold 0.99 repacks data pack %s (%d of %d bytes live)", pp.ID.Short(), pp.LiveBytes, pp.Size)
		}
	}
	// a tiny one forces it
	dead := map[object.ID]bool{}
	for id := range reachable(t, e.s, allVersions(t, e.s)) {
		dead[id] = false
	}
	before := indexedBlobs(t, e.s)
	rep, err := e.s.GC(ctx, GCOptions{Threshold: 0.0001})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result.PacksRepacked == 0 || rep.Result.PacksWritten == 0 {
		t.Fatalf("nothing repacked: %+v", rep.Result)
	}
	var repackedData bool
	for _, pp := range rep.Plan.Repack {
		repackedData = repackedData || pp.Data
		if _, err := e.s.be.Stat(ctx, object.PackName(pp.ID)); !errors.Is(err, object.ErrNotFound) {
			t.Errorf("repacked pack %s still on disk: %v", pp.ID.Short(), err)
		}
	}
	if !repackedData {
		t.Error("no data pack was repacked")
	}
	after := indexedBlobs(t, e.s)
	for id := range dead {
		l, ok := after[id]
		if !ok {
			t.Fatalf("live blob %s lost", id.Short())
		}
		if _, err := e.s.repo.LoadBlob(ctx, id, nil); err != nil {
			t.Fatalf("live blob %s in pack %s: %v", id.Short(), l.Pack.Short(), err)
		}
	}
	removed := 0
	for id, l := range before {
		if _, ok := after[id]; !ok {
			removed++
			if l.Type == object.MetaBlob {
				continue
			}
			if _, live := dead[id]; live {
				t.Errorf("blob %s removed but live", id.Short())
			}
		}
	}
	if removed == 0 || rep.Result.BlobsRemoved != removed {
		t.Errorf("%d blobs left the index, gc says %d", removed, rep.Result.BlobsRemoved)
	}
	checkClean(t, e.s)
	restoreMatches(t, e.s, v2.Snapshot.String(), m2)
	restoreMatches(t, e.s, "from-tpl", takeManifest(t, other))
	// and after an index rebuild from the packs alone, the forgotten
	// version stays gone (its snapshot blob was rewritten away)
	if _, err := e.s.RebuildIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if vs := versionIDs(t, e.s, "p"); len(vs) != 1 || vs[0] != v2.Snapshot {
		t.Errorf("after rebuild p has versions %v, want only %s", vs, v2.Snapshot.Short())
	}
	checkClean(t, e.s)
}

func TestForgetInjectedClock(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("p")
	writeFile(t, dir, "base.bin", testutil.RandomBytes(1, 64<<10))
	at := []time.Time{
		time.Date(2024, 1, 1, 10, 0, 0, 0, time.Local),
		time.Date(2024, 1, 1, 15, 0, 0, 0, time.Local),
		time.Date(2024, 1, 2, 9, 0, 0, 0, time.Local),
		time.Date(2024, 1, 9, 9, 0, 0, 0, time.Local),
		time.Date(2024, 2, 1, 9, 0, 0, 0, time.Local),
		time.Date(2024, 2, 1, 9, 30, 0, 0, time.Local),
		time.Date(2024, 3, 15, 12, 0, 0, 0, time.Local),
		time.Date(2024, 3, 16, 12, 0, 0, 0, time.Local),
	}
	var ids []string
	mans := map[string]manifest{}
	for i, ti := range at {
		e.clock.Set(ti)
		os.Remove(filepath.Join(dir, fmt.Sprintf("v%d.bin", i)))
		writeFile(t, dir, fmt.Sprintf("v%d.bin", i+1), testutil.RandomBytes(uint64(100+i), 32<<10))
		r := e.save(t, dir, "p")
		ids = append(ids, r.Snapshot.String())
		mans[r.Snapshot.String()] = takeManifest(t, dir)
	}
	kept := func() []string {
		var out []string
		for _, v := range versionIDs(t, e.s, "p") {
			out = append(out, v.String())
		}
		return out
	}
	decided := func(res *ForgetResult) (keep []string) {
		for _, d := range res.Decisions {
			if d.Keep {
				keep = append(keep, d.ID)
			}
		}
		return keep
	}
	// v8 (03-16), v7 (03-15), v6 (02-01 09:30), v5, v4 (01-09), v3, v2, v1
	res, err := e.s.Forget(ctx, "p", gc.Policy{Monthly: 3}, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ids[7], ids[5], ids[3]}
	if got := decided(res); !slices.Equal(got, want) || res.Removed != 5 || !res.DryRun {
		t.Fatalf("monthly 3 (dry run) keeps %v (removed %d), want v8 v6 v4", got, res.Removed)
	}
	if len(kept()) != 8 {
		t.Fatal("dry run removed versions")
	}
	if _, err := e.s.Forget(ctx, "p", gc.Policy{Monthly: 3}, false); err != nil {
		t.Fatal(err)
	}
	if got := kept(); !slices.Equal(got, want) {
		t.Fatalf("after forget --keep-monthly 3: %v, want %v", got, want)
	}
	for _, i := range []int{0, 1, 2, 4, 6} {
		if _, err := e.s.ResolveSnapshot(ids[i]); !errors.Is(err, ErrSnapshotNotFound) {
			t.Errorf("forgotten v%d resolves: %v", i+1, err)
		}
	}
	// keep-daily 1 keeps only the newest; keep-last 0 with nothing else is
	// refused
	res, err = e.s.Forget(ctx, "p", gc.Policy{Daily: 1}, false)
	if err != nil || res.Removed != 2 || !slices.Equal(kept(), []string{ids[7]}) {
		t.Fatalf("keep-daily 1: %+v %v; versions %v", res, err, kept())
	}
	if res.Decisions[0].ID != ids[7] || !slices.Contains(res.Decisions[0].Reasons, "newest") {
		t.Errorf("newest decision %+v", res.Decisions[0])
	}
	if _, err := e.s.Forget(ctx, "p", gc.Policy{}, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty policy: %v, want ErrInvalid", err)
	}
	if _, err := e.s.Forget(ctx, "p", gc.Policy{Last: -1}, false); !errors.Is(err, ErrInvalid) {
		t.Errorf("negative policy: %v, want ErrInvalid", err)
	}
	// the newest is never removed, whatever the policy
	res, err = e.s.Forget(ctx, "p", gc.Policy{Hourly: 1}, false)
	if err != nil || res.Removed != 0 || !slices.Equal(kept(), []string{ids[7]}) {
		t.Fatalf("newest removed: %+v %v", res, err)
	}
	// gc frees the forgotten versions' files; the newest restores
	before, _ := packBytes(t, e.s)
	if _, err := e.s.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	after, _ := packBytes(t, e.s)
	if before-after < 7*(32<<10) {
		t.Errorf("gc freed %d bytes after forgetting 7 versions of 32 KiB unique data each", before-after)
	}
	checkClean(t, e.s)
	restoreMatches(t, e.s, ids[7], mans[ids[7]])
}

// TestGCConcurrentWithStores runs collections in a loop while other
// goroutines store changing trees and a project is hard-deleted, all in
// one process (as the server does), then checks that every recorded
// version is intact.
func TestGCConcurrentWithStores(t *testing.T) {
	testGCConcurrent(t, 1)
}

// TestGCConcurrentWithParallelStores is the same with two stores at once
// (it found concurrent Flush calls panicking on a reused sync.WaitGroup,
// fixed in 0ff7dcd).
func TestGCConcurrentWithParallelStores(t *testing.T) {
	testGCConcurrent(t, 2)
}

func testGCConcurrent(t *testing.T, writers int) {
	e := newEnv(t, func(c *config.Config) { c.PackSize = 1 << 20 })
	ctx := context.Background()
	rounds := 10
	if longTests() {
		rounds = 40
	}
	shared := map[string][]byte{"shared/lib.bin": testutil.RandomBytes(1, 200<<10), "shared/lib.go": textBytes(2, 60<<10)}
	victim := e.path("victim")
	writeTree(t, victim, shared)
	writeFile(t, victim, "own.bin", testutil.RandomBytes(3, 300<<10))
	e.save(t, victim, "victim")
	writeFile(t, victim, "own2.bin", testutil.RandomBytes(4, 100<<10))
	e.save(t, victim, "victim")

	type version struct {
		id  string
		man manifest
	}
	var mu sync.Mutex
	var recorded []version
	var writersDone atomic.Bool
	errc := make(chan error, 8)
	var wg sync.WaitGroup
	writer := func(w int) {
		defer wg.Done()
		dir := e.path(fmt.Sprintf("w%d", w))
		writeTree(t, dir, shared)
		for i := range rounds {
			// change the tree: a new file, a rewritten one, a removed one
			writeFile(t, dir, fmt.Sprintf("f%03d.bin", i), testutil.RandomBytes(uint64(w*1000+i), 40<<10+i*100))
			writeFile(t, dir, "changing.go", textBytes(uint64(w*7+i), 20<<10))
			if i >= 2 {
				os.Remove(filepath.Join(dir, fmt.Sprintf("f%03d.bin", i-2)))
			}
			if i%3 == 0 {
				// bring back content a collection may be deleting right now
				writeFile(t, dir, "resurrect.bin", testutil.RandomBytes(3, 300<<10))
			} else {
				os.Remove(filepath.Join(dir, "resurrect.bin"))
			}
			man := takeManifest(t, dir)
			res, err := e.s.Save(ctx, dir, SaveOptions{Project: fmt.Sprintf("writer-%d", w)})
			if err != nil {
				errc <- fmt.Errorf("writer %d round %d: %w", w, i, err)
				return
			}
			mu.Lock()
			recorded = append(recorded, version{res.Snapshot.String(), man})
			mu.Unlock()
			if i >= 3 && i%2 == 1 {
				// retention beside the collections: older versions become garbage
				if _, err := e.s.Forget(ctx, fmt.Sprintf("writer-%d", w), gc.Policy{Last: 3}, false); err != nil {
					errc <- fmt.Errorf("writer %d round %d: forget: %w", w, i, err)
					return
				}
			}
			if w == 0 && i == rounds/3 {
				if _, err := e.s.Delete(ctx, "victim", true); err != nil {
					errc <- err
					return
				}
			}
		}
	}
	for w := range writers {
		wg.Add(1)
		go writer(w)
	}
	var gcs, swept atomic.Int64
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for !writersDone.Load() {
			rep, err := e.s.GC(ctx, GCOptions{Threshold: 0.01})
			if err != nil {
				errc <- fmt.Errorf("gc %d: %w", gcs.Load()+1, err)
				return
			}
			gcs.Add(1)
			swept.Add(int64(rep.Result.PacksDeleted + rep.Result.PacksRepacked))
		}
	}()
	wg.Wait()
	writersDone.Store(true)
	<-gcDone
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	if _, err := e.s.GC(ctx, GCOptions{Threshold: 0.01}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d collections ran beside %d stores, sweeping %d packs", gcs.Load(), len(recorded), swept.Load())
	if gcs.Load() < 2 || swept.Load() == 0 {
		t.Errorf("collections %d, packs swept %d: the test did not exercise gc beside stores", gcs.Load(), swept.Load())
	}
	checkClean(t, e.s)
	// every version still recorded restores as it was stored; forget kept
	// at least the last three of each writer
	live := map[string]bool{}
	for _, id := range allVersions(t, e.s) {
		live[id.String()] = true
	}
	restored := 0
	for w := range writers {
		vs := versionIDs(t, e.s, fmt.Sprintf("writer-%d", w))
		if len(vs) < 3 {
			t.Errorf("writer-%d has %d versions, want at least 3", w, len(vs))
		}
	}
	for _, v := range recorded {
		if live[v.id] {
			restoreMatches(t, e.s, v.id, v.man)
			restored++
		}
	}
	if restored < 3*writers {
		t.Errorf("only %d recorded versions left to restore", restored)
	}
	if _, err := e.s.Get("victim"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("victim: %v", err)
	}
}

// TestGCMissingBlobStops: a gc that finds a referenced blob missing stops
// with gc.ErrMissing and deletes nothing.
func TestGCMissingBlobStops(t *testing.T) {
	setup := func(t *testing.T) (*testEnv, map[string]int64, map[object.ID]object.Location) {
		e := newEnv(t)
		ctx := context.Background()
		for i, name := range []string{"a", "b", "c"} {
			d := e.path(name)
			smallProject(t, d, uint64(i+1), 64)
			e.save(t, d, name)
		}
		// garbage for gc to want to delete
		if _, err := e.s.Delete(ctx, "c", true); err != nil {
			t.Fatal(err)
		}
		plan, err := e.s.GC(ctx, GCOptions{DryRun: true})
		if err != nil || len(plan.Plan.Delete)+len(plan.Plan.Repack) == 0 {
			t.Fatalf("setup: the plan has nothing to do (%v)", err)
		}
		return e, packFiles(t, e.s), indexedBlobs(t, e.s)
	}
	// packOf returns the pack of a's blob of the given type, by path.
	packOf := func(t *testing.T, e *testEnv, typ object.BlobType) object.ID {
		live := reachable(t, e.s, versionIDs(t, e.s, "a"))
		onlyA := reachable(t, e.s, versionIDs(t, e.s, "b"))
		for id, l := range indexedBlobs(t, e.s) {
			if l.Type == typ && live[id] && !onlyA[id] {
				return l.Pack
			}
		}
		t.Fatalf("no %s blob of a", typ)
		return object.ID{}
	}
	expectStop := func(t *testing.T, e *testEnv, packs map[string]int64, blobs map[object.ID]object.Location) {
		t.Helper()
		ctx := context.Background()
		for _, dry := range []bool{true, false} {
			_, err := e.s.GC(ctx, GCOptions{DryRun: dry})
			if !errors.Is(err, gc.ErrMissing) {
				t.Fatalf("gc (dry run %v): %v, want gc.ErrMissing", dry, err)
			}
		}
		if got := packFiles(t, e.s); len(got) != len(packs) {
			t.Errorf("gc deleted packs: %d left of %d", len(got), len(packs))
		} else {
			for name := range packs {
				if _, ok := got[name]; !ok {
					t.Errorf("pack %s deleted", name)
				}
			}
		}
		if got := indexedBlobs(t, e.s); len(got) != len(blobs) {
			t.Errorf("gc changed the index: %d blobs, was %d", len(got), len(blobs))
		}
	}
	for _, typ := range []object.BlobType{object.DataBlob, object.TreeBlob} {
		t.Run("pack file of a "+typ.String()+" blob deleted", func(t *testing.T) {
			e, packs, blobs := setup(t)
			p := packOf(t, e, typ)
			name := object.PackName(p)
			if err := os.Remove(filepath.Join(e.cfg.BasePath, filepath.FromSlash(name))); err != nil {
				t.Fatal(err)
			}
			e.s.repo.Forget(p)
			delete(packs, name)
			// gc brings the index up to date with the backend first: the
			// gone pack's blobs leave it and are recorded lost
			lostBefore := 0
			for id, l := range blobs {
				if l.Pack == p {
					delete(blobs, id)
					lostBefore++
				}
			}
			expectStop(t, e, packs, blobs)
			var lost int
			e.s.db.View(func(tx *index.Tx) error { lost = tx.LostCount(); return nil })
			if lost != lostBefore {
				t.Errorf("%d blobs recorded lost, the gone pack held %d", lost, lostBefore)
			}
			// repair reports the loss (which acknowledges it); gc then runs
			rep, err := e.s.Repair(context.Background(), RepairOptions{})
			if !errors.Is(err, ErrCheckFailed) || rep.Lost != lostBefore || len(rep.Affected) == 0 {
				t.Fatalf("repair: %v, %+v; want %d lost blobs and the versions affected", err, rep, lostBefore)
			}
			if _, err := e.s.GC(context.Background(), GCOptions{}); err != nil {
				t.Fatalf("gc after repair: %v", err)
			}
		})
	}
	t.Run("index entry of a data blob deleted", func(t *testing.T) {
		e, packs, _ := setup(t)
		live := reachable(t, e.s, versionIDs(t, e.s, "a"))
		var victim object.ID
		for id, l := range indexedBlobs(t, e.s) {
			if l.Type == object.DataBlob && live[id] {
				victim = id
				break
			}
		}
		if err := e.s.db.Update(func(tx *index.Tx) error { return tx.DeleteBlob(victim) }); err != nil {
			t.Fatal(err)
		}
		expectStop(t, e, packs, indexedBlobs(t, e.s))
	})
}

// hookProgress runs fn once, at the first progress report of a store.
type hookProgress struct {
	once sync.Once
	fn   func()
}

func (h *hookProgress) AddTotal(int64, int64) {}
func (h *hookProgress) AddDone(int64, int64)  { h.once.Do(h.fn) }

// TestDeleteWhileSaving: a project deleted (soft or hard) while a new
// version of it is being stored must stay deleted; the store fails.
func TestDeleteWhileSaving(t *testing.T) {
	for _, hard := range []bool{false, true} {
		t.Run(fmt.Sprintf("hard=%v", hard), func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			dir := e.path("p")
			smallProject(t, dir, 1, 8)
			first := e.save(t, dir, "p")
			writeFile(t, dir, "new.bin", testutil.RandomBytes(9, 100<<10))
			var delErr error
			prog := &hookProgress{fn: func() { _, delErr = e.s.Delete(ctx, "p", hard) }}
			res, err := e.s.Save(ctx, dir, SaveOptions{Project: "p", Progress: prog})
			if delErr != nil {
				t.Fatalf("delete during the store: %v", delErr)
			}
			if err == nil {
				t.Errorf("the store of a project deleted meanwhile succeeded (version %s)", res.Snapshot.Short())
			}
			p, gerr := e.s.Get(first.ProjectID)
			switch {
			case hard && gerr == nil:
				t.Errorf("hard-deleted project came back: %+v", p)
			case !hard && (gerr != nil || p.Status != StatusDeleted || len(p.Versions) != 1):
				t.Errorf("soft-deleted project: %+v %v", p, gerr)
			}
			// and it stays so through an index rebuild
			if _, err := e.s.RebuildIndex(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if p, err := e.s.Get(first.ProjectID); hard && err == nil {
				t.Errorf("hard-deleted project back after rebuild: %+v", p)
			}
			checkClean(t, e.s)
		})
	}
}

// TestTemplateReplaceFreesOldTree: replacing a template drops the old
// template version as a root, so gc frees what only it used; a project made
// from the old template keeps its files.
func TestTemplateReplaceFreesOldTree(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v1 := e.path("tpl-v1")
	writeTree(t, v1, map[string][]byte{"common.go": textBytes(1, 20<<10), "only-v1.bin": testutil.RandomBytes(2, 300<<10)})
	if _, err := e.s.AddTemplate(ctx, "svc", "backend", v1, false); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	fromV1, err := e.s.NewFromTemplate(ctx, "svc", SaveOptions{Project: "made-from-v1"})
	if err != nil {
		t.Fatal(err)
	}
	v1Man := takeManifest(t, v1)
	v2 := e.path("tpl-v2")
	writeTree(t, v2, map[string][]byte{"common.go": textBytes(1, 20<<10), "only-v2.bin": testutil.RandomBytes(3, 200<<10)})
	e.clock.Advance(time.Minute)
	if _, err := e.s.AddTemplate(ctx, "svc", "backend", v2, true); err != nil {
		t.Fatal(err)
	}
	tpls, _ := e.s.Templates()
	snaps, _ := e.s.Snapshots("")
	var tplSnaps int
	for _, sn := range snaps {
		if sn.ProjectID == catalog.TemplateProjectID("svc") {
			tplSnaps++
		}
	}
	if len(tpls) != 1 || tplSnaps != 1 {
		t.Fatalf("%d templates, %d template versions recorded; want 1 and 1", len(tpls), tplSnaps)
	}
	// the old tree is still used by the project made from it
	if _, err := e.s.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	restoreMatches(t, e.s, fromV1.Snapshot.String(), v1Man)
	// once that project is gone, gc frees the old template's own file
	before, _ := packBytes(t, e.s)
	if _, err := e.s.Delete(ctx, "made-from-v1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	after, _ := packBytes(t, e.s)
	if before-after < 300<<10 {
		t.Errorf("gc freed %d bytes; the replaced template's 300 KiB file should go", before-after)
	}
	p, err := e.s.NewFromTemplate(ctx, "svc", SaveOptions{Project: "made-from-v2"})
	if err != nil {
		t.Fatal(err)
	}
	restoreMatches(t, e.s, p.Snapshot.String(), takeManifest(t, v2))
	checkClean(t, e.s)
}

// TestInterruptedSweepThenRebuild: gc switches the index to rewritten packs
// and then stops (as if killed) after deleting only some of the old packs;
// an index rebuild from the packs left on disk must give a repository that
// checks clean, whose every version restores, without the hard-deleted
// project.
func TestInterruptedSweepThenRebuild(t *testing.T) {
	completed := false
	for budget := 0; !completed && budget < 40; budget++ {
		if !t.Run(fmt.Sprintf("after %d deletes", budget), func(t *testing.T) {
			completed = interruptedSweep(t, budget)
		}) {
			return
		}
	}
	if !completed {
		t.Error("gc never completed")
	}
}

// interruptedSweep runs the scenario, deletes failing after budget of them;
// it reports whether the gc completed (the budget was large enough).
func interruptedSweep(t *testing.T, budget int) (completed bool) {
	dir := t.TempDir()
	cfg := testConfig(dir)
	clock := newClock(t0)
	fb := newFaultBackend(cfg.BasePath, 0, syscall.EIO)
	ctx := context.Background()
	s, err := Open(ctx, Options{Config: cfg, Create: true, Now: clock.Now, Backend: fb})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := filepath.Join(dir, "p")
	writeTree(t, src, map[string][]byte{"a.bin": testutil.RandomBytes(1, 200<<10), "b.go": textBytes(2, 50<<10)})
	if _, err := s.Save(ctx, src, SaveOptions{Project: "p"}); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "q")
	writeTree(t, other, map[string][]byte{"q.bin": testutil.RandomBytes(3, 100<<10)})
	if _, err := s.Save(ctx, other, SaveOptions{Project: "q"}); err != nil {
		t.Fatal(err)
	}
	writeTree(t, src, map[string][]byte{"a.bin": testutil.RandomBytes(4, 200<<10)})
	clock.Advance(time.Hour)
	v2, err := s.Save(ctx, src, SaveOptions{Project: "p"})
	if err != nil {
		t.Fatal(err)
	}
	want := takeManifest(t, src)
	if _, err := s.Forget(ctx, "p", gc.Policy{Last: 1}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "q", true); err != nil {
		t.Fatal(err)
	}
	fb.noDelete, fb.deletesLeft = true, budget
	_, gcErr := s.GC(ctx, GCOptions{Threshold: 0.01})
	fb.noDelete = false
	checkClean(t, s)
	if _, err := s.RebuildIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	checkClean(t, s)
	if _, err := s.Get("q"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("hard-deleted q after rebuild: %v", err)
	}
	vs := versionIDs(t, s, "p")
	if vs[0] != v2.Snapshot {
		t.Fatalf("newest version after rebuild %s, want %s", vs[0].Short(), v2.Snapshot.Short())
	}
	if len(vs) > 1 {
		// forget writes no tombstone: a forgotten version whose snapshot
		// blob is still in an old pack comes back, complete
		t.Logf("after rebuild p has %d versions (a forgotten one came back)", len(vs))
	}
	for _, v := range vs[1:] {
		if _, _, err := s.Restore(ctx, v.String(), filepath.Join(t.TempDir(), "old"), RestoreOptions{}); err != nil {
			t.Errorf("a version back after rebuild does not restore: %v", err)
		}
	}
	restoreMatches(t, s, v2.Snapshot.String(), want)
	if _, err := s.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	checkClean(t, s)
	return gcErr == nil
}

// Forgotten versions stay forgotten when the index is rebuilt before gc has
// removed their snapshot blobs (a forget record in the packs says so), and
// after gc as well.
func TestForgetSurvivesIndexRebuild(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("p")
	var ids []string
	for i := range 4 {
		e.clock.Advance(24 * time.Hour)
		writeFile(t, dir, fmt.Sprintf("v%d.bin", i), testutil.RandomBytes(uint64(200+i), 16<<10))
		ids = append(ids, e.save(t, dir, "p").Snapshot.String())
	}
	if _, err := e.s.Forget(ctx, "p", gc.Policy{Last: 2}, false); err != nil {
		t.Fatal(err)
	}
	want := []string{ids[3], ids[2]}
	versions := func(how string) {
		t.Helper()
		var got []string
		for _, v := range versionIDs(t, e.s, "p") {
			got = append(got, v.String())
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: versions %v, want %v", how, got, want)
		}
	}
	versions("after forget")
	if _, err := e.s.RebuildIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	versions("after an index rebuild before gc")
	if _, err := e.s.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	e.close(t)
	if err := os.Remove(filepath.Join(e.cfg.BasePath, "index.db")); err != nil {
		t.Fatal(err)
	}
	e.s = e.open(t)
	versions("after gc and a rebuild from the packs")
	checkClean(t, e.s)
}

// TestRefreshDoesNotBringBackRemovedPacks: gc takes a condemned pack out
// of the index before it deletes the file; a refresh whose listing still
// shows the file must not index it again (or a later store would reuse
// blobs the deletion takes away). Once the file is gone, and the listing
// is later than that, a pack of the same name (written again) is indexed.
func TestRefreshDoesNotBringBackRemovedPacks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.path("src")
	smallProject(t, src, 7, 64)
	e.save(t, src, "p")
	var victim object.ID
	var blobs []object.Blob
	for _, l := range indexedBlobs(t, e.s) {
		if len(blobs) == 0 || l.Pack == victim {
			victim = l.Pack
			blobs = append(blobs, l.Blob)
		}
	}
	inIndex := func() bool {
		found := false
		e.s.db.View(func(tx *index.Tx) error {
			return tx.Packs(func(p object.PackInfo) error {
				found = found || p.ID == victim
				return nil
			})
		})
		return found
	}
	// what carry does first: out of the index, the file still there
	if err := e.s.db.Update(func(tx *index.Tx) error { return tx.RemovePack(victim, blobs) }); err != nil {
		t.Fatal(err)
	}
	rep, err := e.s.refresh(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if inIndex() || slices.Contains(rep.Added, victim) {
		t.Fatalf("refresh indexed pack %s again while gc was deleting it (added %v)", victim, rep.Added)
	}
	// the file is deleted (the pack here stays, standing for the same
	// pack written again later); a listing begun before that still skips it
	if err := e.s.db.Update(func(tx *index.Tx) error {
		return tx.PacksDeleted([]object.ID{victim}, time.Now().Add(time.Second))
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.refresh(ctx, false); err != nil {
		t.Fatal(err)
	}
	if inIndex() {
		t.Fatalf("a listing older than the deletion brought pack %s back", victim)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := e.s.refresh(ctx, false); err != nil {
		t.Fatal(err)
	}
	if !inIndex() {
		t.Fatalf("pack %s, listed after its deletion, was not indexed", victim)
	}
	checkClean(t, e.s)
}

// TestVersionTags: store --tag tags the version as well as the project;
// PROJECT@TAG names the newest version with the tag (ahead of an id prefix
// that reads the same), Snapshots lists each version's own tags, and
// forget --keep-tag keeps tagged versions.
func TestVersionTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("p")
	writeFile(t, dir, "a.txt", []byte("one"))
	v1 := e.save(t, dir, "p", func(o *SaveOptions) { o.Tags = []string{"rel1"} })
	e.clock.Advance(time.Hour)
	writeFile(t, dir, "a.txt", []byte("two"))
	v2 := e.save(t, dir, "p", func(o *SaveOptions) { o.Tags = []string{"rel2"} })
	e.clock.Advance(time.Hour)
	writeFile(t, dir, "a.txt", []byte("three"))
	v3 := e.save(t, dir, "p")
	// a tag spelled like the start of another version's id
	hexTag := v3.Snapshot.String()[:6]
	e.clock.Advance(time.Hour)
	writeFile(t, dir, "a.txt", []byte("four"))
	v4 := e.save(t, dir, "p", func(o *SaveOptions) { o.Tags = []string{hexTag} })

	for ref, want := range map[string]object.ID{"p@rel1": v1.Snapshot, "p@rel2": v2.Snapshot, "p@" + hexTag: v4.Snapshot, "p@latest": v4.Snapshot} {
		info, err := e.s.ResolveSnapshot(ref)
		if err != nil || info.ID != want.String() {
			t.Errorf("%s: %s %v, want %s", ref, info.ID, err, want)
		}
	}
	if _, err := e.s.ResolveSnapshot("p@rel9"); !errors.Is(err, ErrSnapshotNotFound) {
		t.Errorf("p@rel9: %v", err)
	}
	list, err := e.s.Snapshots("p")
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string][]string{}
	for _, sn := range list {
		tags[sn.ID] = sn.VersionTags
	}
	if !slices.Equal(tags[v1.Snapshot.String()], []string{"rel1"}) || len(tags[v3.Snapshot.String()]) != 0 {
		t.Errorf("version tags: %v", tags)
	}
	p, _ := e.s.Get("p")
	if !slices.Contains(p.Tags, "rel1") || !slices.Contains(p.Tags, "rel2") {
		t.Errorf("project tags: %v", p.Tags)
	}
	res, err := e.s.Forget(ctx, "p", gc.Policy{Last: 1, Tags: []string{"rel1"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	left, _ := e.s.Snapshots("p")
	var ids []string
	for _, sn := range left {
		ids = append(ids, sn.ID)
	}
	if want := []string{v4.Snapshot.String(), v1.Snapshot.String()}; !slices.Equal(ids, want) {
		t.Errorf("after forget --keep-last 1 --keep-tag rel1: %v, want %v (%+v)", ids, want, res.Decisions)
	}
	if _, err := e.s.ResolveSnapshot("p@rel1"); err != nil {
		t.Errorf("p@rel1 after forget: %v", err)
	}
}
