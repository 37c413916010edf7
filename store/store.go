// Package store is the facade silo's CLI and HTTP server program against: it
// opens a repository from the configuration and offers projects, versions,
// restore, check and index rebuild (and, on top, the catalogue lifecycle,
// quotas, stats, backup and cleanup).
package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/silo-dev/silo/backend"
	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/crypt"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/hooks"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/keyring"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store/config"
)

// Options configure Open. The zero value opens ./storage read-write.
type Options struct {
	Config   *config.Config   // nil: config.Default()
	Now      func() time.Time // nil: time.Now
	Logger   *slog.Logger     // nil: discard
	ReadOnly bool             // refuse writes (the repository is shared either way)
	Create   bool             // create the repository when it is missing
	// Command names the process in its leases (what other processes and
	// `silo gc` report as running), e.g. "silo store (pid 42)".
	Command string
	// LockTimeout bounds how long a transaction on index.db waits for
	// other processes' transactions (default 30s).
	LockTimeout time.Duration
	// LeaseTTL is how long a session's lease lives without a refresh
	// (default gc.DefaultTTL).
	LeaseTTL time.Duration
	// Machine names this machine in leases (default: host name and machine
	// id; see gc.LeasesOptions).
	Machine string
	// Backend, when set, is used instead of opening Config.BasePath (tests
	// inject faults this way).
	Backend object.Backend
	// Polynomial is the chunker polynomial of a repository created by Open
	// (hex; default random). Backups use the source's.
	Polynomial string
	// Rebuild opens the repository to rebuild its index (`silo index
	// rebuild`): a damaged index.db does not fail Open, and is not brought
	// up to date first.
	Rebuild bool
	// Destination says the repository is a backup destination (see
	// backupHolds); otherwise Open finds out when it first needs to.
	Destination bool
	// Password supplies the password of an encrypted repository; it is
	// asked only when one is needed.
	Password PasswordFunc
	// Encrypt makes a repository that Init (or Create) makes encrypted.
	Encrypt bool
	// Key opens an encrypted repository with its master key instead of a
	// password (a backup destination of an encrypted repository). With
	// Encrypt, a repository created gets this master key and KeyFiles
	// (so the source's passwords open it).
	Key      *crypt.MasterKey
	KeyFiles []*crypt.KeyFile
	keyUsed  string // the key file Init made (the one this process opened with)
}

// Store is an open repository. Any number of Stores, in this process and
// others, on this machine and others, may use one repository at once
// (see package gc for how they keep out of each other's way).
type Store struct {
	cfg    *config.Config
	now    func() time.Time
	log    *slog.Logger
	be     object.Backend
	rc     object.RepoConfig
	pol    chunk.Pol
	db     *index.DB
	repo   *object.Repository
	leases *gc.Leases
	base   string // local directory for cache/, archives/, logs/ (base path, or the cache dir for S3)
	tmp    string // this process's directory for packs being written
	cmd    string
	ro     bool
	closed bool
	// catMu serialises catalogue writes (version commits and metadata
	// changes) within this process; other processes on this machine wait
	// on catalogue.lock.
	catMu sync.Mutex
	gcMu  sync.Mutex // one collection at a time
	// condemned gathers the packs that pending gc plans condemned, as this
	// process's sessions saw them (see object.RepositoryOptions.Condemned)
	condMu    sync.Mutex
	condemned map[object.ID]bool
	// dest caches whether this is a backup destination (isDestination)
	destMu sync.Mutex
	dest   int8 // 0: not known yet, 1: no, 2: yes

	hooks *hooks.Runner // storage.hooks; nil: none
	keys  *keyring.Ring // nil: a plain repository
}

// IsRemote reports whether a location is an object store's URL
// (s3://bucket/prefix, azblob://container/prefix, or a scheme given to
// RegisterBackend) rather than a path.
func IsRemote(location string) bool { return backend.IsRemote(location) }

// BackendOpener opens the backend a location of its scheme names.
type BackendOpener = backend.Opener

