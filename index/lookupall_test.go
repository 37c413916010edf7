package index

import (
	"testing"

	"github.com/silo-dev/silo/object"
)

// TestLookupAll: one transaction answers for every id as Lookup would,
// in order, unknown ids and ids of a removed pack included.
func TestLookupAll(t *testing.T) {
	db, _ := openTest(t)
	p1 := object.PackInfo{ID: id("pack1"), Size: 1234, Data: false, Count: 2}
	p2 := object.PackInfo{ID: id("pack2"), Size: 99, Data: false, Count: 1}
	a, b := blob("a", object.TreeBlob, 0, 100), blob("b", object.TreeBlob, 100, 200)
	c := blob("c", object.TreeBlob, 0, 50)
	if err := db.AddPack(p1, []object.Blob{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddPack(p2, []object.Blob{c}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *Tx) error { return tx.RemovePack(p2.ID, nil) }); err != nil {
		t.Fatal(err)
	}
	ids := []object.ID{b.ID, id("nope"), a.ID, c.ID, b.ID}
	locs, found, err := db.LookupAll(ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(locs) != len(ids) || len(found) != len(ids) {
		t.Fatalf("%d locations, %d found flags for %d ids", len(locs), len(found), len(ids))
	}
	for i, x := range ids {
		loc, ok, err := db.Lookup(x)
		if err != nil {
			t.Fatal(err)
		}
		if locs[i] != loc || found[i] != ok {
			t.Errorf("ids[%d]: LookupAll gave %+v %v, Lookup %+v %v", i, locs[i], found[i], loc, ok)
		}
	}
	if !found[0] || found[1] || !found[2] || found[3] {
		t.Errorf("found = %v, want [true false true false true]", found)
	}
}
