package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/silo-dev/silo/backend"
	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/keyring"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/replica"
	"github.com/silo-dev/silo/session"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store/config"
)

// ErrBackupNotFound means no backup record has that id.
var ErrBackupNotFound = replica.ErrNotFound

// A backup record and a project as it holds it (see package replica).
type (
	BackupRecord  = replica.Record
	BackupProject = replica.Project
)

// ListBackups reads every backup record at a plain destination, oldest
// first.
func ListBackups(ctx context.Context, be object.Backend) ([]BackupRecord, error) {
	return replica.List(ctx, be, nil)
}

// FindBackup reads one record of a plain destination by id or unique id
// prefix; "latest" is the newest backup of every project.
func FindBackup(ctx context.Context, be object.Backend, id string) (*BackupRecord, error) {
	return replica.Find(ctx, be, nil, id)
}

// BackupOptions configure Backup.
type BackupOptions struct {
	Projects []string // ids or names; empty: every project and template
	To       string   // destination; "": backup.destination from the config
	// Backend, when set, is the destination's backend (fault injection in tests).
	Backend  object.Backend
	Progress snapshot.Progress
	// NewDestination starts a new backup repository at a local destination
	// this repository backed up to before and that holds none now (the
	// old backup was removed on purpose); without it such a destination is
	// refused, as the mount point of a drive that is not mounted.
	NewDestination bool

	// deviceOf, when set, replaces the device lookup (tests cannot mount
	// filesystems).
	deviceOf func(path string) string
	// beforeRecord, when set, runs after the copy and before the record
	// is written (tests: a removal at the destination meanwhile).
	beforeRecord func()
}

// OpenDestination opens (creating when asked) the silo repository at a
// backup location, with its own index (for s3://, in the cache directory).
//
// A destination of an encrypted source is encrypted with the source's
// master key (its blobs are copied sealed, and their ids are keyed), and
// is created with copies of the source's key files, so the source's
// passwords open it; a plain source's destination is plain. Either kind
// refuses the other.
func OpenDestination(ctx context.Context, cfg *config.Config, location string, be object.Backend, create bool, src *Store, log ownerLog) (*Store, error) {
	c := *cfg
	c.BasePath = location
	if !cfg.Backup.Compression {
		c.CompressionLevel = object.NoCompression
	}
	if be == nil && !IsRemote(location) {
		abs, err := filepath.Abs(location)
		if err != nil {
			return nil, err
		}
		parent := filepath.Dir(abs)
		if _, err := os.Stat(parent); err != nil {
			return nil, fmt.Errorf("backup destination %s: %w (is the drive mounted?)", location, err)
		}
		if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) && !create {
			return nil, fmt.Errorf("backup destination %s: %w: nothing there", location, ErrNoRepository)
		}
	}
	if src.keys == nil {
		// a plain source meets an encrypted destination before a password
		// is asked for: none would help
		if be == nil {
			var err error
			if be, err = backend.Open(ctx, location, &c, log.log); err != nil {
				return nil, err
			}
		}
		if rc, err := object.LoadRepoConfig(ctx, be); err == nil && rc.Encryption != nil {
			return nil, fmt.Errorf("%w: backup destination %s is encrypted and %s is plain: a backup copies blobs as they are, so both must be plain or both encrypted with one key (back up to a new destination)",
				ErrInvalid, location, src.Location())
		}
	}
	o := Options{Config: &c, Backend: be, Create: create, Polynomial: src.rc.ChunkerPolynomial, Logger: log.log, Command: log.owner, Destination: true}
	if err := src.shareKey(ctx, &o); err != nil {
		return nil, err
	}
	d, err := Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("backup destination %s: %w", location, err)
	}
	if d.Encrypted() != src.Encrypted() {
		d.Close()
		return nil, fmt.Errorf("%w: backup destination %s is %s and %s is %s: a backup copies blobs as they are, so both must be plain or both encrypted with one key (back up to a new destination)",
			ErrInvalid, location, encryptedWord(d.Encrypted()), src.Location(), encryptedWord(src.Encrypted()))
	}
	return d, nil
}

