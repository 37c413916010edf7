package store

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// This file holds what a remote client (the HTTP API's dedup upload
// protocol, `silo store --remote`, `silo restore --remote`) needs beyond the
// rest of the facade: the repository's chunking parameters, blob-level
// upload with pins, committing a tree built from uploaded blobs, streaming a
// version as tar, and reading one file of a version with random access.

var (
	// ErrDigestMismatch means uploaded bytes do not hash to the id they
	// were sent under; nothing was stored.
	ErrDigestMismatch = errors.New("store: blob content does not match its id")
	// ErrMissingBlobs means a committed tree refers to blobs the repository
	// does not hold (see MissingBlobsError for which).
	ErrMissingBlobs = errors.New("store: tree refers to missing blobs")
)

// MissingBlobsError lists (some of) the blobs a commit lacks.
type MissingBlobsError struct {
	IDs   []object.ID // at most maxReportedMissing
	Count int         // how many were missing in all
}

const maxReportedMissing = 1000

func (e *MissingBlobsError) Error() string {
	return fmt.Sprintf("%v: %d blob(s), e.g. %s; upload them and commit again", ErrMissingBlobs, e.Count, e.IDs[0])
}

// Is makes errors.Is(err, ErrMissingBlobs) true.
func (e *MissingBlobsError) Is(target error) bool { return target == ErrMissingBlobs }

// Size limits of uploaded blobs.
const (
	// MaxDataBlob is the largest data blob (a chunk) an upload may carry.
	MaxDataBlob = chunk.MaxSize
	// MaxTreeBlob is the largest tree blob an upload may carry (a
	// directory of several hundred thousand entries).
	MaxTreeBlob = 64 << 20
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
// are missing, uploads only those, then commits a tree. The blobs it is
// told are present, and those it uploads, stay in the repository for at
// least TTL (at most twice that) whatever collects garbage meanwhile, on
// this machine or another: they are reported and stored by a session (an
// upload generation, see package gc) that lives that long. Safe for
// concurrent use. Close ends the generations.
type Uploads struct {
	s       *Store
	ttl     time.Duration
	mu      sync.Mutex
	cur     *generation
	prev    *generation
	rotated time.Time
	timer   *time.Timer
	closed  bool
}

// generation is a session answering and storing uploads.
type generation struct {
	se *session
	w  *object.Writer
}

// NewUploads starts an upload service; what it reports lasts at least ttl
// (default 30 minutes).
func (s *Store) NewUploads(ttl time.Duration) *Uploads {
	if ttl <= 0 {
		ttl = 30 * time.Minute
	}
	return &Uploads{s: s, ttl: ttl}
}

// rotate ends generations past their time. Called with u.mu held.
func (u *Uploads) rotate() {
	now := u.s.now()
	if u.cur != nil && now.Sub(u.rotated) >= u.ttl {
		if u.prev != nil {
			u.prev.se.end()
		}
		u.prev, u.cur = u.cur, nil
		u.rotated = now
	}
	if u.prev != nil && now.Sub(u.rotated) >= u.ttl {
		u.prev.se.end()
		u.prev = nil
	}
}

// gen returns the current generation, starting one when there is none.
func (u *Uploads) gen(ctx context.Context) (*generation, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return nil, fmt.Errorf("%w: uploads closed", ErrReadOnly)
	}
	u.rotate()
	if u.cur == nil {
		se, err := u.s.begin(context.WithoutCancel(ctx), gc.KindUpload)
		if err != nil {
			return nil, err
		}
		u.cur, u.rotated = &generation{se: se, w: se.writer()}, u.s.now()
		if u.timer == nil {
			// generations end when their time is up even when no request
			// comes: a session that lingers would hold gc back
			u.timer = time.AfterFunc(time.Minute, u.tick)
		}
	}
	return u.cur, nil
}

func (u *Uploads) tick() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	u.rotate()
	if u.cur == nil && u.prev == nil {
		u.timer = nil
		return
	}
	u.timer.Reset(time.Minute)
}

// Close ends the generations.
func (u *Uploads) Close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	u.closed = true
	if u.timer != nil {
		u.timer.Stop()
	}
	for _, g := range []*generation{u.prev, u.cur} {
		if g != nil {
			g.se.end()
		}
	}
}

