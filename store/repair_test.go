package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// packPath is the file of a pack in a local test repository.
func packPath(e *testEnv, pack object.ID) string {
	return filepath.Join(e.cfg.BasePath, filepath.FromSlash(object.PackName(pack)))
}

// flipTableChecksum damages a pack's table checksum only: every blob is
// intact, the table no longer checks.
func flipTableChecksum(t *testing.T, e *testEnv, pack object.ID) {
	t.Helper()
	fi, err := os.Stat(packPath(e, pack))
	if err != nil {
		t.Fatal(err)
	}
	checkFlipByte(t, packPath(e, pack), fi.Size()-12-32+5)
}

// Repair after damage to a pack's table alone loses nothing: the blobs,
// read one by one, go to a new pack (which must not take the damaged
// pack's name, although its content is the pack as it was before the
// damage); check is clean at once, naming the damaged pack as condemned,
// and the next gc deletes it.
func TestRepairTableOnlyDamage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.path("src")
	smallProject(t, src, 21, 256)
	want := takeManifest(t, src)
	res := e.save(t, src, "p")
	pack := indexedBlobs(t, e.s)[res.Snapshot].Pack
	flipTableChecksum(t, e, pack)
	if _, err := e.s.Check(ctx, CheckOptions{ReadData: true}); !errors.Is(err, ErrCheckFailed) {
		t.Fatalf("check of a damaged table: %v", err)
	}
	rep, err := e.s.Repair(ctx, RepairOptions{})
	if err != nil || rep.Lost != 0 || rep.Copied == 0 || len(rep.Damaged) != 1 || !rep.Damaged[0].Table {
		t.Fatalf("repair: %v %+v", err, rep)
	}
	crep := checkClean(t, e.s)
	if !slices.Contains(crep.Condemned, pack.String()) {
		t.Errorf("check after repair does not name damaged pack %s as condemned: %+v", pack.Short(), crep.Condemned)
	}
	if _, err := e.s.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(packPath(e, pack)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("gc after repair left the damaged pack: %v", err)
	}
	checkClean(t, e.s)
	restoreMatches(t, e.s, "p", want)
}

// A damaged snapshot blob is written again from the index's copy of the
// snapshot: nothing is lost, and the version checks and restores.
func TestRepairRewritesSnapshotFromIndex(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.path("src")
	smallProject(t, src, 22, 128)
	want := takeManifest(t, src)
	res := e.save(t, src, "p")
	flipBlob(t, e, res.Snapshot)
	rep, err := e.s.Repair(ctx, RepairOptions{})
	if err != nil || rep.Lost != 0 || rep.Rewritten != 1 {
		t.Fatalf("repair: %v %+v; want the snapshot blob rewritten, nothing lost", err, rep)
	}
	if _, err := e.s.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	checkClean(t, e.s)
	restoreMatches(t, e.s, "p", want)
	if loc := indexedBlobs(t, e.s)[res.Snapshot]; loc.Pack.IsZero() {
		t.Fatal("the snapshot blob is not indexed after repair")
	}
}

// A pack the index does not know is garbage to check only when its table
// reads: one whose table is damaged may hold what versions need, and check
// says so (and that index rebuild reads it blob by blob).
func TestCheckUnindexedDamagedPack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	src := e.path("src")
	smallProject(t, src, 23, 64)
	res := e.save(t, src, "p")
	pack := indexedBlobs(t, e.s)[res.Snapshot].Pack
	if err := e.s.db.Update(func(tx *index.Tx) error {
		var blobs []object.Blob
		tx.Blobs(func(l object.Location) error {
			if l.Pack == pack {
				blobs = append(blobs, l.Blob)
			}
			return nil
		})
		return tx.RemovePack(pack, blobs)
	}); err != nil {
		t.Fatal(err)
	}
	flipTableChecksum(t, e, pack)
	rep, err := e.s.Check(ctx, CheckOptions{})
	if !errors.Is(err, ErrCheckFailed) {
		t.Fatalf("check: %v, want problems", err)
	}
	found := slices.ContainsFunc(rep.Problems, func(p Problem) bool {
		return p.Kind == "bad-pack" && p.Pack == pack.String() && strings.Contains(p.Message, "not indexed")
	})
	if !found || slices.Contains(rep.Unreferenced, pack.String()) {
		t.Fatalf("check: problems %v, unreferenced %v; want pack %s named damaged, not garbage", rep.Problems, rep.Unreferenced, pack.Short())
	}
}
