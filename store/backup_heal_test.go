package store

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
)

// fullDrive is a local backup drive that fills up: once it has taken room
// more pack files, every Put and PutFile fails with ENOSPC (a PutFile
// consumes its file either way, as object.Local's does) until free is
// called. It keeps the local backend's abilities (PutFile, Root), so a
// backup to it stages packs and commits them, as to a real drive.
type fullDrive struct {
	*object.Local
	mu      sync.Mutex
	room    int // pack files it still takes; < 0: any number
	refused int
}

func newFullDrive(dir string, room int) *fullDrive {
	return &fullDrive{Local: object.NewLocal(dir), room: room}
}

func (d *fullDrive) take(name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.room == 0 {
		d.refused++
		return &os.PathError{Op: "write", Path: filepath.Join(d.Root(), name), Err: syscall.ENOSPC}
	}
	if d.room > 0 && strings.HasPrefix(name, "packs/") {
		d.room--
	}
	return nil
}

func (d *fullDrive) free() {
	d.mu.Lock()
	d.room = -1
	d.mu.Unlock()
}

func (d *fullDrive) refusals() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refused
}

func (d *fullDrive) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := d.take(name); err != nil {
		io.CopyN(io.Discard, r, size/2) // a write that gets part of the way
		return err
	}
	return d.Local.Put(ctx, name, r, size)
}

func (d *fullDrive) PutFile(ctx context.Context, name, path string) error {
	if err := d.take(name); err != nil {
		os.Remove(path)
		return err
	}
	return d.Local.PutFile(ctx, name, path)
}

