package gc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/object/repotest"
)

func idWithPrefix(prefix uint64, rest byte) object.ID {
	var id object.ID
	binary.BigEndian.PutUint64(id[:8], prefix)
	id[31] = rest
	return id
}

func TestMarkSet(t *testing.T) {
	// two blobs share an 8-byte prefix; a third stands alone
	a, b, c := idWithPrefix(5, 1), idWithPrefix(5, 2), idWithPrefix(9, 1)
	m := &markSet{keys: []uint64{prefix(a), prefix(b), prefix(c)}}
	m.bits = make([]uint64, 1)
	if m.marked(a) || m.marked(c) {
		t.Fatal("marked before marking")
	}
	if ok, was := m.mark(c); !ok || was {
		t.Fatalf("mark(c) = %v, %v", ok, was)
	}
	if ok, was := m.mark(c); !ok || !was {
		t.Fatalf("second mark(c) = %v, %v", ok, was)
	}
	if m.marked(a) {
		t.Fatal("a marked by c")
	}
	// marking a marks every blob of its prefix (b stays alive: the safe side)
	if ok, _ := m.mark(a); !ok || !m.marked(b) {
		t.Fatal("a prefix shared by two blobs must keep both")
	}
	if ok, _ := m.mark(idWithPrefix(7, 0)); ok {
		t.Fatal("an unindexed id marked")
	}
	if got := m.bytes(); got != 3*8+8 {
		t.Errorf("mark set of 3 blobs takes %d bytes", got)
	}
}

// repoFixture is a repository wired like store does it, without store.
type repoFixture struct {
	dir  string
	db   *index.DB
	repo *object.Repository
}

func newRepo(t *testing.T) *repoFixture {
	r := repotest.New(t)
	return &repoFixture{dir: r.Dir, db: r.DB, repo: r.Repo}
}

// blobInOwnPack saves a data blob and flushes, so it gets a pack of its own.
func (f *repoFixture) blobInOwnPack(t *testing.T, seed byte) (object.ID, object.ID) {
	t.Helper()
	data := slices.Repeat([]byte{seed}, 1000+int(seed))
	id := object.Hash(data)
	if _, err := f.repo.SaveBlob(context.Background(), object.DataBlob, id, data); err != nil {
		t.Fatal(err)
	}
	if err := f.repo.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	loc, ok, err := f.repo.Lookup(id)
	if err != nil || !ok {
		t.Fatalf("lookup %s: %v %v", id, ok, err)
	}
	return id, loc.Pack
}

func (f *repoFixture) unindex(t *testing.T, pack object.ID) {
	t.Helper()
	err := f.db.Update(func(tx *index.Tx) error {
		var blobs []object.Blob
		tx.Blobs(func(l object.Location) error {
			if l.Pack == pack {
				blobs = append(blobs, l.Blob)
			}
			return nil
		})
		return tx.RemovePack(pack, blobs)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *repoFixture) exists(pack object.ID) bool {
	_, err := os.Stat(filepath.Join(f.dir, filepath.FromSlash(object.PackName(pack))))
	return err == nil
}

func noChildren(context.Context, object.ID) ([]object.ID, []object.ID, error) { return nil, nil, nil }

// TestPlanMissing: a root that is not indexed, a data blob a tree lists
// that is not indexed, and an unreadable tree all stop the plan with
// ErrMissing.
func TestPlanMissing(t *testing.T) {
	f := newRepo(t)
	ctx := context.Background()
	live, _ := f.blobInOwnPack(t, 1)
	tree, _ := f.blobInOwnPack(t, 2) // stands in for a tree: Children decides
	ghost := idWithPrefix(42, 42)
	cases := map[string]Options{
		"root not indexed": {Live: []object.ID{ghost}},
		"tree not indexed": {Trees: []object.ID{ghost}},
		"data not indexed": {Trees: []object.ID{tree}, Children: func(context.Context, object.ID) ([]object.ID, []object.ID, error) {
			return nil, []object.ID{live, ghost}, nil
		}},
		"tree unreadable": {Trees: []object.ID{tree}, Children: func(context.Context, object.ID) ([]object.ID, []object.ID, error) {
			return nil, nil, fmt.Errorf("load: %w", object.ErrNotFound)
		}},
	}
	for name, o := range cases {
		t.Run(name, func(t *testing.T) {
			o.DB, o.Repo = f.db, f.repo
			if o.Children == nil {
				o.Children = noChildren
			}
			if _, err := NewPlan(ctx, o); !errors.Is(err, ErrMissing) {
				t.Errorf("NewPlan: %v, want ErrMissing", err)
			}
		})
	}
}
