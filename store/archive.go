package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/object"
)

// ArchiveOptions configure Archive.
type ArchiveOptions struct {
	Export bool // also write archives/YYYY/MM/<project-id>.tar.gz
}

// ArchiveResult reports one archived project.
type ArchiveResult struct {
	ProjectID     string `json:"project_id"`
	Name          string `json:"name"`
	CacheRemoved  int    `json:"cache_removed"`
	CacheFreed    int64  `json:"cache_freed_bytes"`
	ExportPath    string `json:"export_path,omitempty"`
	AlreadyExists bool   `json:"already_archived,omitempty"`
}

// Archive marks a project archived and removes its cache copies; with
// Export it also streams its newest version to a portable .tar.gz.
func (s *Store) Archive(ctx context.Context, ref string, opts ArchiveOptions) (*ArchiveResult, error) {
	res, err := s.archive(ctx, ref, opts)
	if err == nil && !res.AlreadyExists {
		s.hooks.On(ctx, s.event("on_archive", res.ProjectID, res.Name, "", res.ExportPath))
	}
	return res, err
}

func (s *Store) archive(ctx context.Context, ref string, opts ArchiveOptions) (*ArchiveResult, error) {
	var res ArchiveResult
	r, err := s.update(ctx, ref, func(r *catalog.Record) error {
		switch r.Status {
		case StatusDeleted:
			return fmt.Errorf("%w: project %q is deleted", ErrInvalid, r.Name)
		case StatusArchived:
			res.AlreadyExists = true
		}
		now := s.now().UTC()
		r.Status = StatusArchived
		if r.ArchivedAt == nil {
			r.ArchivedAt = &now
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res.ProjectID, res.Name = r.ID, r.Name
	res.CacheRemoved, res.CacheFreed = s.removeCache(r.ID, false)
	if opts.Export {
		p, err := s.export(ctx, r)
		if err != nil {
			return &res, err
		}
		res.ExportPath = p
		if _, err := s.update(ctx, r.ID, func(r *catalog.Record) error { r.ArchivePath = p; return nil }); err != nil {
			return &res, err
		}
	}
	return &res, nil
}

// export writes archives/YYYY/MM/<project-id>.tar.gz durably.
func (s *Store) export(ctx context.Context, r *catalog.Record) (string, error) {
	info, err := s.ResolveSnapshot(r.ID)
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	dir := filepath.Join(s.base, "archives", now.Format("2006"), now.Format("01"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	final := filepath.Join(dir, r.ID+".tar.gz")
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	bw := bufio.NewWriterSize(f, 1<<20)
	gz, _ := gzip.NewWriterLevel(bw, gzip.DefaultCompression)
	err = s.WriteTar(ctx, info, gz)
	if err == nil {
		err = gz.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), final)
	}
	if err == nil {
		err = object.SyncDir(dir)
	}
	if err != nil {
		return "", fmt.Errorf("export %s: %w", r.Name, err)
	}
	return final, nil
}

// ArchiveOlder archives every active project not updated for olderThan
// (0: the configured archive_after_days).
func (s *Store) ArchiveOlder(ctx context.Context, olderThan time.Duration, opts ArchiveOptions, dryRun bool) ([]ArchiveResult, error) {
	if olderThan <= 0 {
		olderThan = time.Duration(s.cfg.ArchiveAfterDays) * 24 * time.Hour
	}
	list, err := s.List(Filter{Status: StatusActive})
	if err != nil {
		return nil, err
	}
	cut := s.now().Add(-olderThan)
	out := []ArchiveResult{}
	for _, p := range list {
		if !p.UpdatedAt.Before(cut) {
			continue
		}
		if dryRun {
			n, freed := s.removeCache(p.ID, true)
			out = append(out, ArchiveResult{ProjectID: p.ID, Name: p.Name, CacheRemoved: n, CacheFreed: freed})
			continue
		}
		res, err := s.Archive(ctx, p.ID, opts)
		if err != nil {
			return out, err
		}
		out = append(out, *res)
	}
	return out, nil
}
