package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/replica"
	"github.com/silo-dev/silo/snapshot"
)

// destinationsFile reads the source's memory of its backup destinations.
func destinationsFile(t *testing.T, s *Store) map[string]replica.Known {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.base, replica.DestinationsFile))
	if err != nil {
		t.Fatalf("the source remembers no destinations: %v", err)
	}
	var f replica.Destinations
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Destinations
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// A destination backed up to before that is now an empty directory (the
// mount point of a drive that is not mounted), a missing one, or one whose
// config.json is gone, is refused with an error naming it, what was there
// and the hint; nothing is written there. --new-destination starts anew.
func TestBackupRefusesUnmountedDestination(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("p")
	smallProject(t, dir, 5, 64)
	e.save(t, dir, "p")
	mnt := e.path("mnt", "x")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(mnt, "silo")
	if _, err := e.s.Backup(ctx, BackupOptions{To: dest}); err != nil {
		t.Fatal(err)
	}
	rc, err := object.LoadRepoConfig(ctx, object.NewLocal(dest))
	if err != nil {
		t.Fatal(err)
	}
	known := destinationsFile(t, e.s)[dest]
	if known.Repository != rc.ID || known.Device == "" {
		t.Fatalf("remembered %+v for %s, want repository %s and a device", known, dest, rc.ID)
	}
	refused := func(t *testing.T) {
		t.Helper()
		_, err := e.s.Backup(ctx, BackupOptions{To: dest})
		if !errors.Is(err, ErrDestinationChanged) {
			t.Fatalf("backup to %s: %v; want ErrDestinationChanged", dest, err)
		}
		for _, want := range []string{dest, "backed up there before: repository " + rc.ID + " on device " + known.Device, "is the drive mounted?"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	}

	t.Run("empty mount point", func(t *testing.T) {
		saved := e.path("drive-away")
		if err := os.Rename(dest, saved); err != nil {
			t.Fatal(err)
		}
		defer func() { os.RemoveAll(dest); os.Rename(saved, dest) }()
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		refused(t)
		if names := dirEntries(t, dest); len(names) > 0 {
			t.Errorf("the refused backup wrote %v into the empty directory", names)
		}
		// the destination itself missing, its parent (the mount point) there
		if err := os.Remove(dest); err != nil {
			t.Fatal(err)
		}
		refused(t)
		if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the refused backup created %s: %v", dest, err)
		}
	})
	t.Run("config.json gone", func(t *testing.T) {
		cfgPath := filepath.Join(dest, object.ConfigName)
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(cfgPath, b, 0o644)
		if err := os.Remove(cfgPath); err != nil {
			t.Fatal(err)
		}
		refused(t)
		if _, err := os.Stat(cfgPath); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the refused backup wrote config.json: %v", err)
		}
	})
	t.Run("drive back", func(t *testing.T) {
		br, err := e.s.Backup(ctx, BackupOptions{To: dest})
		if err != nil {
			t.Fatalf("backup with the drive back: %v", err)
		}
		verifyBackup(t, openBackups(t, e.s, dest), br.ID)
	})
	t.Run("new destination on purpose", func(t *testing.T) {
		if err := os.RemoveAll(dest); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		refused(t)
		br, err := e.s.Backup(ctx, BackupOptions{To: dest, NewDestination: true})
		if err != nil {
			t.Fatalf("backup --new-destination: %v", err)
		}
		verifyBackup(t, openBackups(t, e.s, dest), br.ID)
		rc2, err := object.LoadRepoConfig(ctx, object.NewLocal(dest))
		if err != nil || rc2.ID == rc.ID {
			t.Fatalf("new destination repository %q (%v), the old one was %s", rc2.ID, err, rc.ID)
		}
		if got := destinationsFile(t, e.s)[dest]; got.Repository != rc2.ID {
			t.Errorf("remembered %+v, want repository %s", got, rc2.ID)
		}
		// and it is remembered: emptying it again is refused
		if err := os.Remove(filepath.Join(dest, object.ConfigName)); err != nil {
			t.Fatal(err)
		}
		if _, err := e.s.Backup(ctx, BackupOptions{To: dest}); !errors.Is(err, ErrDestinationChanged) || !strings.Contains(err.Error(), rc2.ID) {
			t.Errorf("backup to the emptied new destination: %v", err)
		}
	})
	t.Run("brand-new destination", func(t *testing.T) {
		other := filepath.Join(mnt, "other")
		if err := os.Mkdir(other, 0o755); err != nil {
			t.Fatal(err)
		}
		br, err := e.s.Backup(ctx, BackupOptions{To: other})
		if err != nil {
			t.Fatalf("backup to a new empty directory: %v", err)
		}
		verifyBackup(t, openBackups(t, e.s, other), br.ID)
		if len(destinationsFile(t, e.s)) != 2 {
			t.Errorf("remembered %v", destinationsFile(t, e.s))
		}
	})
}

