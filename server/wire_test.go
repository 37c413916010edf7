package server

import (
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/silo-dev/silo/client"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store"
)

// keys returns the JSON object keys v marshals to.
func keys(t *testing.T, v any) []string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return slices.Sorted(maps.Keys(m))
}

// The wire types must marshal to the JSON names the store structs (the
// API before the move) used. Struct conversions (client.RepositoryInfo(x))
// ignore tags, so nothing else holds the names.
// (A field added to one side only fails here too: wireVersion copies by
// hand.)
func TestWireNamesMatchStore(t *testing.T) {
	now := time.Now()
	vd := store.VersionDetail{SnapshotInfo: store.SnapshotInfo{ID: "a", Time: now, ProjectID: "p", ProjectName: "n",
		Tree: "t", Parent: "x", Tags: []string{"a"}, VersionTags: []string{"b"}, Files: 1, Dirs: 1, Size: 1,
		Source: "s", Hostname: "h"}, RootMode: 1, RootMTime: 1}
	if a, b := keys(t, vd), keys(t, wireVersion(vd)); !slices.Equal(a, b) {
		t.Errorf("version listing: store %v, wire %v", a, b)
	}
	ri := store.RepositoryInfo{ID: "a", Version: 1, Encrypted: true, ChunkerPolynomial: "x", PackSize: 1, MinChunk: 1, MaxChunk: 1, MaxTreeBlob: 1, Hash: "h"}
	if a, b := keys(t, ri), keys(t, client.RepositoryInfo(ri)); !slices.Equal(a, b) {
		t.Errorf("repository: store %v, wire %v", a, b)
	}
	bk := store.BlobKeys{ChunkerPolynomial: "x", IDKey: "k"}
	if a, b := keys(t, bk), keys(t, client.BlobKeys(bk)); !slices.Equal(a, b) {
		t.Errorf("blob keys: store %v, wire %v", a, b)
	}
	pr := store.PutResult{ID: object.ID{1}, Type: "data", Size: 1, Stored: 1, Exists: true}
	if a, b := keys(t, pr), keys(t, client.PutAnswer(pr)); !slices.Equal(a, b) {
		t.Errorf("put: store %v, wire %v", a, b)
	}
}
