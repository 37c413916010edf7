package client

import (
	"time"

	"github.com/silo-dev/silo/object"
)

// The wire types of the blob protocol and of the version listing: what
// the server sends and reads, and what this client reads and sends. The
// JSON names are the API's contract (server/openapi.json); the server
// builds these values from store's, so store's structs are not the wire
// format. Where a store type has the same fields, the server converts it
// (RepositoryInfo(info)), and the compiler keeps the two in step.

// RepositoryInfo is GET /repository: how the repository chunks and names
// blobs.
type RepositoryInfo struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	// Encrypted: the polynomial and the id key come from GET
	// /repository/blob-keys (BlobKeys), and ChunkerPolynomial is empty.
	Encrypted         bool   `json:"encrypted"`
	ChunkerPolynomial string `json:"chunker_polynomial,omitempty"` // hex, see chunk.ParsePolynomial
	PackSize          int64  `json:"pack_size"`
	MinChunk          int    `json:"min_chunk"`
	MaxChunk          int    `json:"max_chunk"`
	MaxTreeBlob       int    `json:"max_tree_blob"`
	Hash              string `json:"hash"` // "blake3-256"
}

// BlobKeys is GET /repository/blob-keys: what a client of an encrypted
// repository needs to compute its blob ids.
type BlobKeys struct {
	ChunkerPolynomial string `json:"chunker_polynomial"`
	IDKey             string `json:"id_key,omitempty"` // hex; empty: a plain repository (plain BLAKE3 ids)
}

// MissingRequest is the body of POST /blobs/missing.
type MissingRequest struct {
	IDs []object.ID `json:"ids"`
}

// MissingAnswer is its answer: the ids the repository lacks.
type MissingAnswer struct {
	Missing []object.ID `json:"missing"`
	Present int         `json:"present"`
}

// PutAnswer is the answer to PUT /blobs/{id}.
type PutAnswer struct {
	ID     object.ID `json:"id"`
	Type   string    `json:"type"`
	Size   int64     `json:"size"`   // plain bytes
	Stored int64     `json:"stored"` // bytes added to packs (0: the repository had it)
	Exists bool      `json:"exists"` // the repository had it already
}

// CommitRequest is the body of POST /projects/{id}/versions: a tree of
// uploaded blobs to record as the project's newest version.
type CommitRequest struct {
	Tree          object.ID `json:"tree"`
	RootMode      uint32    `json:"root_mode"`
	RootMTime     int64     `json:"root_mtime"`
	Files         int64     `json:"files"`
	Dirs          int64     `json:"dirs"`
	Size          int64     `json:"size"`
	Type          string    `json:"type"`
	Tags          []string  `json:"tags"`
	GitRepository string    `json:"git_repository"`
	Languages     []string  `json:"languages"`
	Frameworks    []string  `json:"frameworks"`
	Source        string    `json:"source"`
}

// CommitAnswer is what a client reads of the answer to a commit (the
// server sends the whole store result besides).
type CommitAnswer struct {
	ProjectID  string   `json:"project_id"`
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Created    bool     `json:"created"`
	Languages  []string `json:"languages"`
	Frameworks []string `json:"frameworks"`
}

// Version is one entry of GET /projects/{id}/versions.
type Version struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	ProjectID   string    `json:"project_id"`
	ProjectName string    `json:"project"`
	Tree        string    `json:"tree"`
	Parent      string    `json:"parent,omitempty"`
	Tags        []string  `json:"tags"`         // the project's, when stored
	VersionTags []string  `json:"version_tags"` // this version's own
	Files       int64     `json:"files"`
	Dirs        int64     `json:"dirs"`
	Size        int64     `json:"size"`
	Source      string    `json:"source,omitempty"`
	Hostname    string    `json:"hostname,omitempty"`
	RootMode    uint32    `json:"root_mode"`
	RootMTime   int64     `json:"root_mtime"`
}

// VersionList is GET /projects/{id}/versions.
type VersionList struct {
	ProjectID string    `json:"project_id"`
	Name      string    `json:"name"`
	Versions  []Version `json:"versions"`
}