func encryptedWord(enc bool) string {
	if enc {
		return "encrypted"
	}
	return "plain"
}

// shareKey makes o open (or create) a repository with s's master key: a
// backup destination of s, or a primary restored from s's backup. A
// repository it creates gets copies of s's key files.
func (s *Store) shareKey(ctx context.Context, o *Options) error {
	if s.keys == nil {
		return nil
	}
	files, err := keyring.LoadFiles(ctx, s.be)
	if err != nil {
		return err
	}
	o.Encrypt, o.Key, o.KeyFiles = true, s.keys.Master(), files
	return nil
}

// ownerLog carries a logger and lock owner for a second store.
type ownerLog struct {
	log   *slog.Logger
	owner string
}

func (s *Store) destinationOf(to string) (string, error) {
	if to == "" {
		to = s.cfg.Backup.Destination
	}
	if to == "" {
		return "", fmt.Errorf("%w: no backup destination (give --to or set storage.backup.destination)", ErrInvalid)
	}
	return to, nil
}

// replicaSource is s, read within the session se, as a copy reads it.
func (s *Store) replicaSource(se *session.Session) *replica.Source {
	return &replica.Source{Repo: s.repo, Backend: s.be, Index: s.db,
		Condemned: func(id object.ID) bool { return se.Condemned()[id] },
		Refresh: func(ctx context.Context) error {
			_, err := s.refresh(ctx, false)
			return err
		},
		Version: s.versionOf}
}

// replicaDestination is s, written within the session se, as a copy
// writes it.
func (s *Store) replicaDestination(se *session.Session) *replica.Destination {
	return &replica.Destination{Repo: s.repo, Backend: s.be, Index: s.db, NewWriter: se.Writer,
		Condemned: func(id object.ID) bool { return se.Condemned()[id] },
		TempDir:   s.tmp, DropGone: s.dropGone, Log: s.log}
}

// Backup copies the chosen projects' versions (and, for a full backup, the
// templates) into the destination repository, copying only what it lacks,
// then writes the backup record last.
func (s *Store) Backup(ctx context.Context, opts BackupOptions) (*BackupRecord, error) {
	t0 := time.Now()
	to, err := s.destinationOf(opts.To)
	if err != nil {
		return nil, err
	}
	rec, err := s.backup(ctx, to, opts)
	fields := map[string]any{"operation": "backup", "destination": to, "duration_s": time.Since(t0).Seconds(), "outcome": outcome(err)}
	if rec != nil {
		fields["backup_id"], fields["bytes"] = rec.ID, rec.BytesCopied
	}
	s.logOp("backup.log", fields)
	if err == nil {
		ev := s.event("on_backup", "", "", "", to)
		if len(opts.Projects) == 1 && len(rec.Projects) == 1 {
			ev.ProjectID, ev.ProjectName = rec.Projects[0].ID, rec.Projects[0].Name
		}
		ev.Details = map[string]any{"backup_id": rec.ID, "projects": len(rec.Projects), "bytes_copied": rec.BytesCopied}
		s.hooks.On(ctx, ev)
	}
	return rec, err
}

func (s *Store) backup(ctx context.Context, to string, opts BackupOptions) (*BackupRecord, error) {
	t0 := time.Now()
	// the read session first, then the versions: a gc plan made after the
	// choice waits for the session, and one made before it is carried out
	// meanwhile only on versions the choice no longer lists
	se, err := s.begin(ctx, gc.KindRead)
	if err != nil {
		return nil, err
	}
	defer se.End()
	plan, err := replica.Choose(s.db, opts.Projects)
	if err != nil {
		return nil, err
	}
	if len(opts.Projects) == 0 {
		if plan.Templates, err = s.Templates(); err != nil {
			return nil, err
		}
	}
	if err := s.checkDestination(ctx, to, opts); err != nil {
		return nil, err
	}
	dst, err := OpenDestination(ctx, s.cfg, to, opts.Backend, true, s, ownerLog{s.log, "silo backup"})
	if err != nil {
		return nil, err
	}
	defer dst.Close()
	s.rememberDestination(to, dst.rc.ID, opts)
	dse, err := dst.begin(ctx, gc.KindStore)
	if err != nil {
		return nil, err
	}
	defer dse.End()
	if err := prepareDestination(ctx, s, dst); err != nil {
		return nil, err
	}
	br, err := replica.Back(ctx, s.replicaSource(se), dst.replicaDestination(dse), replica.Run{Plan: plan, Now: s.now,
		SourceID: s.rc.ID, Uncompressed: !s.cfg.Backup.Compression, Progress: opts.Progress, Renew: dse.RenewLapsed,
		BeforeRecord: opts.beforeRecord})
	if err != nil {
		return nil, err
	}
	br.Seconds = time.Since(t0).Seconds()
	if err := replica.Write(ctx, dst.be, dst.sealer(), br); err != nil {
		return nil, err
	}
	return br, nil
}

