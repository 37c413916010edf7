package snapshot_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// The golden files under testdata/golden/snapshot hold the tree and
// snapshot blobs as repositories keep them. Each test encodes fixed
// inputs and compares bytes, then decodes the golden bytes and compares
// values, so a change that would leave existing repositories unreadable
// fails here. A deliberate format change: keep the old file as a
// decode-only fixture, then rewrite with
//
//	go test ./snapshot/ -run Golden -update

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	return testutil.Golden(t, filepath.Join("..", "testdata", "golden", "snapshot", name), got, *update)
}

func gid(s string) object.ID { return object.Hash([]byte(s)) }

// goldenNodes covers every node type and field, with values that need
// every varint width and sign: a file of two chunks with setuid and a
// pre-1970 mtime, an empty file, a directory, a symlink, a name of 255
// bytes and one of many UTF-8 bytes.
func goldenNodes() []snapshot.Node {
	long := string(bytes.Repeat([]byte("n"), snapshot.MaxName))
	return []snapshot.Node{
		{Name: ".env", Type: snapshot.File, Mode: 0o600, MTime: 1767323045123456789, CTime: 1767323045123456790,
			Inode: 1<<63 + 5, UID: 1000, GID: 1000, Size: 0},
		{Name: "bin", Type: snapshot.Dir, Mode: 0o755, MTime: 1, CTime: 2, Inode: 3, Subtree: gid("bin-tree")},
		{Name: "latest", Type: snapshot.Symlink, Mode: 0o777, MTime: -1, Target: "../releases/v1.2.3"},
		{Name: "main.go", Type: snapshot.File, Mode: 0o4755, MTime: -86400_000000001, CTime: 0, Inode: 42,
			UID: 1<<32 - 1, GID: 0, Size: 3 << 20, Content: []object.ID{gid("chunk-1"), gid("chunk-2")}},
		{Name: long, Type: snapshot.File, Mode: 0o644, Size: 1, Content: []object.ID{gid("x")}},
		{Name: "ünïcödé-名前", Type: snapshot.Dir, Mode: 0o1777, Subtree: gid("unicode-tree")},
	}
}

// TestGoldenTree pins the tree blob: EncodeTree's bytes, and DecodeTree of
// the golden file. An empty tree is pinned too.
func TestGoldenTree(t *testing.T) {
	for name, nodes := range map[string][]snapshot.Node{"tree.golden": goldenNodes(), "tree-empty.golden": nil} {
		t.Run(name, func(t *testing.T) {
			data := golden(t, name, snapshot.EncodeTree(nodes))
			got, err := snapshot.DecodeTree(data)
			if err != nil {
				t.Fatalf("decode golden tree: %v", err)
			}
			if len(got) == 0 && len(nodes) == 0 {
				return
			}
			if !reflect.DeepEqual(got, nodes) {
				t.Fatalf("golden tree decodes to\n%+v\nwant\n%+v", got, nodes)
			}
		})
	}
}

func goldenSnapshot() *snapshot.Snapshot {
	parent := gid("parent-snapshot")
	return &snapshot.Snapshot{
		Version:     1,
		Time:        time.Date(2026, 1, 2, 3, 4, 5, 600000007, time.UTC),
		Tree:        gid("root-tree"),
		Parent:      &parent,
		ProjectID:   "0e4c1f2a-7d3b-4f7e-9a61-2b5c8d9e0f11",
		ProjectName: "shop-api",
		Tags:        []string{"prod", "v2"},
		Hostname:    "builder-7",
		Source:      "/srv/projects/shop-api",
		RootMode:    0o755,
		RootMTime:   1767323045000000000,
		Files:       1234,
		Dirs:        56,
		Size:        7 << 30,
		Project:     json.RawMessage(`{"project_id":"0e4c1f2a-7d3b-4f7e-9a61-2b5c8d9e0f11","name":"shop-api","rev":3}`),
	}
}

// TestGoldenSnapshot pins the snapshot blob: Encode's bytes, and
// DecodeSnapshot of the golden file (a version without a parent or
// project record too, as the first versions of old repositories are).
func TestGoldenSnapshot(t *testing.T) {
	minimal := &snapshot.Snapshot{Version: 1, Time: time.Date(2024, 3, 4, 12, 0, 0, 0, time.UTC), Tree: gid("t"),
		ProjectID: "p", ProjectName: "p"}
	for name, sn := range map[string]*snapshot.Snapshot{"snapshot.golden": goldenSnapshot(), "snapshot-minimal.golden": minimal} {
		t.Run(name, func(t *testing.T) {
			want := *sn
			data := golden(t, name, sn.Encode())
			got, err := snapshot.DecodeSnapshot(data)
			if err != nil {
				t.Fatalf("decode golden snapshot: %v", err)
			}
			if !reflect.DeepEqual(got, &want) {
				t.Fatalf("golden snapshot decodes to\n%+v\nwant\n%+v", got, &want)
			}
		})
	}
}