// Missing returns the ids the repository lacks, in the order given
// (duplicates once). A blob whose every copy garbage collection condemned
// counts as missing.
func (u *Uploads) Missing(ctx context.Context, ids []object.ID) ([]object.ID, error) {
	if err := u.s.writable(); err != nil {
		return nil, err
	}
	g, err := u.gen(ctx)
	if err != nil {
		return nil, err
	}
	out := []object.ID{}
	seen := make(map[object.ID]bool, len(ids))
	for i, id := range ids {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		ok, err := g.w.Has(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, id)
		}
	}
	return out, nil
}

// PutResult reports one uploaded blob.
type PutResult struct {
	ID     object.ID `json:"id"`
	Type   string    `json:"type"`
	Size   int64     `json:"size"`   // plain bytes
	Stored int64     `json:"stored"` // bytes added to packs (0: the repository had it)
	Exists bool      `json:"exists"` // the repository had it already
}

// Put reads one blob of type t (data or tree) from r, at most MaxDataBlob
// or MaxTreeBlob bytes, checks that it hashes to id and that a tree blob
// decodes, and stores it unless the repository has it. A blob that does not
// match is refused with ErrDigestMismatch and nothing is stored. The blob is
// durable once a commit (or any other store) flushes.
func (u *Uploads) Put(ctx context.Context, t object.BlobType, id object.ID, r io.Reader) (*PutResult, error) {
	if err := u.s.writable(); err != nil {
		return nil, err
	}
	limit := int64(MaxDataBlob)
	switch t {
	case object.DataBlob:
	case object.TreeBlob:
		limit = MaxTreeBlob
	default:
		return nil, fmt.Errorf("%w: blob type %s cannot be uploaded (use data or tree)", ErrInvalid, t)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", id.Short(), err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: %s blob larger than %d bytes", ErrInvalid, t, limit)
	}
	data := buf.Bytes()
	if u.s.repo.ID(data) != id {
		return nil, fmt.Errorf("%w: %d bytes sent as %s hash to %s", ErrDigestMismatch, len(data), id, u.s.repo.ID(data))
	}
	if t == object.TreeBlob {
		if _, err := snapshot.DecodeTree(data); err != nil {
			return nil, fmt.Errorf("%w: tree blob %s: %w", ErrInvalid, id.Short(), err)
		}
	}
	if u.s.cfg.TotalQuota > 0 {
		if _, _, _, err := u.s.limits(); err != nil {
			return nil, err
		}
	}
	g, err := u.gen(ctx)
	if err != nil {
		return nil, err
	}
	added, err := g.w.SaveBlob(ctx, t, id, data)
	if err != nil {
		return nil, err
	}
	return &PutResult{ID: id, Type: t.String(), Size: int64(len(data)), Stored: added, Exists: added == 0}, nil
}

// Blob returns a blob's plain bytes, verified (for a remote client's
// parent trees and restores).
func (u *Uploads) Blob(ctx context.Context, id object.ID) ([]byte, error) {
	if _, ok, err := u.s.repo.Lookup(id); err == nil && !ok {
		// uploaded but still in an open pack: make it readable
		if has, _ := u.s.repo.Has(id); has {
			if err := u.s.repo.Flush(ctx); err != nil {
				return nil, err
			}
		}
	}
	return u.s.repo.LoadBlob(ctx, id, nil)
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
	defer se.end()
	rec, parent, err := s.prepare(&opts.SaveOptions)
	if err != nil {
		return nil, err
	}
	if err := s.preStore(ctx, rec, "upload"); err != nil {
		return nil, err
	}
	w := se.writer()
	if err := w.Flush(ctx); err != nil {
		return nil, err
	}
	st, det, err := s.verifyTree(ctx, opts.Tree)
	if err != nil {
		if det != nil {
			det.stop()
		}
		return nil, err
	}
	defer det.stop()
	if opts.Files != 0 && opts.Files != st.Files() || opts.Dirs != 0 && opts.Dirs != st.Dirs || opts.Size != 0 && opts.Size != st.Size {
		return nil, fmt.Errorf("%w: the commit claims %d files, %d dirs, %d bytes; the tree holds %d, %d, %d",
			ErrInvalid, opts.Files, opts.Dirs, opts.Size, st.Files(), st.Dirs, st.Size)
	}
	if s.cfg.MaxProjectSize > 0 && st.Size > s.cfg.MaxProjectSize {
		return nil, s.quotaError(snapshot.ErrLimit, rec.Name, 0)
	}
	// blobs reported present in an earlier generation may have been
	// condemned since: refer to copies that stay
	if err := se.adopt(ctx, w, opts.Tree); err != nil {
		return nil, err
	}
	res := &snapshot.StoreResult{Tree: opts.Tree, RootMode: opts.RootMode, RootMTime: opts.RootMTime, Stats: st}
	source := opts.Source
	if source == "" {
		source = "upload"
	}
	return s.commit(ctx, se, w, rec, &opts.SaveOptions, parent, res, det, source)
}