// prepareDestination marks dst as a backup destination of src (see
// replica.Mark) and, when it is local, brings its index up to date with
// its packs before a backup trusts it: packs it lists that a failed copy
// never put in place are dropped, and copied again. A remote one was
// refreshed when it was opened.
func prepareDestination(ctx context.Context, src, dst *Store) error {
	if err := replica.Mark(ctx, dst.be, dst.db, dst.rc.ID, src.rc.ID); err != nil {
		return err
	}
	if !isLocal(dst.be) {
		return nil
	}
	rep, err := dst.refresh(ctx, false)
	if err != nil {
		return fmt.Errorf("backup to %s: %w", dst.Location(), err)
	}
	if len(rep.Gone) > 0 {
		src.log.Warn("the backup destination's index listed packs it lacks; they are copied again",
			"destination", dst.Location(), "packs", len(rep.Gone))
	}
	return nil
}

// ErrDestinationChanged means a local backup destination this repository
// backed up to before no longer holds that backup (see replica).
var ErrDestinationChanged = replica.ErrDestinationChanged

func (opts *BackupOptions) device(path string) string {
	if opts.deviceOf != nil {
		return opts.deviceOf(path)
	}
	return replica.DeviceOf(path)
}

// checkDestination refuses a local destination this repository backed up
// to before that now holds no repository, or on another device than then
// holds another repository (see replica.CheckDestination).
func (s *Store) checkDestination(ctx context.Context, to string, opts BackupOptions) error {
	if IsRemote(to) || opts.NewDestination {
		return nil
	}
	abs, err := filepath.Abs(to)
	if err != nil {
		return err
	}
	doc, err := replica.LoadDestinations(s.base)
	if err != nil {
		s.log.Warn("cannot read the backup destinations this repository knows", "err", err)
		return nil
	}
	return replica.CheckDestination(ctx, doc, to, abs, opts.device)
}

// rememberDestination records that a local destination holds repository
// id, on the device it is on now, under the catalogue lock; a failure
// costs only this protection, so it is logged, not returned.
func (s *Store) rememberDestination(to, id string, opts BackupOptions) {
	if IsRemote(to) {
		return
	}
	err := func() error {
		abs, err := filepath.Abs(to)
		if err != nil {
			return err
		}
		dev := opts.device(abs)
		unlock, err := s.lockCatalogue()
		if err != nil {
			return err
		}
		defer unlock()
		return replica.Remember(s.base, abs, id, dev, s.now().UTC())
	}()
	if err != nil {
		s.log.Warn("cannot remember the backup destination", "destination", to, "err", err)
	}
}

// BackupSet is an opened backup destination for list, show, verify, restore
// and expire: it works with no primary repository at all.
type BackupSet struct {
	dst *Store
	cfg *config.Config
}

// OpenBackups opens the destination at from (default backup.destination).
func OpenBackups(ctx context.Context, cfg *config.Config, from string, be object.Backend, readOnly bool) (*BackupSet, error) {
	return OpenBackupsWith(ctx, cfg, from, be, readOnly, nil)
}

// OpenBackupsWith is OpenBackups of a destination that may be encrypted:
// password supplies its password.
func OpenBackupsWith(ctx context.Context, cfg *config.Config, from string, be object.Backend, readOnly bool, password PasswordFunc) (*BackupSet, error) {
	return openBackupSet(ctx, cfg, from, be, Options{ReadOnly: readOnly, Password: password})
}

