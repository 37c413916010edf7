// Package store is the facade silo's CLI and HTTP server program against: it
// opens a repository from the configuration and offers projects, versions,
// restore, check and index rebuild (and, on top, the catalogue lifecycle,
// quotas, stats, backup and cleanup).
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store/config"
)

// Options configure Open. The zero value opens ./storage read-write.
type Options struct {
	Config   *config.Config   // nil: config.Default()
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger     // nil: discard
	ReadOnly bool             // share the repository with other readers
	Create   bool             // create the repository when it is missing
	Owner    string           // who holds the lock, for other processes' messages
	// LockTimeout is how long to wait for another process's lock (default 1s).
	LockTimeout time.Duration
	// Backend, when set, is used instead of opening Config.BasePath (tests
	// inject faults this way).
	Backend object.Backend
	// Polynomial is the chunker polynomial of a repository created by Open
	// (hex; default random). Backups use the source's.
	Polynomial string
	// Unpinned is for a process that runs one operation at a time (a CLI
	// command): stores keep no pins against a concurrent collection, so
	// their memory does not grow with the project, and GC fails with
	// object.ErrStoreRunning while a store is in progress. A server that
	// stores and collects at once must leave it false.
	Unpinned bool
}

// Store is an open repository.
type Store struct {
	cfg    *config.Config
	now    func() time.Time
	log    *slog.Logger
	be     object.Backend
	rc     object.RepoConfig
	pol    chunk.Pol
	db     *index.DB
	repo   *object.Repository
	base   string // local directory for cache/, archives/, logs/ (base path, or the cache dir for S3)
	ro     bool
	closed bool
	// catMu serialises catalogue writes (version commits and metadata
	// changes) within this process; other processes are kept out by the
	// index lock.
	catMu sync.Mutex
	gcMu  sync.Mutex // one collection at a time
}

// localRooted is a backend that lives in a local directory (object.Local,
// or a wrapper around it); index.db, cache/ and logs/ go there too.
type localRooted interface{ Root() string }

// IsRemote reports whether a location is an s3:// URL.
func IsRemote(location string) bool { return strings.HasPrefix(location, "s3://") }

// OpenBackend returns the backend for a location (a path or s3://bucket/prefix).
func OpenBackend(ctx context.Context, location string, cfg *config.Config) (object.Backend, error) {
	return openBackend(ctx, location, cfg, nil)
}

func openBackend(ctx context.Context, location string, cfg *config.Config, log *slog.Logger) (object.Backend, error) {
	if IsRemote(location) {
		return openS3(ctx, location, cfg, log)
	}
	return object.NewLocal(location), nil
}