// verifyTree checks a committed tree and feeds detection. Each distinct
// tree is loaded and checked once, however many paths lead to it (a tree
// whose entries all name the same subtree describes 2^depth paths in a
// few uploads): every tree and data blob is indexed with the right type,
// each file's chunks add up to its size, names are restorable, paths stay
// within snapshot.DefaultMaxPath bytes and DefaultMaxDepth levels, and the
// version's entries (counted per path) within max_entries. Detection sees
// the files of each distinct tree once.
func (s *Store) verifyTree(ctx context.Context, root object.ID) (snapshot.StoreStats, *detection, error) {
	var st snapshot.StoreStats
	missing := &MissingBlobsError{}
	note := func(id object.ID) {
		missing.Count++
		if len(missing.IDs) < maxReportedMissing {
			missing.IDs = append(missing.IDs, id)
		}
	}
	// the root (and every subtree) must be an indexed tree blob
	checkTree := func(id object.ID) (bool, error) {
		loc, ok, err := s.repo.Lookup(id)
		if err != nil {
			return false, err
		}
		if !ok {
			note(id)
			return false, nil
		}
		if loc.Type != object.TreeBlob {
			return false, fmt.Errorf("%w: blob %s is a %s blob, not a tree", ErrInvalid, id.Short(), loc.Type)
		}
		return true, nil
	}
	if ok, err := checkTree(root); err != nil {
		return st, nil, err
	} else if !ok {
		return st, nil, missing
	}
	det := newDetection(nil)
	det.partial = true // a subtree met again is not visited again
	maxEntries := s.cfg.MaxEntries
	// sum is what one distinct tree holds below it, every path counted
	type sum struct {
		files, dirs, links, size, entries int64
		depth, path                       int // deepest path (elements) and longest path (bytes) below it
	}
	sat := func(a, b int64) int64 { // saturating: 2^40 paths of 2^40 bytes
		if a > math.MaxInt64-b {
			return math.MaxInt64
		}
		return a + b
	}
	memo := map[object.ID]*sum{}
	lengths := map[object.ID]int64{}
	start := time.Now()
	// path is the path of the entry being checked, shared by every level
	// (appended on the way down, cut on the way up): a path per level
	// would hold the square of a deep tree's depth (1 GB at 32,768 levels)
	var path []byte
	where := func() string { return string(path) }
	short := func() string { return string(path[:min(len(path), 100)]) }
	var visit func(id object.ID, depth int) (*sum, error)
	visit = func(id object.ID, depth int) (*sum, error) {
		if m, ok := memo[id]; ok {
			return m, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		nodes, err := snapshot.LoadTree(ctx, s.repo, id)
		if err != nil {
			if len(path) > 0 {
				err = fmt.Errorf("%s: %w", path, err)
			}
			return nil, err
		}
		m := &sum{}
		for i := range nodes {
			n := &nodes[i]
			mark := len(path)
			if mark > 0 {
				path = append(path, '/')
			}
			path = append(path, n.Name...)
			if err := snapshot.CheckName(n.Name); err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, where(), err)
			}
			if depth+1 > snapshot.DefaultMaxDepth || len(path) > snapshot.DefaultMaxPath {
				return nil, fmt.Errorf("%w: %s... is %d levels deep and %d bytes long (at most %d and %d)",
					ErrInvalid, short(), depth+1, len(path), snapshot.DefaultMaxDepth, snapshot.DefaultMaxPath)
			}
			m.entries++
			longest, deepest := len(n.Name), 1
			switch n.Type {
			case snapshot.Dir:
				m.dirs++
				ok, err := checkTree(n.Subtree)
				if err != nil {
					return nil, err
				}
				if !ok {
					break
				}
				sub, err := visit(n.Subtree, depth+1)
				if err != nil {
					return nil, err
				}
				m.files, m.dirs, m.links = sat(m.files, sub.files), sat(m.dirs, sub.dirs), sat(m.links, sub.links)
				m.size, m.entries = sat(m.size, sub.size), sat(m.entries, sub.entries)
				if sub.entries > 0 {
					longest, deepest = len(n.Name)+1+sub.path, 1+sub.depth
				}
			case snapshot.Symlink:
				m.links++
			case snapshot.File:
				var size int64
				complete := true
				for _, cid := range n.Content {
					l, ok := lengths[cid]
					if !ok {
						loc, found, err := s.repo.Lookup(cid)
						if err != nil {
							return nil, err
						}
						if !found {
							note(cid)
							complete = false
							continue
						}
						if loc.Type != object.DataBlob {
							return nil, fmt.Errorf("%w: file %s: blob %s is a %s blob, not data", ErrInvalid, where(), cid.Short(), loc.Type)
						}
						l = int64(loc.RawLength)
						lengths[cid] = l
					}
					size += l
				}
				if complete && uint64(size) != n.Size {
					return nil, fmt.Errorf("%w: file %s: size %d, but its chunks hold %d bytes", ErrInvalid, where(), n.Size, size)
				}
				m.files++
				m.size = sat(m.size, int64(n.Size))
				det.visit(where(), n)
			}
			// a subtree met before was checked at its first path only:
			// its own longest and deepest paths count here
			m.path, m.depth = max(m.path, longest), max(m.depth, deepest)
			if m.path > snapshot.DefaultMaxPath || m.depth > snapshot.DefaultMaxDepth {
				return nil, fmt.Errorf("%w: %s holds a path of %d levels or %d bytes (at most %d and %d)",
					ErrInvalid, short(), m.depth, m.path, snapshot.DefaultMaxDepth, snapshot.DefaultMaxPath)
			}
			if maxEntries > 0 && m.entries > maxEntries {
				return nil, fmt.Errorf("%w: the tree holds more than max_entries %d files, directories and symlinks (%s; at %s); nothing was recorded: %w",
					ErrQuota, maxEntries, s.setting("max_entries"), where(), snapshot.ErrEntryLimit)
			}
			path = path[:mark]
		}
		memo[id] = m
		return m, nil
	}
	m, err := visit(root, 0)
	st.Duration = time.Since(start)
	if err != nil {
		return st, det, err
	}
	st.Dirs = 1 + m.dirs
	st.Symlinks, st.FilesNew, st.Size = m.links, m.files, m.size
	if missing.Count > 0 {
		return st, det, missing
	}
	return st, det, nil
}