// The device check: a destination whose directory is now on another
// filesystem than the one recorded, holding no repository or another
// repository than the one recorded, is refused naming both devices; the
// recorded repository on another device (a drive that came back with
// another device number) is accepted and remembered there, and so is
// another repository on the recorded device (made anew on that drive).
// Tests cannot mount a filesystem, so the device lookup is injected.
func TestBackupDestinationDeviceCheck(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("p")
	smallProject(t, dir, 6, 64)
	e.save(t, dir, "p")
	dest := e.path("drive")
	device := "8:17"
	var looked []string
	opts := BackupOptions{To: dest, deviceOf: func(p string) string { looked = append(looked, p); return device }}
	if _, err := e.s.Backup(ctx, opts); err != nil {
		t.Fatal(err)
	}
	rc, err := object.LoadRepoConfig(ctx, object.NewLocal(dest))
	if err != nil {
		t.Fatal(err)
	}
	remembered := func(t *testing.T, repo, dev string) {
		t.Helper()
		if got := destinationsFile(t, e.s)[dest]; got.Repository != repo || got.Device != dev {
			t.Errorf("remembered %+v, want repository %s on device %s", got, repo, dev)
		}
	}
	remembered(t, rc.ID, "8:17")
	if !slices.Contains(looked, dest) {
		t.Errorf("the device lookup was asked about %v, not %s", looked, dest)
	}

	// the drive comes back with another device number: the same
	// repository, accepted, the new device remembered
	device = "8:33"
	br, err := e.s.Backup(ctx, opts)
	if err != nil {
		t.Fatalf("backup to the recorded repository on a new device number: %v", err)
	}
	verifyBackup(t, openBackups(t, e.s, dest), br.ID)
	remembered(t, rc.ID, "8:33")

	// the drive is not mounted, and a repository an older silo wrote onto
	// the root filesystem sits at the path
	saved := e.path("drive-away")
	if err := os.Rename(dest, saved); err != nil {
		t.Fatal(err)
	}
	c := *e.cfg
	c.BasePath = dest
	stray, err := Open(ctx, Options{Config: &c, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	strayID := stray.rc.ID
	stray.Close()
	device = "259:2"
	_, err = e.s.Backup(ctx, opts)
	if !errors.Is(err, ErrDestinationChanged) {
		t.Fatalf("backup to another repository on another device: %v; want ErrDestinationChanged", err)
	}
	for _, want := range []string{dest, "backed up there before: repository " + rc.ID + " on device 8:33", strayID, "259:2", "is the drive mounted?"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if list, err := ListBackups(ctx, object.NewLocal(dest)); err != nil || len(list) != 0 {
		t.Errorf("the refused backup wrote records into the stray repository: %v %v", list, err)
	}
	remembered(t, rc.ID, "8:33")

	// nothing there at all, on another device: refused, naming both
	saved2 := e.path("stray-away")
	if err := os.Rename(dest, saved2); err != nil {
		t.Fatal(err)
	}
	device = "0:42"
	_, err = e.s.Backup(ctx, opts)
	if !errors.Is(err, ErrDestinationChanged) || !strings.Contains(err.Error(), "0:42") || !strings.Contains(err.Error(), "8:33") {
		t.Errorf("backup to a missing destination on another device: %v", err)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused backup created %s", dest)
	}

	// another repository on the recorded device: a repository made anew on
	// the drive that held the old one is the user's choice, accepted
	if err := os.Rename(saved2, dest); err != nil {
		t.Fatal(err)
	}
	device = "8:33"
	if _, err := e.s.Backup(ctx, opts); err != nil {
		t.Errorf("backup to a new repository on the recorded device: %v", err)
	}
	remembered(t, strayID, "8:33")
}

// TestBackupRestoreProjectDirs: backup restore --dest makes a directory of
// each project's name; where this platform's filesystems ignore case
// (macOS, Windows) projects "App" and "app" would share one, so the
// restore refuses them, naming both, before writing anything; elsewhere
// both are restored apart.
func TestBackupRestoreProjectDirs(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i, name := range []string{"App", "app"} {
		dir := e.path("src", name)
		writeFile(t, dir, "f.txt", textBytes(uint64(i+1), 100))
		e.save(t, dir, name)
	}
	br, bs := e.backupAll(t)
	out := e.path("out")
	_, err := bs.Restore(ctx, br.ID, RestoreBackupOptions{Dest: out})
	if snapshot.PlatformRefusesCaseCollisions {
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "App and app") {
			t.Fatalf("restore of App and app = %v, want ErrInvalid naming both", err)
		}
		if _, err := os.Lstat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the refused restore made %s (%v)", out, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"App", "app"} {
		if b, err := os.ReadFile(filepath.Join(out, name, "f.txt")); err != nil || string(b) != string(textBytes(uint64(i+1), 100)) {
			t.Errorf("%s/f.txt: %v", name, err)
		}
	}
}

// Backups at a local destination that is not there (no backup made yet,
// or the drive not mounted) are not found (exit 5), and the message asks
// about the drive.
func TestOpenBackupsMissingDestination(t *testing.T) {
	e := newEnv(t)
	dest := filepath.Join(t.TempDir(), "not-mounted", "silo")
	_, err := e.s.OpenBackups(context.Background(), dest, true)
	if !errors.Is(err, ErrNoRepository) || KindOf(err).Exit != ExitNotFound || !strings.Contains(err.Error(), "is the drive mounted?") ||
		!strings.Contains(err.Error(), dest) {
		t.Fatalf("backups at a missing destination: %v (exit %d)", err, KindOf(err).Exit)
	}
}

// Two machines that create a project of one name at once make two
// projects (the name is the older one's). A backup holds both, and a
// restore loses neither: into a directory, the name's holder goes to
// dir/<name> and the other to dir/<name>~<id>; into the primary, which
// still lists both, the other is not "another project of that name"; and
// picking the name picks its holder.
func TestBackupRestoreTwoProjectsOfOneName(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.path("src", "a"), e.path("src", "b")
	writeFile(t, a, "f.txt", textBytes(1, 100))
	writeFile(t, b, "f.txt", textBytes(2, 100))
	older := e.save(t, a, "dup")
	e.clock.Advance(time.Second)
	younger := e.save(t, b, "other")
	// what another machine's concurrent create leaves: a record of that
	// name made later, merged as any other machine's change is
	var rec *catalog.Record
	if err := e.s.db.View(func(tx *index.Tx) (err error) {
		rec, err = catalog.CurrentRecord(tx, younger.ProjectID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Second)
	rec.Name = "dup"
	rec.Stamp(e.clock.Now())
	meta := catalog.Meta{Kind: "project", Time: e.clock.Now(), Project: rec}
	id, err := e.s.writeMeta(ctx, meta)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.db.Update(func(tx *index.Tx) error { return catalog.ApplyMeta(tx, id, &meta, nil) }); err != nil {
		t.Fatal(err)
	}
	if err := e.s.db.View(func(tx *index.Tx) error {
		if got := tx.ProjectIDByName("dup"); got != older.ProjectID {
			t.Errorf("the name dup is held by %s, want the older project %s", got, older.ProjectID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	br, bs := e.backupAll(t)
	out := e.path("out")
	res, err := bs.Restore(ctx, br.ID, RestoreBackupOptions{Dest: out})
	if err != nil {
		t.Fatal(err)
	}
	other := "dup~" + younger.ProjectID[:8]
	for dir, want := range map[string][]byte{"dup": textBytes(1, 100), other: textBytes(2, 100)} {
		if got, err := os.ReadFile(filepath.Join(out, dir, "f.txt")); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s/f.txt: %v (%d bytes)", dir, err, len(got))
		}
	}
	paths := map[string]string{}
	for i, id := range res.ProjectIDs {
		paths[id] = res.Paths[i]
	}
	if paths[older.ProjectID] != filepath.Join(out, "dup") || paths[younger.ProjectID] != filepath.Join(out, other) || len(res.Projects) != 2 {
		t.Errorf("restore result: projects %v, ids %v, paths %v", res.Projects, res.ProjectIDs, res.Paths)
	}

	info, err := bs.ProjectVersion(ctx, br.ID, "dup")
	if err != nil || info.ID != older.Snapshot.String() {
		t.Errorf("ProjectVersion(dup) = %v, %v; want the holder's %s", info.ID, err, older.Snapshot)
	}
	info, err = bs.ProjectVersion(ctx, br.ID, younger.ProjectID)
	if err != nil || info.ID != younger.Snapshot.String() {
		t.Errorf("ProjectVersion(%s) = %v, %v; want %s", younger.ProjectID, info.ID, err, younger.Snapshot)
	}

	if _, err := bs.Restore(ctx, br.ID, RestoreBackupOptions{Primary: e.cfg}); err != nil {
		t.Fatalf("restore into the primary that lists both: %v", err)
	}
	e.s.db.View(func(tx *index.Tx) error {
		if got := tx.ProjectIDByName("dup"); got != older.ProjectID {
			t.Errorf("after the restore into the primary, the name dup is %s's, want the older project %s", got, older.ProjectID)
		}
		return nil
	})
	// and into an empty primary: both come back, the name the older's
	// whichever of the two ids sorts first
	cfg := testConfig(t.TempDir())
	if _, err := bs.Restore(ctx, br.ID, RestoreBackupOptions{Primary: cfg}); err != nil {
		t.Fatalf("restore into an empty primary: %v", err)
	}
	s, err := Open(ctx, Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.db.View(func(tx *index.Tx) error {
		if got := tx.ProjectIDByName("dup"); got != older.ProjectID {
			t.Errorf("the restored primary gives the name dup to %s, want the older project %s", got, older.ProjectID)
		}
		if tx.Project(younger.ProjectID) == nil {
			t.Error("the restored primary lacks the younger project")
		}
		return nil
	})
}