// OpenBackups opens the backups at dest (default backup.destination) of
// this repository: an encrypted one opens them with its own master key.
func (s *Store) OpenBackups(ctx context.Context, dest string, readOnly bool) (*BackupSet, error) {
	o := Options{ReadOnly: readOnly}
	if s.keys != nil {
		o.Key = s.keys.Master()
	}
	return openBackupSet(ctx, s.cfg, dest, nil, o)
}

// openBackupSet opens a destination with o's password or key.
func openBackupSet(ctx context.Context, cfg *config.Config, from string, be object.Backend, o Options) (*BackupSet, error) {
	if from == "" {
		from = cfg.Backup.Destination
	}
	if from == "" {
		return nil, fmt.Errorf("%w: no backup destination (give --from or set storage.backup.destination)", ErrInvalid)
	}
	c := *cfg
	c.BasePath = from
	if be == nil {
		var err error
		if be, err = OpenBackend(ctx, from, &c); err != nil {
			return nil, err
		}
	}
	if !IsRemote(from) {
		if _, err := os.Stat(from); errors.Is(err, fs.ErrNotExist) {
			// no backup there (yet), or the drive is not mounted: not found
			return nil, fmt.Errorf("backup destination %s: %w: %v (is the drive mounted?)", from, ErrNoRepository, err)
		} else if err != nil {
			return nil, fmt.Errorf("backup destination %s: %w (is the drive mounted?)", from, err)
		}
	}
	o.Config, o.Backend, o.Command, o.Destination = &c, be, "silo backup", true
	d, err := Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("backup destination %s: %w", from, err)
	}
	return &BackupSet{dst: d, cfg: cfg}, nil
}

// Close releases the destination.
func (b *BackupSet) Close() error { return b.dst.Close() }

// Location names the destination.
func (b *BackupSet) Location() string { return b.dst.Location() }

// List returns the records, oldest first.
func (b *BackupSet) List(ctx context.Context) ([]BackupRecord, error) {
	return replica.List(ctx, b.dst.be, b.dst.sealer())
}

// Show returns one record.
func (b *BackupSet) Show(ctx context.Context, id string) (*BackupRecord, error) {
	return replica.Find(ctx, b.dst.be, b.dst.sealer(), id)
}

// VerifyReport is what backup verify found.
type VerifyReport = replica.VerifyReport

// Verify checks that every blob the backup needs is in the destination and,
// with readData, that it hashes right. Problems name the projects affected.
func (b *BackupSet) Verify(ctx context.Context, id string, readData bool) (*VerifyReport, error) {
	br, err := b.Show(ctx, id)
	if err != nil {
		return nil, err
	}
	versions, err := br.LabelledVersions()
	if err != nil {
		return nil, err
	}
	// a read session: a collection planned from now on waits for this
	// verify before it deletes packs (one already under way may have
	// moved blobs: a blob whose first copy is gone is looked for again)
	se, err := b.dst.begin(ctx, gc.KindRead)
	if err != nil {
		return nil, err
	}
	defer se.End()
	res, err := replica.Verify(ctx, b.dst.repo, b.dst.be, versions, readData)
	if err != nil {
		return nil, err
	}
	return res.Report(br.ID)
}

// RestoreBackupOptions choose what a backup restore writes.
type RestoreBackupOptions struct {
	Projects []string // names or ids; empty: all
	// Dest, when set, receives each project's newest backed-up version in
	// Dest/<name>/; otherwise the projects (every version, with their
	// catalogue records) go back into the primary repository.
	Dest     string
	Primary  *config.Config // the primary repository's config, for a restore into it
	Progress snapshot.Progress
	// Logger receives the warnings of a restore into Dest (a symlink this
	// process may not create); nil: the destination store's logger.
	Logger *slog.Logger
}

