package object_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
)

// The golden files under testdata/golden/object hold the byte formats a
// repository keeps on disk: packs (blobs, table, checksum, trailer) and
// config.json. Each test encodes fixed inputs and compares bytes, then
// decodes the golden bytes with the real readers and compares values, so
// a change that would leave existing repositories unreadable fails here.
// A deliberate format change: keep the old file as a decode-only fixture,
// then rewrite with
//
//	go test ./object/ -run Golden -update

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// golden compares got with testdata/golden/<dir>/<name> (rewriting it
// with -update) and returns the golden bytes.
func golden(t *testing.T, dir, name string, got []byte) []byte {
	t.Helper()
	return testutil.Golden(t, filepath.Join("..", "testdata", "golden", dir, name), got, *update)
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// goldenBlob is one blob of a golden pack: its plain bytes and how the
// pack stores them.
type goldenBlob struct {
	typ    object.BlobType
	comp   object.Compression
	plain  []byte
	stored []byte
}

// goldenCode is Go source, stored as one zstd frame (fixed here, so a
// new zstd encoder does not change the golden pack: the format is the
// frame, whatever encoder made it).
var goldenCode = []byte(strings.Repeat("package main\n\nfunc main() { println(\"silo\") }\n", 8))

const goldenCodeZstd = "28b52ffd44007000a5010094027061636b616765206d61696e0a0a66756e632829207b207072696e746c6e282273696c6f2229207d0a02007fa2528d851206d03e435c"

func goldenPacks() map[string][]goldenBlob {
	bin := make([]byte, 300)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	tree := []byte("SLT1\x00") // an empty tree
	snap := []byte(`{"v":1,"time":"2026-01-02T03:04:05Z","tree":"` + object.Hash(tree).String() + `","project_id":"p1","project_name":"golden","root_mode":493,"root_mtime":0,"files":0,"dirs":1,"size":0}`)
	meta := []byte(`{"kind":"forget","time":"2026-01-02T03:04:05Z","forget":{"project_id":"p1","snapshots":[]}}`)
	return map[string][]goldenBlob{
		"pack-data.golden": {
			{object.DataBlob, object.Raw, bin, bin},
			{object.DataBlob, object.Zstd, goldenCode, mustHex(goldenCodeZstd)},
			{object.DataBlob, object.Raw, []byte("x"), []byte("x")},
		},
		"pack-tree.golden": {
			{object.TreeBlob, object.Raw, tree, tree},
			{object.SnapshotBlob, object.Raw, snap, snap},
			{object.MetaBlob, object.Raw, meta, meta},
		},
	}
}

// TestGoldenPack writes the golden packs with PackWriter, then reads the
// golden bytes the way a repository does: the pack named by its hash,
// the table read from its tail, every blob loaded, decompressed and
// verified through a Repository.
func TestGoldenPack(t *testing.T) {
	ctx := context.Background()
	for name, blobs := range goldenPacks() {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			pw := object.NewPackWriter(&buf)
			var want []object.Blob
			for _, gb := range blobs {
				b := object.Blob{ID: object.Hash(gb.plain), Type: gb.typ, Comp: gb.comp, RawLength: uint32(len(gb.plain))}
				if err := pw.Add(b, gb.stored); err != nil {
					t.Fatal(err)
				}
				b.Offset, b.Length = uint32(pw.Size())-uint32(len(gb.stored)), uint32(len(gb.stored))
				want = append(want, b)
			}
			id, size, err := pw.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if size != int64(buf.Len()) || id != object.Hash(buf.Bytes()) {
				t.Fatalf("pack id %s, size %d: not the hash and size of its %d bytes", id.Short(), size, buf.Len())
			}
			data := golden(t, "object", name, buf.Bytes())

			// read the golden pack back as a repository would
			dir := t.TempDir()
			be := object.NewLocal(filepath.Join(dir, "repo"))
			pid := object.Hash(data)
			if err := be.Put(ctx, object.PackName(pid), bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			got, gsize, err := object.ReadPackTable(ctx, be, pid)
			if err != nil {
				t.Fatal(err)
			}
			if gsize != int64(len(data)) || !reflect.DeepEqual(got, want) {
				t.Fatalf("golden pack table:\n got %+v\nwant %+v", got, want)
			}
			db, err := index.Open(filepath.Join(dir, "index.db"), index.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			repo, err := object.NewRepository(object.RepositoryOptions{Backend: be, Index: db})
			if err != nil {
				t.Fatal(err)
			}
			defer repo.Close()
			if err := repo.AddPack(object.PackInfo{ID: pid, Size: gsize, Data: blobs[0].typ.IsData(), Count: len(got)}, got); err != nil {
				t.Fatal(err)
			}
			if err := repo.VerifyPack(ctx, pid, func(b object.Blob, err error) {
				if err != nil {
					t.Errorf("verify blob %s: %v", b.ID.Short(), err)
				}
			}); err != nil {
				t.Fatal(err)
			}
			for i, gb := range blobs {
				plain, err := repo.LoadBlob(ctx, want[i].ID, nil)
				if err != nil || !bytes.Equal(plain, gb.plain) {
					t.Errorf("blob %d of the golden pack: %d bytes, %v", i, len(plain), err)
				}
			}
		})
	}
}

// TestGoldenRepoConfig pins config.json: SaveRepoConfig's bytes, and
// LoadRepoConfig of the golden file (which refuses unknown fields).
func TestGoldenRepoConfig(t *testing.T) {
	ctx := context.Background()
	want := object.RepoConfig{Version: object.FormatVersion, ID: "00112233445566778899aabbccddeeff",
		ChunkerPolynomial: "3da3358b4dc173", PackSize: 16 << 20, Created: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)}
	be := object.NewLocal(t.TempDir())
	if err := object.SaveRepoConfig(ctx, be, want); err != nil {
		t.Fatal(err)
	}
	rc, err := be.Get(ctx, object.ConfigName, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(rc)
	rc.Close()
	data := golden(t, "object", "config.json", buf.Bytes())
	if !json.Valid(data) {
		t.Fatal("golden config.json is not JSON")
	}
	be2 := object.NewLocal(t.TempDir())
	if err := be2.Put(ctx, object.ConfigName, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	got, err := object.LoadRepoConfig(ctx, be2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("golden config.json decodes to %+v, want %+v", got, want)
	}
}