// RegisterBackend makes locations "scheme://..." open with open (see
// backend.Register).
func RegisterBackend(scheme string, open BackendOpener) error { return backend.Register(scheme, open) }

// OpenBackend returns the backend for a location (a path or s3://bucket/prefix).
func OpenBackend(ctx context.Context, location string, cfg *config.Config) (object.Backend, error) {
	return backend.Open(ctx, location, cfg, nil)
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
	if opts.Command == "" {
		opts.Command = fmt.Sprintf("silo (pid %d)", os.Getpid())
	}
}

// Init creates a repository at the configured base path. It fails with
// ErrExists when one is there already.
func Init(ctx context.Context, opts Options) (*Store, error) {
	defaults(&opts)
	be := opts.Backend
	if be == nil {
		var err error
		if be, err = OpenBackend(ctx, opts.Config.BasePath, opts.Config); err != nil {
			return nil, err
		}
	}
	if _, err := object.LoadRepoConfig(ctx, be); err == nil {
		return nil, fmt.Errorf("%w: a repository exists at %s", ErrExists, be.Location())
	} else if !errors.Is(err, object.ErrNoRepository) {
		return nil, err
	}
	if err := initRepo(ctx, be, opts.Config.PackSize, "", &opts); err != nil {
		return nil, err
	}
	opts.Create = false
	return Open(ctx, opts)
}

// initRepo writes config.json (with the given polynomial, or a random
// one). With opts.Encrypt, it first makes the master key (opts.Key, or a
// new one), writes its key files (opts.KeyFiles, or one for a password
// asked twice) and seals the config; opts.Key is set to the master key.
func initRepo(ctx context.Context, be object.Backend, packSize int64, pol string, opts *Options) error {
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
	if err := checkNoLeftovers(ctx, be); err != nil {
		return err
	}
	if opts.Encrypt {
		// the password first: a refused one leaves nothing behind
		if err := initKeys(ctx, be, &rc, opts); err != nil {
			return fmt.Errorf("init %s: %w", be.Location(), err)
		}
	}
	if l, ok := be.(object.Rooted); ok {
		if err := os.MkdirAll(filepath.Join(l.Root(), "packs"), 0o755); err != nil {
			return fmt.Errorf("init %s: %w", l.Root(), err)
		}
	}
	// another init that runs at the same time may write config.json
	// first: then the repository is that one (see object.Creator)
	got, err := object.CreateRepoConfig(ctx, be, rc)
	if err != nil {
		return fmt.Errorf("init %s: %w", be.Location(), err)
	}
	if got.ID != rc.ID {
		if opts.Encrypt && len(opts.KeyFiles) == 0 && opts.keyUsed != "" {
			// the key file this init made wraps a master key nothing uses
			be.Delete(ctx, keyring.Prefix+opts.keyUsed)
		}
		return fmt.Errorf("%w: %s: another process created a repository there at the same time (repository %s); this one was not kept",
			errLostInit, be.Location(), got.ID)
	}
	return nil
}

// checkNoLeftovers refuses to make a repository where packs or keys lie
// without a config.json: a repository whose config was lost (or removed
// to make silo write plain data beside sealed packs), which a new one
// over them would strand, or another init under way.
func checkNoLeftovers(ctx context.Context, be object.Backend) error {
	for _, prefix := range []string{"packs/", keyring.Prefix} {
		var found string
		err := be.List(ctx, prefix, func(fi object.FileInfo) error {
			found = fi.Name
			return errStopList
		})
		if err != nil && !errors.Is(err, errStopList) && !errors.Is(err, object.ErrNotFound) {
			return fmt.Errorf("init %s: %w", be.Location(), err)
		}
		if found != "" && prefix == keyring.Prefix {
			// no packs: nothing was ever stored with these keys
			return fmt.Errorf("%w: %s holds %s but no packs and no config.json: another silo init is making a repository there right now, or one was interrupted before it wrote config.json (then, once no init is running there, remove %s and run init again: nothing was stored with that key), or config.json was lost before anything was stored",
				ErrExists, be.Location(), found, keyring.Prefix)
		}
		if found != "" {
			return fmt.Errorf("%w: %s holds %s but no config.json: it is a repository whose config.json is lost (restore config.json from a backup of the repository, or use another location), or another silo init is making one there right now",
				ErrExists, be.Location(), found)
		}
	}
	return nil
}