// RestoreBackupResult reports a backup restore.
type RestoreBackupResult struct {
	Backup   string   `json:"backup"`
	Projects []string `json:"projects"`
	// ProjectIDs are the projects' ids, in the order of Projects (two
	// projects may share a name).
	ProjectIDs []string `json:"project_ids"`
	Paths      []string `json:"paths,omitempty"`
	Bytes      int64    `json:"bytes"`
	Into       string   `json:"into"`
	// SymlinksSkipped counts, for a restore into Dest, the symlinks left
	// out because this process may not create one (Windows without
	// Developer Mode or the privilege).
	SymlinksSkipped int64 `json:"symlinks_skipped,omitempty"`
}

// Restore restores projects of a backup into a directory or the primary
// repository (which is created when it is gone).
func (b *BackupSet) Restore(ctx context.Context, id string, opts RestoreBackupOptions) (*RestoreBackupResult, error) {
	t0 := time.Now()
	res, err := b.restore(ctx, id, opts)
	fields := map[string]any{"operation": "restore", "backup_id": id, "duration_s": time.Since(t0).Seconds(), "outcome": outcome(err)}
	if res != nil {
		fields["backup_id"], fields["bytes"] = res.Backup, res.Bytes
	}
	b.logTo(opts.Primary, fields)
	return res, err
}

// logTo appends to the primary's logs/backup.log when it is a local
// directory that exists, else to the destination's.
func (b *BackupSet) logTo(primary *config.Config, fields map[string]any) {
	if primary != nil && !IsRemote(primary.BasePath) {
		be := object.NewLocal(primary.BasePath)
		if rc, err := object.LoadRepoConfig(context.Background(), be); err == nil {
			// an encrypted primary's logs live in the cache directory
			tmp := &Store{base: baseDir(primary, be, rc), now: b.dst.now, log: b.dst.log}
			tmp.logOp("backup.log", fields)
			return
		}
	}
	b.dst.logOp("backup.log", fields)
}

func (b *BackupSet) restore(ctx context.Context, id string, opts RestoreBackupOptions) (*RestoreBackupResult, error) {
	br, err := b.Show(ctx, id)
	if err != nil {
		return nil, err
	}
	plan, err := replica.PlanRestore(br, opts.Projects)
	if err != nil {
		return nil, err
	}
	res := &RestoreBackupResult{Backup: br.ID, Projects: []string{}, ProjectIDs: []string{}}
	if opts.Dest != "" {
		return res, b.restoreInto(ctx, br, plan.Record.Projects, opts, res)
	}
	if opts.Primary == nil {
		return nil, fmt.Errorf("%w: no primary repository configured", ErrInvalid)
	}
	prim, err := b.openPrimary(ctx, opts.Primary)
	if err != nil {
		return nil, err
	}
	defer prim.Close()
	res.Into = prim.Location()
	return res, b.restorePrimary(ctx, prim, plan, opts, res)
}

// openPrimary opens the primary repository of cfg for a restore from the
// backups, creating it when it is gone, with the backups' master key.
func (b *BackupSet) openPrimary(ctx context.Context, cfg *config.Config) (*Store, error) {
	po := Options{Config: cfg, Create: true, Polynomial: b.dst.rc.ChunkerPolynomial, Logger: b.dst.log, Command: "silo backup restore"}
	if err := b.dst.shareKey(ctx, &po); err != nil {
		return nil, err
	}
	prim, err := Open(ctx, po)
	if err != nil {
		return nil, err
	}
	if prim.Encrypted() != b.dst.Encrypted() {
		prim.Close()
		return nil, fmt.Errorf("%w: the backup at %s is %s and the primary %s is %s: restore into the primary needs both plain or both with one key (restore with --dest instead)",
			ErrInvalid, b.dst.Location(), encryptedWord(b.dst.Encrypted()), cfg.BasePath, encryptedWord(prim.Encrypted()))
	}
	return prim, nil
}

