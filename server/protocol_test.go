package server

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/client"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store"
)

// memBlobs collects the blobs a local store produces (the client side of
// the protocol) and loads parent trees from the server.
type memBlobs struct {
	s     *testServer
	mu    sync.Mutex
	blobs map[object.ID][]byte
	types map[object.ID]object.BlobType
	order []object.ID
}

func (m *memBlobs) ID(plain []byte) object.ID { return object.Hash(plain) }

func (m *memBlobs) SaveBlob(_ context.Context, t object.BlobType, id object.ID, plain []byte) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.blobs[id]; !ok {
		m.blobs[id] = slices.Clone(plain)
		m.types[id] = t
		m.order = append(m.order, id)
	}
	return 0, nil
}

func (m *memBlobs) LoadBlob(_ context.Context, id object.ID, _ []byte) ([]byte, error) {
	r := m.s.do("GET", "/api/storage/blobs/"+id.String(), nil)
	if r.status != 200 {
		return nil, fmt.Errorf("GET blob %s: %d", id.Short(), r.status)
	}
	if object.Hash(r.body) != id {
		return nil, object.ErrCorrupt
	}
	return r.body, nil
}

// pushed reports one push.
type pushed struct {
	ans      uploadAnswer
	wire     int64 // request body bytes sent, protocol included
	uploaded int   // blobs sent
	newBytes int64 // their bytes
}

// pushDir stores dir through the protocol as a new version of project.
func (s *testServer) pushDir(dir, project string) pushed {
	s.t.Helper()
	var info client.RepositoryInfo
	s.must(200, "GET", "/api/storage/repository", nil).json(s.t, &info)
	pol, err := chunk.ParsePolynomial(info.ChunkerPolynomial)
	if err != nil {
		s.t.Fatal(err)
	}
	var parent object.ID
	if r := s.do("GET", "/api/storage/projects/"+project+"/versions", nil); r.status == 200 {
		var vl struct {
			Versions []client.Version `json:"versions"`
		}
		r.json(s.t, &vl)
		parent, _ = object.ParseID(vl.Versions[0].Tree)
	}
	mb := &memBlobs{s: s, blobs: map[object.ID][]byte{}, types: map[object.ID]object.BlobType{}}
	res, err := snapshot.Store(context.Background(), mb, dir, snapshot.StoreOptions{Pol: pol, ParentTree: parent})
	if err != nil {
		s.t.Fatal(err)
	}
	before := s.wire.sent.Load()
	var miss client.MissingAnswer
	s.must(200, "POST", "/api/storage/blobs/missing", jsonBody(map[string]any{"ids": mb.order})).json(s.t, &miss)
	var newBytes int64
	for _, id := range miss.Missing {
		q := url.Values{"type": {mb.types[id].String()}}
		s.must(201, "PUT", "/api/storage/blobs/"+id.String()+"?"+q.Encode(), bytes.NewReader(mb.blobs[id]))
		newBytes += int64(len(mb.blobs[id]))
	}
	var ans uploadAnswer
	s.must(201, "POST", "/api/storage/projects/"+project+"/versions", jsonBody(map[string]any{
		"tree": res.Tree, "root_mode": res.RootMode, "root_mtime": res.RootMTime, "files": res.Stats.Files(),
		"dirs": res.Stats.Dirs, "size": res.Stats.Size, "tags": []string{"pushed"}})).json(s.t, &ans)
	return pushed{ans: ans, wire: s.wire.sent.Load() - before, uploaded: len(miss.Missing), newBytes: newBytes}
}

