package store

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/gzip"

	"github.com/silo-dev/silo/backend"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// Import stores a project from a directory, a .tar or .tar.gz file, "-"
// (standard input, given as r) or an s3://bucket/key.tar.gz object. Tar
// streams go straight into the store: nothing is extracted to disk. A new
// project's type defaults to migration, as in the storage guide.
func (s *Store) Import(ctx context.Context, source string, r io.Reader, opts SaveOptions) (*SaveResult, error) {
	if opts.Type == "" {
		opts.Type = TypeMigration // the storage guide's import example
	}
	if source != "-" && !IsRemote(source) {
		fi, err := os.Stat(source)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		if fi.IsDir() {
			return s.Save(ctx, source, opts)
		}
		f, err := os.Open(source)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		defer f.Close()
		r = f
	} else if IsRemote(source) {
		rc, err := backend.OpenObject(ctx, source, s.cfg, s.log)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		r = rc
	}
	return s.SaveTar(ctx, r, opts)
}

// SaveTar stores a tar or gzip-compressed tar stream as a new version of a
// project, with the same detection, quotas and catalogue update as Save.
func (s *Store) SaveTar(ctx context.Context, r io.Reader, opts SaveOptions) (*SaveResult, error) {
	if err := s.writable(); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 1<<20)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", snapshot.ErrBadTar, err)
		}
		defer gz.Close()
		r = gz
	} else {
		r = br
	}
	return s.saveWith(ctx, &opts, "tar", func(w *object.Writer, so snapshot.StoreOptions) (*snapshot.StoreResult, error) {
		so.ParentTree = object.ID{} // a tar stream has no inodes to compare
		return snapshot.StoreTar(ctx, w, r, so)
	})
}