// VersionDetail is a version as a remote client needs it: the listing's
// fields plus the root directory's mode and mtime.
type VersionDetail struct {
	SnapshotInfo
	RootMode  uint32 `json:"root_mode"`
	RootMTime int64  `json:"root_mtime"`
}

// VersionDetails lists a project's versions, newest first.
func (s *Store) VersionDetails(ref string) ([]VersionDetail, error) {
	list, err := s.Snapshots(ref)
	if err != nil {
		return nil, err
	}
	out := make([]VersionDetail, 0, len(list))
	for _, in := range list {
		d := VersionDetail{SnapshotInfo: in}
		if in.snap != nil {
			d.RootMode, d.RootMTime = in.snap.RootMode, in.snap.RootMTime
		}
		out = append(out, d)
	}
	return out, nil
}

// WriteTar streams a version (as resolved by ResolveSnapshot) as a tar
// stream: PAX headers, paths relative to the project's top directory.
func (s *Store) WriteTar(ctx context.Context, info SnapshotInfo, w io.Writer) error {
	tree, err := object.ParseID(info.Tree)
	if err != nil {
		return fmt.Errorf("%w: snapshot %s: tree %q", ErrInvalid, info.ID, info.Tree)
	}
	se, err := s.begin(ctx, gc.KindRead)
	if err != nil {
		return err
	}
	defer se.end()
	return snapshot.WriteTar(ctx, s.repo, tree, w)
}

// FileInfo describes one regular file of a version.
type FileInfo struct {
	Path     string    `json:"path"`
	Size     int64     `json:"size"`
	Mode     uint32    `json:"mode"`
	MTime    time.Time `json:"mtime"`
	Snapshot string    `json:"snapshot"`
	// Content names the file's content: the hash of its chunk ids (a
	// strong validator for HTTP caches).
	Content object.ID `json:"content"`
}