// errLostInit means another init wrote config.json first.
var errLostInit = fmt.Errorf("%w", ErrExists)

var errStopList = errors.New("stop listing")

// Open opens the repository at the configured base path.
func Open(ctx context.Context, opts Options) (*Store, error) {
	defaults(&opts)
	cfg := opts.Config
	be, rc, err := loadRepository(ctx, &opts)
	if err != nil {
		return nil, err
	}
	keys, err := openEncryption(ctx, be, &rc, opts)
	if err != nil {
		return nil, err
	}
	pol, err := chunk.ParsePolynomial(rc.ChunkerPolynomial)
	if err != nil {
		return nil, fmt.Errorf("%s/config.json: %w: chunker_polynomial: %v (the file is damaged; restore it from a backup of the repository)", be.Location(), object.ErrCorrupt, err)
	}
	s := &Store{cfg: cfg, now: opts.Now, log: opts.Logger, be: be, rc: rc, pol: pol, ro: opts.ReadOnly, cmd: opts.Command, keys: keys}
	if opts.Destination {
		s.dest = 2
	} else {
		// a backup destination is not where the user's hooks run
		s.hooks = hooks.New(cfg.Hooks, opts.Logger)
	}
	tmpBase, err := s.makeBase()
	if err != nil {
		return nil, err
	}
	s.leases = gc.NewLeases(object.SealedFiles(be, s.sealer()), gc.LeasesOptions{Now: opts.Now, TTL: opts.LeaseTTL, Logger: opts.Logger, Machine: opts.Machine})
	fresh, err := s.openIndex(opts, tmpBase)
	if err != nil {
		return nil, err
	}
	if opts.Rebuild {
		return s, nil
	}
	if err := s.catchUp(ctx, fresh); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// loadRepository opens the backend and reads config.json, creating the
// repository when opts ask for it and there is none.
func loadRepository(ctx context.Context, opts *Options) (object.Backend, object.RepoConfig, error) {
	cfg := opts.Config
	be := opts.Backend
	if be == nil {
		var err error
		if be, err = backend.Open(ctx, cfg.BasePath, cfg, opts.Logger); err != nil {
			return nil, object.RepoConfig{}, err
		}
	}
	rc, err := object.LoadRepoConfig(ctx, be)
	if errors.Is(err, object.ErrNoRepository) && opts.Create && !opts.ReadOnly {
		key := opts.Key
		if err := initRepo(ctx, be, cfg.PackSize, opts.Polynomial, opts); errors.Is(err, errLostInit) {
			// another process created it meanwhile: open that one
			opts.Key, opts.keyUsed = key, ""
		} else if err != nil {
			return nil, rc, err
		}
		rc, err = object.LoadRepoConfig(ctx, be)
	}
	if errors.Is(err, object.ErrNoRepository) {
		return nil, rc, fmt.Errorf("%w at %s: create one with `silo init` (or `silo --repo PATH init`)", ErrNoRepository, be.Location())
	}
	return be, rc, err
}

// makeBase makes the directory of index.db, logs and cache (the
// repository's own for a plain local one, else this machine's cache
// directory) and returns where packs being written go.
func (s *Store) makeBase() (tmpBase string, err error) {
	s.base = baseDir(s.cfg, s.be, s.rc)
	if l, ok := s.be.(object.Rooted); ok && s.base != l.Root() {
		// an encrypted local repository: packs being written (sealed)
		// stay beside the packs, which they become by a rename
		tmpBase = l.Root()
	}
	if _, local := s.be.(object.Rooted); !local || s.keys != nil {
		perm := os.FileMode(0o755)
		if s.keys != nil {
			perm = 0o700
		}
		if err := os.MkdirAll(s.base, perm); err != nil {
			return "", fmt.Errorf("cache directory: %w", err)
		}
		if s.keys != nil {
			os.Chmod(s.base, perm) // made by an older silo, or by hand
		}
	}
	if tmpBase == "" {
		tmpBase = s.base
	}
	return tmpBase, nil
}

// openIndex opens index.db (fresh: it did not exist), this process's
// temporary directory under tmpBase, and the object repository over them.
func (s *Store) openIndex(opts Options, tmpBase string) (fresh bool, err error) {
	dbPath := filepath.Join(s.base, "index.db")
	removeStaleRebuilds(dbPath)
	_, statErr := os.Stat(dbPath)
	fresh = errors.Is(statErr, os.ErrNotExist)
	db, err := index.Open(dbPath, index.Options{ReadOnly: !writableDir(s.base), Timeout: opts.LockTimeout, Recover: opts.Rebuild})
	if err != nil {
		return fresh, err
	}
	s.db = db
	if !opts.ReadOnly {
		s.tmp, err = processTemp(filepath.Join(tmpBase, "tmp"))
		if err != nil {
			db.Close()
			return fresh, err
		}
		// a Put interrupted by a crash leaves a temporary file beside its
		// name; an hour on, it is no one's Put in progress
		if c, ok := s.be.(object.TemporaryRemover); ok {
			c.RemoveTemporary(time.Hour)
		}
	}
	ropts := object.RepositoryOptions{Backend: s.be, Index: db, TempDir: s.tmp,
		PackSize: s.rc.PackSize, Level: s.cfg.CompressionLevel, Logger: opts.Logger, Condemned: s.isCondemned, Sealer: s.sealer()}
	ropts.PackCache = s.repoCache()
	// on S3 and Azure, reads fetch 2 MiB windows of a pack and keep the
	// last 32 MiB of them: a restore's neighbouring small files share GETs
	ropts.ReadAhead, ropts.ReadAheadCache = 2<<20, 32<<20
	s.repo, err = object.NewRepository(ropts)
	if err != nil {
		db.Close()
	}
	return fresh, err
}

// catchUp brings the index up to date with the packs: a new index (or one
// whose first build was cut short) is built from them, and a cache of
// another place's packs (remote, or an encrypted repository's) refreshed.
func (s *Store) catchUp(ctx context.Context, fresh bool) error {
	complete, err := s.indexComplete()
	if err != nil {
		return err
	}
	switch {
	case fresh || !complete:
		// every other process that finds it incomplete does the same,
		// which is safe (indexing a pack twice is a no-op)
		if _, err := s.refresh(ctx, true); err != nil {
			return fmt.Errorf("build index from packs: %w", err)
		}
	case !isLocal(s.be) || s.keys != nil:
		// another machine may have written to the bucket
		if _, err := s.refresh(ctx, false); err != nil {
			return fmt.Errorf("refresh index cache from %s: %w", s.be.Location(), err)
		}
	}
	return nil
}

// baseDir is where a repository's index, logs, archives and caches live:
// in a plain local repository itself; for a remote one in
// cache_dir/<id>; for an encrypted local one in cache_dir/<id>-<hash of
// its path> (they hold its catalogue and tables in the clear, so not on
// the drive the encryption protects; and keyed by place too, since a
// copy of the directory has the same id and packs of its own).
func baseDir(cfg *config.Config, be object.Backend, rc object.RepoConfig) string {
	l, local := be.(object.Rooted)
	switch {
	case local && rc.Encryption == nil:
		return l.Root()
	case local:
		root, err := filepath.Abs(l.Root())
		if err != nil {
			root = l.Root()
		}
		h := sha256.Sum256([]byte(root))
		return filepath.Join(cfg.CacheDir, rc.ID+"-"+hex.EncodeToString(h[:6]))
	}
	return filepath.Join(cfg.CacheDir, rc.ID)
}

// sealer is the repository's sealer (nil: a plain repository).
func (s *Store) sealer() *object.Sealer {
	if s.keys == nil {
		return nil
	}
	return s.keys.Sealer()
}

// repoCache is the local pack cache of a remote repository ("" for a local one).
func (s *Store) repoCache() string {
	if isLocal(s.be) {
		return ""
	}
	return filepath.Join(s.base, "packs")
}

func (s *Store) isCondemned(id object.ID) bool {
	s.condMu.Lock()
	defer s.condMu.Unlock()
	return s.condemned[id]
}

// removeStaleRebuilds removes what index rebuilds of processes that are
// gone left beside index.db (a rebuild builds index.db.rebuild-<pid>).
func removeStaleRebuilds(dbPath string) {
	names, _ := filepath.Glob(dbPath + ".rebuild-*")
	for _, n := range names {
		pid := strings.TrimPrefix(n, dbPath+".rebuild-")
		pid, _, _ = strings.Cut(pid, ".")
		if p, err := strconv.Atoi(pid); err == nil && !gc.ProcessAlive(p) {
			os.Remove(n)
		}
	}
}

// writableDir reports whether files can be created in dir (false on a
// read-only filesystem).
func writableDir(dir string) bool {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return !errors.Is(err, syscall.EROFS) && !errors.Is(err, os.ErrPermission)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return true
}

// processTemp makes this process's directory under tmp/ for packs being
// written, and removes the directories of processes that are gone (their
// leftovers are garbage).
func processTemp(tmp string) (string, error) {
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", fmt.Errorf("temp directory: %w", err)
	}
	ents, _ := os.ReadDir(tmp)
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			continue
		}
		age := time.Since(fi.ModTime())
		pid, _, _ := strings.Cut(e.Name(), "-")
		n, err := strconv.Atoi(pid)
		switch {
		case err != nil:
			// not a process's directory: a leftover of an older silo
			if age > time.Hour {
				os.RemoveAll(filepath.Join(tmp, e.Name()))
			}
		case !gc.ProcessAlive(n), age > 7*24*time.Hour: // gone, or a recycled pid's
			os.RemoveAll(filepath.Join(tmp, e.Name()))
		}
	}
	dir, err := os.MkdirTemp(tmp, fmt.Sprintf("%d-*", os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("temp directory: %w", err)
	}
	return dir, nil
}

