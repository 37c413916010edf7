package store

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

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
	return s.reading(ctx, func() error {
		return snapshot.WriteTar(ctx, s.repo, tree, w)
	})
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
	fi := &FileInfo{Path: strings.Trim(path, "/"), Size: f.Size(), Mode: n.Mode, MTime: time.Unix(0, n.MTime).UTC(),
		Snapshot: info.ID, Content: s.repo.ID(ids)}
	return f, fi, nil
}

// NodeReader opens a regular file's node (at path, for messages) for
// random access, like OpenFile.
func (s *Store) NodeReader(ctx context.Context, n *snapshot.Node, path string) (*FileReader, error) {
	return snapshot.OpenFile(ctx, s.repo, n, path)
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
	return se.End, nil
}

// Root returns the mode and modification time (ns) of the version's top
// directory.
func (i SnapshotInfo) Root() (mode uint32, mtime int64) {
	if i.snap == nil {
		return 0o755, i.Time.UnixNano()
	}
	return i.snap.RootMode, i.snap.RootMTime
}

// FileReader reads one file of a version (see snapshot.FileReader).
type FileReader = snapshot.FileReader