// OpenFile opens the regular file at path (slash-separated, relative to the
// project's top) in a version, for random access: the returned reader maps
// offsets onto chunks with the index's lengths and loads (and verifies)
// only the chunks it reads. It fails with snapshot.ErrNotFound for a path
// that is not there and ErrInvalid for a directory or symlink.
func (s *Store) OpenFile(ctx context.Context, info SnapshotInfo, path string) (*FileReader, *FileInfo, error) {
	tree, err := object.ParseID(info.Tree)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: snapshot %s: tree %q", ErrInvalid, info.ID, info.Tree)
	}
	if strings.Trim(path, "/") == "" {
		return nil, nil, fmt.Errorf("%w: no file path", ErrInvalid)
	}
	n, err := snapshot.Find(ctx, s.repo, tree, path)
	if err != nil {
		return nil, nil, err
	}
	if n.Type != snapshot.File {
		return nil, nil, fmt.Errorf("%w: %s is a %s, not a regular file", ErrInvalid, path, n.Type)
	}
	f, err := s.NodeReader(ctx, n, path)
	if err != nil {
		return nil, nil, err
	}
	var ids []byte
	for _, id := range n.Content {
		ids = append(ids, id[:]...)
	}
	fi := &FileInfo{Path: strings.Trim(path, "/"), Size: f.size, Mode: n.Mode, MTime: time.Unix(0, n.MTime).UTC(),
		Snapshot: info.ID, Content: s.repo.ID(ids)}
	return f, fi, nil
}

// NodeReader opens a regular file's node (at path, for messages) for
// random access, like OpenFile.
func (s *Store) NodeReader(ctx context.Context, n *snapshot.Node, path string) (*FileReader, error) {
	f := &FileReader{ctx: ctx, repo: s.repo, ids: slices.Clone(n.Content), ends: make([]int64, len(n.Content)), cur: -1}
	for i, id := range n.Content {
		loc, ok, err := s.repo.Lookup(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%s: chunk %s: %w", path, id, object.ErrBlobNotFound)
		}
		f.size += int64(loc.RawLength)
		f.ends[i] = f.size
	}
	if uint64(f.size) != n.Size {
		return nil, fmt.Errorf("%w: %s: size %d, but its chunks hold %d bytes", object.ErrCorrupt, path, n.Size, f.size)
	}
	return f, nil
}

// Tree reads the tree blob id of a version (a directory's entries).
func (s *Store) Tree(ctx context.Context, id object.ID) ([]snapshot.Node, error) {
	return snapshot.LoadTree(ctx, s.repo, id)
}

// BeginRead starts a read session (see package gc): until end is called,
// no collection deletes a pack the versions read now need. A mount holds
// one while it is mounted.
func (s *Store) BeginRead(ctx context.Context) (end func(), err error) {
	se, err := s.begin(ctx, gc.KindRead)
	if err != nil {
		return nil, err
	}
	return se.end, nil
}

// Root returns the mode and modification time (ns) of the version's top
// directory.
func (i SnapshotInfo) Root() (mode uint32, mtime int64) {
	if i.snap == nil {
		return 0o755, i.Time.UnixNano()
	}
	return i.snap.RootMode, i.snap.RootMTime
}

// FileReader reads one file of a version; it is an io.ReadSeeker (so
// http.ServeContent can answer Range requests). Not safe for concurrent use.
type FileReader struct {
	ctx  context.Context
	repo *object.Repository
	ids  []object.ID
	ends []int64 // ends[i]: offset just past chunk i
	size int64
	pos  int64
	buf  []byte // chunk cur, loaded
	cur  int
}

// Size returns the file's length.
func (f *FileReader) Size() int64 { return f.size }

// Read implements io.Reader.
func (f *FileReader) Read(p []byte) (int, error) {
	if f.pos >= f.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	i := sort.Search(len(f.ends), func(i int) bool { return f.ends[i] > f.pos })
	start := int64(0)
	if i > 0 {
		start = f.ends[i-1]
	}
	if i != f.cur {
		data, err := f.repo.LoadBlob(f.ctx, f.ids[i], f.buf[:0])
		if err != nil {
			return 0, err
		}
		if int64(len(data)) != f.ends[i]-start {
			return 0, fmt.Errorf("%w: chunk %s holds %d bytes, the index says %d", object.ErrCorrupt, f.ids[i], len(data), f.ends[i]-start)
		}
		f.buf, f.cur = data, i
	}
	n := copy(p, f.buf[f.pos-start:])
	f.pos += int64(n)
	return n, nil
}

// Seek implements io.Seeker.
func (f *FileReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = f.pos + offset
	case io.SeekEnd:
		abs = f.size + offset
	default:
		return f.pos, fmt.Errorf("seek: bad whence %d", whence)
	}
	if abs < 0 {
		return f.pos, fmt.Errorf("seek: negative position %d", abs)
	}
	f.pos = abs
	return abs, nil
}