// restorePrimary copies what plan restores from the backups into prim,
// then lists it in prim's catalogue.
func (b *BackupSet) restorePrimary(ctx context.Context, prim *Store, plan *replica.RestorePlan, opts RestoreBackupOptions, res *RestoreBackupResult) error {
	se, err := b.dst.begin(ctx, gc.KindRead)
	if err != nil {
		return err
	}
	defer se.End()
	pse, err := prim.begin(ctx, gc.KindStore)
	if err != nil {
		return err
	}
	defer pse.End()
	// blobs an uncompressed backup copied are raw, also where a later
	// backup holds them: the primary compresses them again
	all, err := b.List(ctx)
	if err != nil {
		return err
	}
	recode := slices.ContainsFunc(all, func(r BackupRecord) bool { return r.Uncompressed })
	rs, rd := b.dst.replicaSource(se), prim.replicaDestination(pse)
	st, err := replica.Replicate(ctx, rs, rd, plan.Versions, nil, recode, opts.Progress)
	if err != nil {
		return fmt.Errorf("restore from backup %s into %s: %w", plan.Record.ID, prim.Location(), err)
	}
	res.Bytes = st.Bytes
	if len(opts.Projects) == 0 {
		if _, err := replica.Replicate(ctx, rs, rd, plan.Templates, nil, recode, nil); err != nil {
			return err
		}
	}
	return b.listRestored(ctx, prim, se, pse, plan, res)
}

