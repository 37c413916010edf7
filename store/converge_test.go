package store

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/store/config"
)

// openAs opens the S3 repository as one machine: its own index cache and
// clock.
func openAs(t *testing.T, f *s3Fake, clock func() time.Time) (*Store, *config.Config) {
	t.Helper()
	cfg := f.config(t, "s3://silo/repo")
	s, err := Open(context.Background(), Options{Config: cfg, Create: true, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, cfg
}

// reopen closes s and opens its repository again from the same cache (a
// later command on that machine).
func reopen(t *testing.T, s *Store, cfg *config.Config, clock func() time.Time) *Store {
	t.Helper()
	s.Close()
	s2, err := Open(context.Background(), Options{Config: cfg, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Close() })
	return s2
}

// Two machines change one project at the same instant (equal clocks):
// after each has seen the other's packs, both hold the same record, the
// one with the greater change id, whichever order they refresh in. A hard
// delete is never undone by a machine that had not seen it.
func TestCatalogueConverges(t *testing.T) {
	f := newS3Fake(t, "silo")
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return at }
	a, cfgA := openAs(t, f, clock)
	src := filepath.Join(t.TempDir(), "p")
	s3MakeTree(t, src, s3TreeOpts{seed: 1, randomKiB: 64})
	s3Save(t, a, src, "p")
	s3Save(t, a, src, "q")
	b, cfgB := openAs(t, f, clock)
	ctx := context.Background()
	// a change made after seeing the other's builds on it and wins
	if _, err := a.Set(ctx, "p", SetOptions{AddTags: []string{"from-a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Set(ctx, "p", SetOptions{AddTags: []string{"from-b"}}); err != nil {
		t.Fatal(err)
	}
	a, b = reopen(t, a, cfgA, clock), reopen(t, b, cfgB, clock)
	pa, err := a.Get("p")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Get("p")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pa, pb) || !reflect.DeepEqual(pa.Tags, []string{"from-a", "from-b"}) {
		t.Fatalf("machines disagree or lost a change:\n a: %+v\n b: %+v", pa, pb)
	}

	// two changes that did not see each other (written at the same instant
	// from the same record): every machine keeps the one with the greater
	// change id, whatever it saw first
	var base *catalog.Record
	a.db.View(func(tx *index.Tx) error { base, err = catalog.FindRecord(tx, "q"); return err })
	ra, rb := *base, *base
	ra.Tags, rb.Tags = []string{"x"}, []string{"y"}
	ra.Stamp(at)
	rb.ChangedAt, rb.ChangeID, rb.Rev = ra.ChangedAt, ra.ChangeID+"1", ra.Rev // equal time, greater id
	// each machine records its own change as update does: meta blob, then
	// its index
	for _, w := range []struct {
		s *Store
		r *catalog.Record
	}{{a, &ra}, {b, &rb}} {
		if w.r.Origin, err = w.s.writeMeta(ctx, catalog.Meta{Kind: "project", Time: at, Project: w.r}); err != nil {
			t.Fatal(err)
		}
		if err := w.s.db.Update(func(tx *index.Tx) error { return catalog.ApplyRecord(tx, w.r) }); err != nil {
			t.Fatal(err)
		}
	}
	a, b = reopen(t, a, cfgA, clock), reopen(t, b, cfgB, clock)
	for name, s := range map[string]*Store{"a": a, "b": b} {
		q, err := s.Get("q")
		if err != nil || !reflect.DeepEqual(q.Tags, []string{"y"}) {
			t.Fatalf("machine %s holds q with tags %v (%v), want the greater change id's", name, q.Tags, err)
		}
	}

	// a hard delete on a; b changes q after, from a cache that knew q
	if _, err := a.Delete(ctx, "q", true); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Set(ctx, "q", SetOptions{AddTags: []string{"resurrect"}}); !errors.Is(err, ErrProjectNotFound) {
		t.Fatalf("b changed a project a hard-deleted: %v", err)
	}
	// an index rebuild on b, from the packs alone, agrees
	if _, err := b.RebuildIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get("q"); !errors.Is(err, ErrProjectNotFound) {
		t.Fatalf("rebuild brought back a hard-deleted project: %v", err)
	}
	pb2, _ := b.Get("p")
	pa2, _ := a.Get("p")
	if !reflect.DeepEqual(pa2, pb2) {
		t.Fatalf("after rebuild p differs:\n a: %+v\n b: %+v", pa2, pb2)
	}
}

// Equal stamps are broken by the change id, the same way everywhere.
func TestNewerIsATotalOrder(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := &catalog.Record{ChangedAt: at, ChangeID: "aa", Rev: 5}
	y := &catalog.Record{ChangedAt: at, ChangeID: "bb", Rev: 1}
	if !catalog.Newer(y, x) || catalog.Newer(x, y) {
		t.Fatal("equal times: the greater change id must win, whatever the revisions")
	}
	z := &catalog.Record{ChangedAt: at.Add(time.Nanosecond), ChangeID: "00"}
	if !catalog.Newer(z, y) || catalog.Newer(y, z) {
		t.Fatal("a later stamp must win")
	}
	// a change made on a record is newer than it even when the clock is behind
	r := &catalog.Record{ChangedAt: at}
	r.Stamp(at.Add(-time.Hour))
	if !r.ChangedAt.After(at) {
		t.Fatalf("stamp went back in time: %v", r.ChangedAt)
	}
}
