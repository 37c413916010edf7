package object_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// lookupOnly hides an index's LookupAll: a plain object.Index.
type lookupOnly struct{ db *index.DB }

func (l lookupOnly) Lookup(id object.ID) (object.Location, bool, error) { return l.db.Lookup(id) }
func (l lookupOnly) AddPack(p object.PackInfo, blobs []object.Blob) error {
	return l.db.AddPack(p, blobs)
}

// TestLocate: Locate answers as Lookup does, through a BatchIndex (one
// transaction) and through a plain Index, and LoadAt reads what it found.
func TestLocate(t *testing.T) {
	for _, batch := range []bool{true, false} {
		dir := t.TempDir()
		db, err := index.Open(filepath.Join(dir, "index.db"), index.Options{})
		if err != nil {
			t.Fatal(err)
		}
		var idx object.Index = db
		if !batch {
			idx = lookupOnly{db}
		}
		repo, err := object.NewRepository(object.RepositoryOptions{Backend: object.NewLocal(dir), Index: idx, TempDir: filepath.Join(dir, "tmp")})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		a, b := []byte("tree a"), []byte("tree b")
		ia, ib := repo.ID(a), repo.ID(b)
		for _, x := range []struct {
			id   object.ID
			data []byte
		}{{ia, a}, {ib, b}} {
			if _, err := repo.SaveBlob(ctx, object.TreeBlob, x.id, x.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := repo.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		w := repo.NewWriter(object.WriterOptions{})
		locs, found, err := w.Locate([]object.ID{ib, repo.ID([]byte("unknown")), ia})
		if err != nil {
			t.Fatal(err)
		}
		if !found[0] || found[1] || !found[2] || locs[0].ID != ib || locs[2].ID != ia {
			t.Fatalf("batch %v: Locate = %+v %v", batch, locs, found)
		}
		for i, want := range map[int][]byte{0: b, 2: a} {
			got, err := w.LoadAt(ctx, locs[i], nil)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("batch %v: LoadAt(locs[%d]) = %q, %v; want %q", batch, i, got, err, want)
			}
		}
		repo.Close()
		db.Close()
	}
}