// listRestored lists the restored projects and templates in prim's
// catalogue. The projects' records go in as meta blobs too, so an index
// rebuild of the primary finds them.
func (b *BackupSet) listRestored(ctx context.Context, prim *Store, se, pse *session.Session, plan *replica.RestorePlan, res *RestoreBackupResult) error {
	unlock, err := prim.lockCatalogue()
	if err != nil {
		return err
	}
	defer unlock()
	projects := plan.Record.Projects
	names := map[string]string{} // the backup's projects' ids → names
	for _, p := range projects {
		names[p.ID] = p.Name
	}
	// before anything is written: a name another project of the primary
	// holds is refused (one the backup holds under that name too, when two
	// projects share a name, is not another)
	err = prim.db.View(func(tx *index.Tx) error {
		for _, p := range projects {
			if other := tx.ProjectIDByName(p.Name); other != "" && other != p.ID && names[other] != p.Name && p.Status != StatusDeleted {
				return fmt.Errorf("%w: the primary has another project named %q; rename it first", ErrExists, p.Name)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range projects {
		if r, err := catalog.DecodeRecord(p.Record); err == nil {
			if _, err := prim.writeMeta(ctx, catalog.Meta{Kind: "project", Time: prim.now().UTC(), Project: r}); err != nil {
				return err
			}
		}
		res.Projects = append(res.Projects, p.Name)
		res.ProjectIDs = append(res.ProjectIDs, p.ID)
	}
	return replica.CopyCatalogue(ctx, b.dst.replicaSource(se), prim.replicaDestination(pse), &plan.Record)
}

// restoreInto restores each project's newest backed-up version into
// opts.Dest/<name>/ (see replica.DirTargets).
func (b *BackupSet) restoreInto(ctx context.Context, br *BackupRecord, projects []BackupProject, opts RestoreBackupOptions, res *RestoreBackupResult) error {
	res.Into = opts.Dest
	targets, err := replica.DirTargets(br, projects, opts.Dest)
	if err != nil {
		return err
	}
	for _, t := range targets {
		st, err := b.dst.restoreVersion(ctx, t.Version, t.Path, RestoreOptions{Progress: opts.Progress, Logger: opts.Logger})
		if err != nil {
			return fmt.Errorf("restore %s from backup %s: %w", t.Name, br.ID, err)
		}
		res.Projects = append(res.Projects, t.Name)
		res.ProjectIDs = append(res.ProjectIDs, t.ProjectID)
		res.Paths = append(res.Paths, t.Path)
		res.Bytes += st.Bytes
		res.SymlinksSkipped += st.SymlinksSkipped
	}
	return nil
}

// ExpireResult reports backup expiry.
type ExpireResult struct {
	Expired []string  `json:"expired"`
	Kept    int       `json:"kept"`
	GC      *GCReport `json:"gc,omitempty"`
	DryRun  bool      `json:"dry_run"`
}

// Expire removes records older than retention_days, except the newest
// record and, for every project and template, the newest record holding it
// (see retain); then it garbage-collects the destination.
func (b *BackupSet) Expire(ctx context.Context, now time.Time, retentionDays int, dryRun bool) (*ExpireResult, error) {
	return b.logRemoval("expire", dryRun, func() (*ExpireResult, error) { return b.expire(ctx, now, retentionDays, dryRun) })
}

// logRemoval runs an expiry or a deletion and, unless it is a dry run,
// logs it to the destination's backup.log.
func (b *BackupSet) logRemoval(op string, dryRun bool, run func() (*ExpireResult, error)) (*ExpireResult, error) {
	t0 := time.Now()
	res, err := run()
	if !dryRun {
		fields := map[string]any{"operation": op, "duration_s": time.Since(t0).Seconds(), "outcome": outcome(err)}
		if res != nil {
			fields["backup_id"] = strings.Join(res.Expired, ",")
			if res.GC != nil && res.GC.Result != nil {
				fields["bytes"] = res.GC.Result.FreedBytes
			}
		}
		b.dst.logOp("backup.log", fields)
	}
	return res, err
}

func (b *BackupSet) expire(ctx context.Context, now time.Time, retentionDays int, dryRun bool) (*ExpireResult, error) {
	all, err := b.List(ctx)
	if err != nil {
		return nil, err
	}
	res := &ExpireResult{Expired: []string{}, DryRun: dryRun}
	cut := now.Add(-time.Duration(retentionDays) * 24 * time.Hour)
	keep, expired := replica.Retain(all, cut)
	for _, br := range expired {
		res.Expired = append(res.Expired, br.ID)
	}
	res.Kept = len(keep)
	if dryRun || len(res.Expired) == 0 {
		return res, nil
	}
	res.GC, err = b.remove(ctx, expired)
	return res, err
}

// Delete removes the backup records ids (ids or unique prefixes; "latest"
// is refused, as it names no single record) and garbage-collects what
// only they needed in the destination, like expiry.
func (b *BackupSet) Delete(ctx context.Context, ids []string, dryRun bool) (*ExpireResult, error) {
	return b.logRemoval("delete", dryRun, func() (*ExpireResult, error) { return b.delete(ctx, ids, dryRun) })
}

func (b *BackupSet) delete(ctx context.Context, ids []string, dryRun bool) (*ExpireResult, error) {
	gone, keep, err := replica.PlanDelete(ctx, b.dst.be, b.dst.sealer(), ids)
	if err != nil {
		return nil, err
	}
	res := &ExpireResult{Expired: []string{}, Kept: len(keep), DryRun: dryRun}
	for _, br := range gone {
		res.Expired = append(res.Expired, br.ID)
	}
	if dryRun {
		return res, nil
	}
	res.GC, err = b.remove(ctx, gone)
	return res, err
}

// remove deletes the records gone (see replica.Remove) and
// garbage-collects the destination, which keeps what the records left
// hold: the collection's mark reads them (backupHolds), and its refresh
// drops from the catalogue what none of them holds.
func (b *BackupSet) remove(ctx context.Context, gone []BackupRecord) (*GCReport, error) {
	if err := replica.Remove(ctx, b.dst.be, gone); err != nil {
		return nil, err
	}
	return b.dst.GC(ctx, GCOptions{})
}

// backupHolds returns the versions the backup records at s hold: in a
// backup destination they, not forget records, decide which versions
// there are (see replica.Held).
func (s *Store) backupHolds(ctx context.Context) (map[object.ID]bool, error) {
	return s.backupHoldsMode(ctx, true)
}

// backupHoldsLenient is backupHolds for listing (refresh, the catalogue):
// a record that cannot be read is skipped with a warning (`backup verify`
// names it), so one damaged record does not make the destination
// unopenable. gc uses the strict form and stops instead.
func (s *Store) backupHoldsLenient(ctx context.Context) (map[object.ID]bool, error) {
	return s.backupHoldsMode(ctx, false)
}

func (s *Store) backupHoldsMode(ctx context.Context, strict bool) (map[object.ID]bool, error) {
	return replica.Held(ctx, s.be, s.sealer(), func(name string, err error) error {
		if strict {
			return err
		}
		s.log.Warn("a backup record cannot be read; `silo backup verify` names it", "record", name, "err", err)
		return nil
	})
}

// isDestination reports whether s is a backup destination: opened as one,
// or carrying the marker or a backup record.
//
// With fresh, a "no" is checked again (gc's mark, where a repository that
// a first backup marked meanwhile must root its records); without, the
// first answer stands, so a primary's refreshes list backups/ once per
// process, not on every refresh.
func (s *Store) isDestination(ctx context.Context, fresh bool) (bool, error) {
	s.destMu.Lock()
	defer s.destMu.Unlock()
	if s.dest == 2 || (s.dest == 1 && !fresh) {
		return s.dest == 2, nil
	}
	marked, err := replica.IsDestination(ctx, s.be)
	if err != nil {
		return false, err
	}
	// a marker or record never goes away; a plain answer may change when a
	// first backup marks the repository (fresh asks again)
	s.dest = 1
	if marked {
		s.dest = 2
	}
	return s.dest == 2, nil
}

// syncDestination makes a destination's catalogue list the versions its
// records hold, no others (see replica.SyncCatalogue).
func (s *Store) syncDestination(ctx context.Context) error {
	held, err := s.backupHoldsLenient(ctx)
	if err != nil {
		return err
	}
	return replica.SyncCatalogue(ctx, s.db, held, s.versionOf, func(id object.ID, err error) {
		// missing or damaged: `silo backup verify` names the record
		if !errors.Is(err, ErrSnapshotNotFound) {
			s.log.Warn("a version a backup record holds cannot be read", "version", id.String(), "err", err)
		}
	})
}

// ErrNotADestination means a backup was pointed at a repository that is
// not a backup destination: it holds versions of its own, or is the
// source (see replica.Mark).
var ErrNotADestination = replica.ErrNotADestination

// expireBackupsForCleanup expires backups past retention_days at the
// configured destination when one exists; it returns how many went.
func (s *Store) expireBackupsForCleanup(ctx context.Context, dryRun bool) (int, error) {
	dest := s.cfg.Backup.Destination
	if dest == "" {
		return 0, nil
	}
	if !IsRemote(dest) {
		if _, err := os.Stat(filepath.Join(dest, object.ConfigName)); err != nil {
			return 0, nil // no backups made yet
		}
	}
	bs, err := s.OpenBackups(ctx, dest, false)
	if err != nil {
		if errors.Is(err, ErrNoRepository) {
			return 0, nil
		}
		return 0, err
	}
	defer bs.Close()
	res, err := bs.Expire(ctx, s.now(), s.cfg.Backup.RetentionDays, dryRun)
	if err != nil {
		return 0, err
	}
	return len(res.Expired), nil
}

// ProjectVersion returns the newest version backup id ("latest" too)
// holds of project (a name or id), for WriteTar: a client restores it
// where it runs.
func (b *BackupSet) ProjectVersion(ctx context.Context, id, project string) (SnapshotInfo, error) {
	br, err := b.Show(ctx, id)
	if err != nil {
		return SnapshotInfo{}, err
	}
	ps, err := br.Pick([]string{project})
	if err != nil {
		return SnapshotInfo{}, err
	}
	p := ps[0]
	if len(p.Versions) == 0 {
		return SnapshotInfo{}, fmt.Errorf("%w: backup %s holds no version of %s", ErrSnapshotNotFound, br.ID, p.Name)
	}
	sid, err := object.ParseID(p.Versions[0].ID)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("%w: backup %s: version %q", object.ErrCorrupt, br.ID, p.Versions[0].ID)
	}
	sn, _, err := b.dst.versionOf(ctx, sid)
	if err != nil {
		return SnapshotInfo{}, err
	}
	return infoOf(sid, sn), nil
}

// WriteTar writes a version ProjectVersion returned as a tar stream.
func (b *BackupSet) WriteTar(ctx context.Context, info SnapshotInfo, w io.Writer) error {
	return b.dst.WriteTar(ctx, info, w)
}
