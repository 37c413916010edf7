package snapshot_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

func seedTrees() [][]byte {
	id := object.Hash([]byte("x"))
	return [][]byte{
		snapshot.EncodeTree(nil),
		snapshot.EncodeTree([]snapshot.Node{
			{Name: "a", Type: snapshot.File, Mode: 0o644, MTime: 1700000000123456789, CTime: 1700000000123456789, Inode: 12, UID: 1000, GID: 1000, Size: 1, Content: []object.ID{id}},
			{Name: "b", Type: snapshot.Dir, Mode: 0o2755, MTime: -1, Subtree: id},
			{Name: "c", Type: snapshot.Symlink, Mode: 0o777, Target: "../a"},
			{Name: "d", Type: snapshot.File, Mode: 0o600},
			{Name: "ü", Type: snapshot.File, Mode: 0o4755, Size: 2, Content: []object.ID{id, id}},
		}),
		rawTree(rawEntry{name: "..", typ: snapshot.Dir}),
		rawTree(rawEntry{name: "a/b", typ: snapshot.File}),
		rawTree(rawEntry{name: "b", typ: snapshot.File}, rawEntry{name: "a", typ: snapshot.File}),
	}
}

// FuzzDecodeTree: DecodeTree never panics, and whatever it accepts is safe
// (every name passes CheckName) and survives EncodeTree -> DecodeTree.
func FuzzDecodeTree(f *testing.F) {
	for _, s := range seedTrees() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		nodes, err := snapshot.DecodeTree(data)
		if err != nil {
			if !errors.Is(err, snapshot.ErrBadTree) {
				t.Fatalf("error %v does not wrap ErrBadTree", err)
			}
			return
		}
		for i, n := range nodes {
			// names over MaxName bytes decode (trees stored before that
			// limit) but are refused at restore; nothing else unsafe decodes
			if err := snapshot.CheckName(n.Name); err != nil && len(n.Name) <= snapshot.MaxName {
				t.Fatalf("accepted unsafe name %q: %v", n.Name, err)
			}
			if i > 0 && nodes[i-1].Name >= n.Name {
				t.Fatalf("accepted unsorted names %q, %q", nodes[i-1].Name, n.Name)
			}
			if n.Mode&^snapshot.ModeMask != 0 {
				t.Fatalf("accepted mode %o", n.Mode)
			}
		}
		enc := snapshot.EncodeTree(nodes)
		again, err := snapshot.DecodeTree(enc)
		if err != nil {
			t.Fatalf("re-encoded tree does not decode: %v", err)
		}
		if !reflect.DeepEqual(nodes, again) {
			t.Fatalf("round trip changed the tree:\n%+v\n%+v", nodes, again)
		}
		if !bytes.Equal(snapshot.EncodeTree(again), enc) {
			t.Fatal("encoding is not stable")
		}
	})
}

// EncodeTree output must always decode, even for entries with all-zero
// metadata (the smallest possible entries).
func TestEncodeTreeMinimalEntriesDecode(t *testing.T) {
	var nodes []snapshot.Node
	for _, c := range "abcdefghijklmnopqrstuvwxyz" {
		nodes = append(nodes, snapshot.Node{Name: string(c), Type: snapshot.File})
	}
	got, err := snapshot.DecodeTree(snapshot.EncodeTree(nodes))
	if err != nil {
		t.Fatalf("26 empty files: %v", err)
	}
	if len(got) != len(nodes) {
		t.Fatalf("decoded %d nodes", len(got))
	}
}

// FuzzDecodeSnapshot: DecodeSnapshot never panics; what it accepts
// re-encodes (without panicking) to a fixed point.
func FuzzDecodeSnapshot(f *testing.F) {
	parent := object.Hash([]byte("parent"))
	sn := &snapshot.Snapshot{Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Tree: object.Hash([]byte("tree")),
		Parent: &parent, ProjectID: "4b1e5a6c-0000-4000-8000-000000000001", ProjectName: "demo", Tags: []string{"v1", "ü"},
		Hostname: "host", Source: "/src", RootMode: 0o755, RootMTime: 1700000000123456789, Files: 3, Dirs: 2, Size: 1234,
		Project: json.RawMessage(`{"project_id":"x","name":"demo","rev":3}`)}
	f.Add(sn.Encode())
	f.Add([]byte(`{"v":1,"time":"2026-01-02T03:04:05Z","tree":"` + parent.String() + `","project_id":"p"}`))
	f.Add([]byte(`{"v":1,"time":"2026-01-02T03:04:05+14:00","tree":"` + parent.String() + `","project_id":"p","project":null,"files":-1}`))
	f.Add([]byte(`{"v":2}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := snapshot.DecodeSnapshot(data)
		if err != nil {
			if !errors.Is(err, snapshot.ErrBadSnapshot) {
				t.Fatalf("error %v does not wrap ErrBadSnapshot", err)
			}
			return
		}
		enc := s.Encode()
		s2, err := snapshot.DecodeSnapshot(enc)
		if err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v\n%s", err, enc)
		}
		if enc2 := s2.Encode(); !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not a fixed point:\n%s\n%s", enc, enc2)
		}
		if s2.Tree != s.Tree || s2.ProjectID != s.ProjectID || !s2.Time.Equal(s.Time) {
			t.Fatalf("round trip changed fields")
		}
	})
}