func writeFiles(t testing.TB, root string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDedupProtocol: the second push of a slightly changed tree sends only
// its new chunks (counted on the wire), and the version downloads intact.
func TestDedupProtocol(t *testing.T) {
	s := newTestServer(t)
	src := filepath.Join(s.dir, "src")
	big := testutil.RandomBytes(11, 8<<20)
	writeFiles(t, src, map[string][]byte{"a/big.bin": big, "b/c.txt": []byte("hello\n"), "main.py": []byte("import os\n")})

	p1 := s.pushDir(src, "pushed")
	first := p1.ans
	if !first.Created || p1.uploaded < 4 || p1.wire < 8<<20 {
		t.Fatalf("first push: %+v", p1)
	}
	// change 10 bytes in the middle of the big file and add a small file
	copy(big[4<<20:], "0123456789")
	writeFiles(t, src, map[string][]byte{"a/big.bin": big, "new.txt": []byte("new\n")})
	p2 := s.pushDir(src, "pushed")
	second := p2.ans
	t.Logf("first push %d bytes on the wire (%d blobs), second %d bytes (%d blobs, %d bytes of them new)",
		p1.wire, p1.uploaded, p2.wire, p2.uploaded, p2.newBytes)
	if second.Created || second.ProjectID != first.ProjectID || second.Parent == nil || second.Parent.String() != first.Version {
		t.Fatalf("second push: %+v", second)
	}
	// only the changed chunk, the new file and the changed trees travel,
	// plus a little JSON
	if p2.uploaded > 5 || p2.newBytes > p1.newBytes/2 || p2.wire > p2.newBytes+16<<10 {
		t.Fatalf("second push: %+v (first %+v): dedup failed", p2, p1)
	}
	// the server's copy of the new version is the directory
	r := s.must(200, "GET", "/api/storage/projects/pushed/archive?format=tar", nil)
	got := readTar(t, bytes.NewReader(r.body))
	if !bytes.Equal([]byte(got["a/big.bin"].body), big) || got["new.txt"].body != "new\n" || got["main.py"].body != "import os\n" {
		t.Fatalf("downloaded version differs (have %v)", sortedKeys(got))
	}
	var p store.Project
	s.must(200, "GET", "/api/storage/projects/pushed", nil).json(t, &p)
	if len(p.Versions) != 2 || !containsStr(p.Languages, "python") || !containsStr(p.Tags, "pushed") {
		t.Fatalf("project: %+v", p)
	}
	// a third, unchanged push sends no blobs at all
	if p3 := s.pushDir(src, "pushed"); p3.uploaded != 0 || p3.wire > 4<<10 {
		t.Fatalf("unchanged push: %+v", p3)
	}
}

// TestBlobErrors: digest mismatch, bad ids, sizes, types; commit of
// missing or inconsistent trees records nothing.
func TestBlobErrors(t *testing.T) {
	s := newTestServer(t)
	data := []byte("some chunk of data")
	id := object.Hash(data)
	blobURL := "/api/storage/blobs/" + id.String()

	// wrong bytes for the id: refused, nothing stored
	if code := s.must(400, "PUT", blobURL, bytes.NewReader([]byte("other bytes"))).errCode(t); code != "digest_mismatch" {
		t.Fatalf("mismatch code %s", code)
	}
	s.must(404, "GET", blobURL, nil)
	var miss client.MissingAnswer
	s.must(200, "POST", "/api/storage/blobs/missing", jsonBody(map[string]any{"ids": []object.ID{id, id}})).json(t, &miss)
	if len(miss.Missing) != 1 || miss.Missing[0] != id {
		t.Fatalf("missing: %+v", miss)
	}
	// right bytes: 201, then 200 (already there)
	var put client.PutAnswer
	s.must(201, "PUT", blobURL, bytes.NewReader(data)).json(t, &put)
	if put.Exists || put.Size != int64(len(data)) {
		t.Fatalf("put: %+v", put)
	}
	s.must(200, "PUT", blobURL, bytes.NewReader(data))
	r := s.must(200, "GET", blobURL, nil)
	if !bytes.Equal(r.body, data) || r.header.Get("ETag") == "" {
		t.Fatalf("get blob: %q", r.body)
	}
	s.must(304, "GET", blobURL, nil, "If-None-Match", r.header.Get("ETag"))

	for _, bad := range []string{"xyz", id.String()[:63], id.String() + "00", "zz" + id.String()[2:]} {
		if r := s.do("PUT", "/api/storage/blobs/"+bad, bytes.NewReader(data)); r.status != 400 {
			t.Errorf("PUT blob id %q: %d", bad, r.status)
		}
		if r := s.do("GET", "/api/storage/blobs/"+bad, nil); r.status != 400 {
			t.Errorf("GET blob id %q: %d", bad, r.status)
		}
	}
	s.must(400, "PUT", blobURL+"?type=snapshot", bytes.NewReader(data))
	// a data blob over the chunk limit
	huge := make([]byte, store.MaxDataBlob+1)
	if code := s.must(413, "PUT", "/api/storage/blobs/"+object.Hash(huge).String(), bytes.NewReader(huge)).errCode(t); code != "body_too_large" {
		t.Errorf("huge blob code %s", code)
	}
	// a "tree" that hashes right but does not decode
	junk := []byte("not a tree")
	s.must(400, "PUT", "/api/storage/blobs/"+object.Hash(junk).String()+"?type=tree", bytes.NewReader(junk))
	// missing: bad JSON, unknown fields, bad ids
	js := []string{"Content-Type", "application/json"}
	s.must(400, "POST", "/api/storage/blobs/missing", bytes.NewReader([]byte(`{"ids": ["xyz"]}`)), js...)
	s.must(400, "POST", "/api/storage/blobs/missing", bytes.NewReader([]byte(`{"ids": [], "extra": 1}`)), js...)
	s.must(400, "POST", "/api/storage/blobs/missing", bytes.NewReader([]byte(`{"ids": [`)), js...)
	s.must(415, "POST", "/api/storage/blobs/missing", bytes.NewReader([]byte(`{"ids": []}`)))
	s.must(400, "POST", "/api/storage/blobs/missing", nil)

	// commits that must not record anything
	tree := snapshot.EncodeTree([]snapshot.Node{
		{Name: "f.txt", Type: snapshot.File, Mode: 0o644, Size: uint64(len(data)), Content: []object.ID{id}},
		{Name: "g.txt", Type: snapshot.File, Mode: 0o644, Size: 5, Content: []object.ID{object.Hash([]byte("never"))}},
	})
	treeID := object.Hash(tree)
	commit := "/api/storage/projects/committed/versions"
	// the tree itself is missing
	r = s.must(409, "POST", commit, jsonBody(map[string]any{"tree": treeID}))
	if r.errCode(t) != "missing_blobs" {
		t.Fatalf("commit without the tree: %s", r.body)
	}
	s.must(201, "PUT", "/api/storage/blobs/"+treeID.String()+"?type=tree", bytes.NewReader(tree))
	// a chunk is missing
	var eb struct {
		Error struct {
			Code    string
			Details struct {
				Missing []string
				Count   int
			}
		}
	}
	s.must(409, "POST", commit, jsonBody(map[string]any{"tree": treeID})).json(t, &eb)
	if eb.Error.Details.Count != 1 || eb.Error.Details.Missing[0] != object.Hash([]byte("never")).String() {
		t.Fatalf("missing details: %+v", eb)
	}
	// sizes that lie
	liar := snapshot.EncodeTree([]snapshot.Node{{Name: "f.txt", Type: snapshot.File, Mode: 0o644, Size: 999, Content: []object.ID{id}}})
	s.must(201, "PUT", "/api/storage/blobs/"+object.Hash(liar).String()+"?type=tree", bytes.NewReader(liar))
	s.must(400, "POST", commit, jsonBody(map[string]any{"tree": object.Hash(liar)}))
	// a data blob posing as the root tree
	s.must(400, "POST", commit, jsonBody(map[string]any{"tree": id}))
	// counts that disagree with the tree
	good := snapshot.EncodeTree([]snapshot.Node{{Name: "f.txt", Type: snapshot.File, Mode: 0o644, Size: uint64(len(data)), Content: []object.ID{id}}})
	goodID := object.Hash(good)
	s.must(201, "PUT", "/api/storage/blobs/"+goodID.String()+"?type=tree", bytes.NewReader(good))
	s.must(400, "POST", commit, jsonBody(map[string]any{"tree": goodID, "files": 7}))
	// malformed bodies
	s.must(400, "POST", commit, jsonBody(map[string]any{"tree": "abc"}))
	s.must(400, "POST", commit, jsonBody(map[string]any{"tree": goodID, "bogus": true}))
	s.must(400, "POST", commit, jsonBody(map[string]any{}))
	s.must(400, "POST", commit, nil)
	s.must(400, "POST", commit, jsonBody(map[string]any{"tree": goodID, "root_mode": 0o170000}))
	s.must(400, "POST", "/api/storage/projects/bad..name!/versions", jsonBody(map[string]any{"tree": goodID}))
	s.must(404, "GET", "/api/storage/projects/committed", nil)

	// and the good one records
	var ans uploadAnswer
	s.must(201, "POST", commit, jsonBody(map[string]any{"tree": goodID, "files": 1, "size": len(data)})).json(t, &ans)
	r = s.must(200, "GET", "/api/storage/projects/committed/files/f.txt", nil)
	if !bytes.Equal(r.body, data) {
		t.Fatalf("committed file: %q", r.body)
	}
}