// absentPacks returns the packs s's index lists whose files s's backend
// lacks: what a destination claims but cannot deliver.
func absentPacks(t testing.TB, s *Store) []object.ID {
	t.Helper()
	ctx := context.Background()
	var packs []object.ID
	if err := s.db.View(func(tx *index.Tx) error {
		return tx.Packs(func(p object.PackInfo) error { packs = append(packs, p.ID); return nil })
	}); err != nil {
		t.Fatal(err)
	}
	var out []object.ID
	for _, id := range packs {
		if _, err := s.be.Stat(ctx, object.PackName(id)); errors.Is(err, object.ErrNotFound) {
			out = append(out, id)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// restoresEveryProject restores each project of a backup into a directory
// and compares it with the newest version the world stored.
func (w *backupWorld) restoresEveryProject(t *testing.T, bs *BackupSet, br *BackupRecord, names ...string) {
	t.Helper()
	out := t.TempDir()
	if _, err := bs.Restore(context.Background(), br.ID, RestoreBackupOptions{Dest: out, Projects: names}); err != nil {
		t.Fatalf("restore from backup %s: %v", br.ID, err)
	}
	for _, name := range names {
		newest := w.projects[name].Versions[0].ID
		if d := w.versions[newest].Diff(takeManifest(t, filepath.Join(out, name))); len(d) > 0 {
			t.Errorf("%s restored from backup %s differs:\n  %s", name, br.ID, strings.Join(d, "\n  "))
		}
	}
}

// The drive fills up during a first backup: the backup fails with ENOSPC
// and the destination's index claims no pack it lacks. Space is freed: the
// next backup copies what is missing, verifies and restores; the one after
// copies nothing and verifies too.
func TestBackupFullDriveHeals(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	_, npacks := packBytes(t, w.s)
	if npacks < 4 {
		t.Fatalf("the primary has %d packs; the test needs a few", npacks)
	}
	dest := w.path("drive")
	drive := newFullDrive(dest, 2)
	_, err := w.s.Backup(ctx, BackupOptions{To: dest, Backend: drive})
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), dest) {
		t.Fatalf("backup to a full drive: %v; want ENOSPC naming %s", err, dest)
	}
	if drive.refusals() == 0 {
		t.Fatal("the drive never filled up")
	}
	bs := openBackups(t, w.s, dest)
	if gone := absentPacks(t, bs.dst); len(gone) > 0 {
		t.Errorf("after the failed backup the destination's index lists %d packs its packs/ lacks: %v", len(gone), gone)
	}
	if list, _ := bs.List(ctx); len(list) != 0 {
		t.Errorf("records after a failed backup: %v", list)
	}
	bs.Close()

	// space is freed (the same drive, now with room)
	drive.free()
	br, err := w.s.Backup(ctx, BackupOptions{To: dest, Backend: drive})
	if err != nil {
		t.Fatalf("backup once space is free: %v", err)
	}
	if br.BytesCopied == 0 {
		t.Errorf("the backup after the failed one copied nothing")
	}
	bs = openBackups(t, w.s, dest)
	verifyBackup(t, bs, br.ID)
	if gone := absentPacks(t, bs.dst); len(gone) > 0 {
		t.Errorf("the destination's index lists %d packs it lacks: %v", len(gone), gone)
	}
	w.restoresEveryProject(t, bs, br, "api", "web", "tools")
	checkClean(t, bs.dst)
	bs.Close()

	w.clock.Advance(time.Hour)
	again := w.backup(t, BackupOptions{To: dest})
	if again.BytesCopied != 0 {
		t.Errorf("a backup of an unchanged repository copied %d bytes", again.BytesCopied)
	}
	bs = openBackups(t, w.s, dest)
	verifyBackup(t, bs, again.ID)
}

// singleUserPack returns the data pack with the greatest id among those
// whose blobs only project's versions use.
func (w *backupWorld) singleUserPack(t *testing.T, project string) object.ID {
	t.Helper()
	locs := indexedBlobs(t, w.s)
	users := map[object.ID]map[string]bool{}
	for _, name := range []string{"api", "web", "tools"} {
		for id := range reachable(t, w.s, versionIDs(t, w.s, name)) {
			l := locs[id]
			if l.Type != object.DataBlob {
				continue
			}
			if users[l.Pack] == nil {
				users[l.Pack] = map[string]bool{}
			}
			users[l.Pack][name] = true
		}
	}
	var best object.ID
	for pack, u := range users {
		if len(u) == 1 && u[project] && strings.Compare(pack.String(), best.String()) > 0 {
			best = pack
		}
	}
	if best.IsZero() {
		t.Fatalf("no data pack only %s uses", project)
	}
	return best
}

// A corrupt pack in the primary fails a full backup (exit 3) and leaves
// the destination claiming nothing it lacks; a backup of a project that
// does not need that pack then succeeds, verifies and restores.
func TestBackupCorruptSourcePackThenProject(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	victim := w.singleUserPack(t, "tools")
	path := filepath.Join(w.cfg.BasePath, filepath.FromSlash(object.PackName(victim)))
	flipThird(t, path) // inside a blob: the table still reads
	dest := w.cfg.Backup.Destination
	_, err := w.s.Backup(ctx, BackupOptions{})
	if !errors.Is(err, object.ErrCorrupt) || !strings.Contains(err.Error(), victim.String()) {
		t.Fatalf("full backup with a corrupt primary pack: %v; want ErrCorrupt naming %s", err, victim)
	}
	bs := openBackups(t, w.s, dest)
	if gone := absentPacks(t, bs.dst); len(gone) > 0 {
		t.Errorf("after the failed backup the destination's index lists %d packs its packs/ lacks", len(gone))
	}
	bs.Close()

	w.clock.Advance(time.Hour)
	br, err := w.s.Backup(ctx, BackupOptions{Projects: []string{"api"}})
	if err != nil {
		t.Fatalf("backup --project api: %v", err)
	}
	bs = openBackups(t, w.s, dest)
	verifyBackup(t, bs, br.ID)
	w.restoresEveryProject(t, bs, br, "api")
	bs.Close()
	// the full backup still refuses the corrupt pack
	if _, err := w.s.Backup(ctx, BackupOptions{}); !errors.Is(err, object.ErrCorrupt) {
		t.Errorf("full backup again: %v, want ErrCorrupt", err)
	}
}

// A destination whose index lists a pack its packs/ lacks (as an earlier
// silo left one after a failed backup) is healed by the next backup: the
// pack is copied again and the backup verifies.
func TestBackupHealsLyingDestination(t *testing.T) {
	w := newBackupWorld(t)
	first := w.backup(t, BackupOptions{})
	dest := w.cfg.Backup.Destination
	victim := w.singleUserPack(t, "web") // copied whole: the same name in the destination
	path := filepath.Join(dest, filepath.FromSlash(object.PackName(victim)))
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the destination has no copy of pack %s: %v", victim.Short(), err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Hour)
	br := w.backup(t, BackupOptions{})
	if br.BytesCopied < info.Size() {
		t.Errorf("backup over a destination lacking pack %s (%d bytes) copied %d bytes", victim.Short(), info.Size(), br.BytesCopied)
	}
	bs := openBackups(t, w.s, dest)
	verifyBackup(t, bs, br.ID)
	verifyBackup(t, bs, first.ID) // the pack is back for the older record too
	w.restoresEveryProject(t, bs, br, "web")
	checkClean(t, bs.dst)
}

// vanishingDrive is a local drive that loses a pack file (victim) when the
// first new pack is written to it: a pack the backup relied on when it
// planned the copy is gone before it writes its record.
type vanishingDrive struct {
	*object.Local
	victim string
	once   sync.Once
}

func (d *vanishingDrive) lose(name string) {
	if strings.HasPrefix(name, "packs/") {
		d.once.Do(func() { os.Remove(filepath.Join(d.Root(), filepath.FromSlash(d.victim))) })
	}
}

func (d *vanishingDrive) PutFile(ctx context.Context, name, path string) error {
	d.lose(name)
	return d.Local.PutFile(ctx, name, path)
}

// A pack the destination loses during a backup (after the backup planned
// the copy) is noticed before the record is written: the backup copies it
// again, and its record verifies.
func TestBackupConfirmsPacksBeforeRecord(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	dest := w.cfg.Backup.Destination
	w.backup(t, BackupOptions{})
	victim := w.singleUserPack(t, "api")
	// a change to back up
	dir := w.path("src", "web")
	writeFile(t, dir, "incr.bin", testutil.RandomBytes(78, 300<<10))
	w.clock.Advance(time.Hour)
	w.save(t, dir, "web")
	drive := &vanishingDrive{Local: object.NewLocal(dest), victim: object.PackName(victim)}
	br, err := w.s.Backup(ctx, BackupOptions{Backend: drive})
	if _, serr := os.Stat(filepath.Join(dest, filepath.FromSlash(object.PackName(victim)))); err == nil && serr != nil {
		t.Errorf("backup succeeded, and pack %s it needs is not in the destination: %v", victim.Short(), serr)
	}
	if err != nil {
		// failing is allowed too, as long as nothing claims the pack
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("backup while the destination lost a pack: %v", err)
		}
		bs := openBackups(t, w.s, dest)
		if gone := absentPacks(t, bs.dst); len(gone) > 0 {
			t.Errorf("the destination's index lists %d packs it lacks", len(gone))
		}
		return
	}
	bs := openBackups(t, w.s, dest)
	verifyBackup(t, bs, br.ID)
	w.restoresEveryProject(t, bs, br, "api")
}
