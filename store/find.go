package store

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/snapshot"
)

// Dump writes the regular file at filePath (slash-separated, from the
// project's top) of the version ref to w, like `restic dump`: only that
// file's chunks are read, each verified.
func (s *Store) Dump(ctx context.Context, ref, filePath string, w io.Writer) (int64, error) {
	info, err := s.ResolveSnapshot(ref)
	if err != nil {
		return 0, err
	}
	se, err := s.begin(ctx, gc.KindRead)
	if err != nil {
		return 0, err
	}
	defer se.End()
	f, _, err := s.OpenFile(ctx, info, filePath)
	if err != nil {
		return 0, fmt.Errorf("dump %s@%.12s: %w", info.ProjectName, info.ID, err)
	}
	n, err := io.Copy(w, f)
	if err != nil {
		return n, fmt.Errorf("dump %s@%.12s %s: %w", info.ProjectName, info.ID, filePath, err)
	}
	return n, nil
}

// FindMatch is one path a Find pattern matched in one version.
type FindMatch struct {
	Project  string    `json:"project"`
	Snapshot string    `json:"snapshot"`
	Time     time.Time `json:"time"`
	Path     string    `json:"path"`
	Type     string    `json:"type"`
	Size     int64     `json:"size"`
}

// Find calls fn for every entry of every version (of project ref, or of
// all projects when ref is "") whose path matches pattern, like `restic
// find`: a pattern without "/" is matched (path.Match) against the entry's
// name, one with "/" against its whole path from the project's top.
// Versions come newest first.
func (s *Store) Find(ctx context.Context, ref, pattern string, fn func(FindMatch) error) error {
	if _, err := path.Match(pattern, ""); err != nil {
		return fmt.Errorf("%w: pattern %q: %v", ErrInvalid, pattern, err)
	}
	whole := strings.Contains(pattern, "/")
	pattern = strings.Trim(pattern, "/")
	list, err := s.Snapshots(ref)
	if err != nil {
		return err
	}
	return s.reading(ctx, func() error {
		for _, info := range list {
			err := snapshot.Walk(ctx, s.repo, info.snap.Tree, func(p string, n *snapshot.Node) error {
				subject := n.Name
				if whole {
					subject = p
				}
				if ok, _ := path.Match(pattern, subject); !ok {
					return nil
				}
				m := FindMatch{Project: info.ProjectName, Snapshot: info.ID, Time: info.Time, Path: p, Type: n.Type.String()}
				if n.Type == snapshot.File {
					m.Size = int64(n.Size)
				}
				return fn(m)
			})
			if err != nil {
				return fmt.Errorf("find in %s@%.12s: %w", info.ProjectName, info.ID, err)
			}
		}
		return nil
	})
}