func defaults(opts *Options) {
	if opts.Config == nil {
		opts.Config = config.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Owner == "" {
		host, _ := os.Hostname()
		opts.Owner = fmt.Sprintf("silo (pid %d on %s)", os.Getpid(), host)
	}
}

// Init creates a repository at the configured base path. It fails with
// ErrExists when one is there already.
func Init(ctx context.Context, opts Options) (*Store, error) {
	defaults(&opts)
	be, err := OpenBackend(ctx, opts.Config.BasePath, opts.Config)
	if err != nil {
		return nil, err
	}
	if _, err := object.LoadRepoConfig(ctx, be); err == nil {
		return nil, fmt.Errorf("%w: a repository exists at %s", ErrExists, be.Location())
	} else if !errors.Is(err, object.ErrNoRepository) {
		return nil, err
	}
	if err := initRepo(ctx, be, opts.Config.PackSize, ""); err != nil {
		return nil, err
	}
	opts.Create = false
	return Open(ctx, opts)
}

// initRepo writes config.json (with the given polynomial, or a random one).
func initRepo(ctx context.Context, be object.Backend, packSize int64, pol string) error {
	if pol == "" {
		p, err := chunk.RandomPolynomial()
		if err != nil {
			return err
		}
		pol = chunk.FormatPolynomial(p)
	}
	if packSize <= 0 {
		packSize = 16 << 20
	}
	rc := object.RepoConfig{Version: object.FormatVersion, ID: object.NewRepoID(), ChunkerPolynomial: pol,
		PackSize: packSize, Created: time.Now().UTC()}
	if l, ok := be.(localRooted); ok {
		if err := os.MkdirAll(filepath.Join(l.Root(), "packs"), 0o755); err != nil {
			return fmt.Errorf("init %s: %w", l.Root(), err)
		}
	}
	if err := object.SaveRepoConfig(ctx, be, rc); err != nil {
		return fmt.Errorf("init %s: %w", be.Location(), err)
	}
	return nil
}

// Open opens the repository at the configured base path.
func Open(ctx context.Context, opts Options) (*Store, error) {
	defaults(&opts)
	cfg := opts.Config
	be := opts.Backend
	if be == nil {
		var err error
		if be, err = openBackend(ctx, cfg.BasePath, cfg, opts.Logger); err != nil {
			return nil, err
		}
	}
	rc, err := object.LoadRepoConfig(ctx, be)
	if errors.Is(err, object.ErrNoRepository) && opts.Create && !opts.ReadOnly {
		if err := initRepo(ctx, be, cfg.PackSize, opts.Polynomial); err != nil {
			return nil, err
		}
		rc, err = object.LoadRepoConfig(ctx, be)
	}
	if errors.Is(err, object.ErrNoRepository) {
		return nil, fmt.Errorf("%w at %s: create one with `silo init` (or `silo --repo PATH init`)", ErrNoRepository, be.Location())
	}
	if err != nil {
		return nil, err
	}
	pol, err := chunk.ParsePolynomial(rc.ChunkerPolynomial)
	if err != nil {
		return nil, fmt.Errorf("%s/config.json: %w", be.Location(), err)
	}
	s := &Store{cfg: cfg, now: opts.Now, log: opts.Logger, be: be, rc: rc, pol: pol, ro: opts.ReadOnly}
	if l, ok := be.(localRooted); ok {
		s.base = l.Root()
	} else {
		s.base = filepath.Join(cfg.CacheDir, rc.ID)
		if err := os.MkdirAll(s.base, 0o755); err != nil {
			return nil, fmt.Errorf("cache directory: %w", err)
		}
	}
	dbPath := filepath.Join(s.base, "index.db")
	_, statErr := os.Stat(dbPath)
	fresh := errors.Is(statErr, os.ErrNotExist)
	ro := opts.ReadOnly
	remote := !isLocal(be)
	if fresh || remote {
		ro = false // the index must be built once; a remote repository's index is a local cache
	}
	db, err := index.Open(dbPath, index.Options{ReadOnly: ro, Owner: opts.Owner, Timeout: opts.LockTimeout})
	if err != nil {
		return nil, err
	}
	s.db = db
	tmp := filepath.Join(s.base, "tmp")
	if !ro {
		// leftovers of a crashed writer are garbage: packs being written,
		// and half-written files that Put would have renamed into place
		os.RemoveAll(tmp)
		if c, ok := be.(interface{ RemoveTemporary() }); ok {
			c.RemoveTemporary()
		}
	}
	ropts := object.RepositoryOptions{Backend: be, Index: db, TempDir: tmp,
		PackSize: rc.PackSize, Level: cfg.CompressionLevel, Logger: opts.Logger, Unpinned: opts.Unpinned}
	if remote {
		ropts.PackCache = filepath.Join(s.base, "packs")
	}
	s.repo, err = object.NewRepository(ropts)
	if err != nil {
		db.Close()
		return nil, err
	}
	switch {
	case fresh:
		if err := s.rebuildIndex(ctx, nil); err != nil {
			s.Close()
			return nil, fmt.Errorf("build index from packs: %w", err)
		}
	case remote:
		// another machine may have written to the bucket: bring the cache up to date
		if err := s.refreshIndex(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("refresh index cache from %s: %w", be.Location(), err)
		}
	}
	return s, nil
}

func isLocal(be object.Backend) bool {
	_, ok := be.(localRooted)
	return ok
}

// Close releases the repository.
func (s *Store) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.repo.Close()
	return s.db.Close()
}

// Location names the repository (path or s3:// URL).
func (s *Store) Location() string { return s.be.Location() }

// Config returns the effective configuration.
func (s *Store) Config() *config.Config { return s.cfg }

// RepoConfig returns config.json.
func (s *Store) RepoConfig() object.RepoConfig { return s.rc }

// BaseDir is the local directory holding index.db, cache/, archives/ and logs/.
func (s *Store) BaseDir() string { return s.base }

func (s *Store) writable() error {
	if s.ro {
		return ErrReadOnly
	}
	return nil
}
