package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/silo-dev/silo/check"
	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/session"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/upload"
)

// This file holds what a remote client (the HTTP API's dedup upload
// protocol, `silo store --remote`, `silo restore --remote`) needs beyond the
// rest of the facade: the repository's chunking parameters, blob-level
// upload with pins, committing a tree built from uploaded blobs, streaming a
// version as tar, and reading one file of a version with random access.

var (
	// ErrDigestMismatch means uploaded bytes do not hash to the id they
	// were sent under; nothing was stored.
	ErrDigestMismatch = upload.ErrDigestMismatch
	// ErrMissingBlobs means a committed tree refers to blobs the repository
	// does not hold (see MissingBlobsError for which).
	ErrMissingBlobs = check.ErrMissingBlobs
)

// MissingBlobsError lists (some of) the blobs a commit lacks.
type MissingBlobsError = check.MissingBlobsError

// Size limits of uploaded blobs (see package upload).
const (
	MaxDataBlob = upload.MaxDataBlob
	MaxTreeBlob = upload.MaxTreeBlob
)

// RepositoryInfo is what a remote client needs to chunk and hash exactly as
// the repository does, so that its blob ids deduplicate against it.
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

// RepositoryInfo describes the repository for remote clients.
func (s *Store) RepositoryInfo() RepositoryInfo {
	ri := RepositoryInfo{ID: s.rc.ID, Version: s.rc.Version, ChunkerPolynomial: s.rc.ChunkerPolynomial,
		PackSize: s.rc.PackSize, MinChunk: chunk.MinSize, MaxChunk: chunk.MaxSize, MaxTreeBlob: MaxTreeBlob,
		Hash: "blake3-256"}
	if s.keys != nil {
		ri.Encrypted, ri.ChunkerPolynomial, ri.Hash = true, "", "blake3-256-keyed"
	}
	return ri
}

// BlobKeys is what a client of the blob protocol needs to compute the
// ids an encrypted repository gives: its chunker polynomial and id key.
// Whoever may call the API can read every file anyway, so handing these
// to token holders reveals nothing more to them; but a revoked token does
// not take back a key handed out, and the id key cannot change without
// rewriting every tree.
type BlobKeys struct {
	ChunkerPolynomial string `json:"chunker_polynomial"`
	IDKey             string `json:"id_key,omitempty"` // hex; empty: a plain repository (plain BLAKE3 ids)
}

// BlobKeys returns the repository's blob keys (see BlobKeys).
func (s *Store) BlobKeys() BlobKeys {
	return BlobKeys{ChunkerPolynomial: s.rc.ChunkerPolynomial, IDKey: hex.EncodeToString(s.sealer().IDKey())}
}

// Uploads serves the dedup-aware upload protocol: a client asks which blobs
// are missing, uploads only those (the blob side is package upload's), then
// commits a tree. Safe for concurrent use. Close ends the generations.
type Uploads struct {
	*upload.Blobs
	s *Store
}

// PutResult reports one uploaded blob.
type PutResult = upload.PutResult

// NewUploads starts an upload service; what it reports lasts at least ttl
// (default 30 minutes).
func (s *Store) NewUploads(ttl time.Duration) *Uploads {
	return &Uploads{s: s, Blobs: upload.New(upload.Options{Repo: s.repo, TTL: ttl, Now: s.now,
		Begin:    func(ctx context.Context) (*session.Session, error) { return s.begin(ctx, gc.KindUpload) },
		Writable: s.writable,
		Quota: func() error {
			if s.cfg.TotalQuota > 0 {
				_, _, _, err := s.limits()
				return err
			}
			return nil
		},
		Closed: fmt.Errorf("%w: uploads closed", ErrReadOnly)})}
}

// CommitOptions describe a version built from uploaded blobs.
type CommitOptions struct {
	SaveOptions           // Project (id or name; a new name creates the project), Type, Tags, ...
	Tree        object.ID // root tree
	RootMode    uint32    // mode of the project's top directory (0: 0755)
	RootMTime   int64     // its mtime, ns
	Source      string    // recorded in the snapshot (e.g. host:/path)
	// Files, Dirs and Size, when not zero, must agree with the tree.
	Files, Dirs, Size int64
}

// Commit records a tree whose blobs were uploaded as a new version: it
// flushes pending blobs, walks the whole tree checking that every tree and
// data blob is in the repository with the right type and that each file's
// chunks add up to its size, runs language and framework detection, applies
// max_project_size, then records the version like Save. A tree that lacks
// blobs is refused with a *MissingBlobsError and nothing is recorded.
func (u *Uploads) Commit(ctx context.Context, opts CommitOptions) (*SaveResult, error) {
	s := u.s
	if err := s.writable(); err != nil {
		return nil, err
	}
	if opts.Tree.IsZero() {
		return nil, fmt.Errorf("%w: no tree", ErrInvalid)
	}
	if opts.RootMode&^snapshot.ModeMask != 0 {
		return nil, fmt.Errorf("%w: root_mode %o", ErrInvalid, opts.RootMode)
	}
	if opts.RootMode == 0 {
		opts.RootMode = 0o755
	}
	se, err := s.begin(ctx, gc.KindStore)
	if err != nil {
		return nil, err
	}
	defer se.End()
	rec, parent, err := s.prepare(&opts.SaveOptions)
	if err != nil {
		return nil, err
	}
	if err := s.preStore(ctx, rec, "upload"); err != nil {
		return nil, err
	}
	w := se.Writer()
	if err := w.Flush(ctx); err != nil {
		return nil, err
	}
	st, det, err := s.verifyTree(ctx, opts.Tree)
	if err != nil {
		if det != nil {
			det.Stop()
		}
		return nil, err
	}
	defer det.Stop()
	if opts.Files != 0 && opts.Files != st.Files() || opts.Dirs != 0 && opts.Dirs != st.Dirs || opts.Size != 0 && opts.Size != st.Size {
		return nil, fmt.Errorf("%w: the commit claims %d files, %d dirs, %d bytes; the tree holds %d, %d, %d",
			ErrInvalid, opts.Files, opts.Dirs, opts.Size, st.Files(), st.Dirs, st.Size)
	}
	if s.cfg.MaxProjectSize > 0 && st.Size > s.cfg.MaxProjectSize {
		return nil, s.quotaError(snapshot.ErrLimit, rec.Name, 0)
	}
	// blobs reported present in an earlier generation may have been
	// condemned since: refer to copies that stay
	if err := se.Adopt(ctx, w, opts.Tree); err != nil {
		return nil, err
	}
	res := &snapshot.StoreResult{Tree: opts.Tree, RootMode: opts.RootMode, RootMTime: opts.RootMTime, Stats: st}
	source := opts.Source
	if source == "" {
		source = "upload"
	}
	return s.commit(ctx, se, w, rec, &opts.SaveOptions, parent, res, det, source)
}