// sharedIndex reports whether index.db lives in the repository (a plain
// local one), shared by every process that opens it.
func (s *Store) sharedIndex() bool { return isLocal(s.be) && s.keys == nil }

func isLocal(be object.Backend) bool {
	_, ok := be.(object.Rooted)
	return ok
}

// Close releases the repository.
func (s *Store) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	// webhooks still queued get a few seconds
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	s.hooks.Close(ctx)
	cancel()
	s.repo.Close()
	if s.tmp != "" {
		os.RemoveAll(s.tmp)
	}
	return s.db.Close()
}

// HookStats counts webhook deliveries, failures and drops, and failed
// on_* commands.
type HookStats = hooks.Stats

// HookStats returns the counts of storage.hooks' runner (zero when none
// is set).
func (s *Store) HookStats() HookStats { return s.hooks.Stats() }

// event is a hook event of this repository.
func (s *Store) event(name, projectID, projectName, snapshotID, path string) hooks.Event {
	return hooks.Event{Name: name, Time: s.now().UTC(), Repository: s.Location(), ProjectID: projectID,
		ProjectName: projectName, SnapshotID: snapshotID, Path: path}
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

// RepositoryEntries describes the repository at base_path as its
// config.json says (no password needed): its id and whether it is
// encrypted. Nothing when there is none.
func RepositoryEntries(ctx context.Context, cfg *config.Config) []config.Entry {
	be, err := OpenBackend(ctx, cfg.BasePath, cfg)
	if err != nil {
		return nil
	}
	rc, err := object.LoadRepoConfig(ctx, be)
	if err != nil {
		return nil
	}
	enc := "none"
	if rc.Encryption != nil {
		enc = fmt.Sprintf("%s, %s ids, %s key files", rc.Encryption.AEAD, rc.Encryption.IDs, rc.Encryption.KDF)
	}
	src := be.Location() + "/" + object.ConfigName
	return []config.Entry{{Key: "repository.id", Value: rc.ID, Source: src}, {Key: "repository.encryption", Value: enc, Source: src}}
}
