package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/replica"

	"github.com/silo-dev/silo/object"
)

// faultBackend wraps a backend and fails Put from operation failAt on (the
// first Put is operation 1) with err, as a drive that turns read-only or
// fills up does: every later Put (and Delete) fails too.
type faultBackend struct {
	object.Backend
	root   string
	err    error
	failAt int
	// with noDelete, deletes fail (with err) once deletesLeft are used up:
	// a crash between writing and deleting
	noDelete    bool
	deletesLeft int

	mu   sync.Mutex
	puts int
	hit  int // Puts failed
}

func newFaultBackend(dir string, failAt int, err error) *faultBackend {
	return &faultBackend{Backend: object.NewLocal(dir), root: dir, failAt: failAt, err: err}
}

// Root makes the store keep index.db, logs and temp files beside the
// destination, as with the local backend it wraps.
func (f *faultBackend) Root() string { return f.root }

func (f *faultBackend) broken() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.puts++
	if f.failAt > 0 && f.puts >= f.failAt {
		f.hit++
		return true
	}
	return false
}

func (f *faultBackend) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if f.broken() {
		// a write that gets part of the way
		io.CopyN(io.Discard, r, size/2)
		return &os.PathError{Op: "write", Path: filepath.Join(f.root, name), Err: f.err}
	}
	return f.Backend.Put(ctx, name, r, size)
}

func (f *faultBackend) Delete(ctx context.Context, name string) error {
	f.mu.Lock()
	bad := f.failAt > 0 && f.puts >= f.failAt
	if f.noDelete && !bad {
		bad = f.deletesLeft <= 0
		f.deletesLeft--
	}
	f.mu.Unlock()
	if bad {
		return &os.PathError{Op: "remove", Path: filepath.Join(f.root, name), Err: f.err}
	}
	return f.Backend.Delete(ctx, name)
}

func (f *faultBackend) counts() (puts, hit int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts, f.hit
}

// backupWorld is a primary repository with a few projects, each with a few
// versions, whose every version's manifest is known.
type backupWorld struct {
	*testEnv
	versions map[string]manifest // snapshot id -> tree
	projects map[string]Project  // name -> metadata as Get showed it
}

func newBackupWorld(t *testing.T) *backupWorld {
	t.Helper()
	w := &backupWorld{testEnv: newEnv(t), versions: map[string]manifest{}}
	ctx := context.Background()
	shared := map[string][]byte{"vendor/shared.bin": testutil.RandomBytes(99, 200<<10)}
	for i, name := range []string{"api", "web", "tools"} {
		dir := w.path("src", name)
		writeTree(t, dir, shared)
		smallProject(t, dir, uint64(10*i+1), 48)
		for v := range 3 - i%2 {
			if v > 0 {
				writeFile(t, dir, fmt.Sprintf("v%d.txt", v), textBytes(uint64(100*i+v), 10<<10))
				writeFile(t, dir, "assets/blob.bin", testutil.RandomBytes(uint64(200*i+v), 60<<10))
			}
			w.clock.Advance(time.Hour)
			r := w.save(t, dir, name, func(o *SaveOptions) {
				o.Tags = []string{"team-" + name}
				o.GitRepository = "https://git.example.com/" + name
			})
			w.versions[r.Snapshot.String()] = takeManifest(t, dir)
		}
	}
	if _, err := w.s.Archive(ctx, "tools", ArchiveOptions{}); err != nil {
		t.Fatal(err)
	}
	tpl := w.path("src", "tpl")
	writeFile(t, tpl, "main.go", textBytes(7, 5000))
	if _, err := w.s.AddTemplate(ctx, "go-service", "backend", tpl, false); err != nil {
		t.Fatal(err)
	}
	w.projects = map[string]Project{}
	for _, p := range catalogueDump(t, w.s) {
		w.projects[p.Name] = p
	}
	return w
}

// backup runs a full backup to the configured destination.
func (w *backupWorld) backup(t *testing.T, opts BackupOptions) *BackupRecord {
	t.Helper()
	br, err := w.s.Backup(context.Background(), opts)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return br
}

func openBackups(t *testing.T, cfg *Store, dest string) *BackupSet {
	t.Helper()
	bs, err := OpenBackups(context.Background(), cfg.cfg, dest, nil, false)
	if err != nil {
		t.Fatalf("open backups at %s: %v", dest, err)
	}
	t.Cleanup(func() { bs.Close() })
	return bs
}

// backupAll backs up every project to the configured destination and
// opens the backups there (closed when the test ends).
func (e *testEnv) backupAll(t *testing.T) (*BackupRecord, *BackupSet) {
	t.Helper()
	br, err := e.s.Backup(context.Background(), BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return br, openBackups(t, e.s, e.cfg.Backup.Destination)
}

func verifyBackup(t *testing.T, bs *BackupSet, id string) *VerifyReport {
	t.Helper()
	rep, err := bs.Verify(context.Background(), id, true)
	if err != nil {
		t.Fatalf("verify --read-data %s: %v (%+v)", id, err, rep)
	}
	if rep.Blobs == 0 || rep.ReadBytes == 0 {
		t.Fatalf("verify of %s checked nothing: %+v", id, rep)
	}
	return rep
}

// TestBackupDisasterDrill: back up, lose the primary repository entirely,
// restore everything (into the primary, and into a directory), and compare
// every file of every version.
func TestBackupDisasterDrill(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	br := w.backup(t, BackupOptions{})
	if len(br.Projects) != 3 || len(br.Templates) != 1 || br.BytesCopied == 0 {
		t.Fatalf("backup record: %d projects, %d templates, %d bytes", len(br.Projects), len(br.Templates), br.BytesCopied)
	}
	dest := w.cfg.Backup.Destination
	tplBefore, _ := w.s.Templates()

	// the primary is gone
	w.close(t)
	if err := os.RemoveAll(w.cfg.BasePath); err != nil {
		t.Fatal(err)
	}

	bs := openBackups(t, w.s, dest)
	list, err := bs.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != br.ID {
		t.Fatalf("backup list: %v %v", list, err)
	}
	verifyBackup(t, bs, br.ID)

	// into a directory: each project's newest backed-up version
	out := w.path("restored")
	res, err := bs.Restore(ctx, br.ID, RestoreBackupOptions{Dest: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Projects) != 3 {
		t.Fatalf("restored %v", res.Projects)
	}
	for _, name := range res.Projects {
		newest := w.projects[name].Versions[0].ID
		if d := w.versions[newest].Diff(takeManifest(t, filepath.Join(out, name))); len(d) > 0 {
			t.Errorf("--dest restore of %s differs:\n  %s", name, strings.Join(d, "\n  "))
		}
	}

	// back into the primary (created again): every version, the catalogue
	// and the templates
	res, err = bs.Restore(ctx, br.ID, RestoreBackupOptions{Primary: w.cfg})
	if err != nil {
		t.Fatalf("restore into the primary: %v", err)
	}
	if res.Into != w.cfg.BasePath || len(res.Projects) != 3 {
		t.Errorf("restore result %+v", res)
	}
	bs.Close()
	w.s = w.open(t)
	got := map[string]Project{}
	for _, p := range catalogueDump(t, w.s) {
		got[p.Name] = p
	}
	if len(got) != len(w.projects) {
		t.Errorf("%d projects after the restore, want %d", len(got), len(w.projects))
	}
	for name, want := range w.projects {
		if !projectsEqual(got[name], want) {
			t.Errorf("project %s after the restore:\n%+v\nwant\n%+v", name, got[name], want)
		}
	}
	if tpl, _ := w.s.Templates(); fmt.Sprint(tpl) != fmt.Sprint(tplBefore) {
		t.Errorf("templates %+v, want %+v", tpl, tplBefore)
	}
	for id, m := range w.versions {
		restoreMatches(t, w.s, id, m)
	}
	checkClean(t, w.s)
	// the restored primary is a working repository: it stores, gc keeps
	// everything, a project from the template works
	if _, err := w.s.NewFromTemplate(ctx, "go-service", SaveOptions{Project: "after-drill"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	for id, m := range w.versions {
		restoreMatches(t, w.s, id, m)
	}
	// and the catalogue survives an index rebuild of the restored primary
	if _, err := w.s.RebuildIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for name, want := range w.projects {
		if p, err := w.s.Get(name); err != nil || !projectsEqual(*p, want) {
			t.Errorf("after rebuild of the restored primary, %s = %+v (%v)", name, p, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(w.cfg.BasePath, "logs", "backup.log"))
	if err != nil || !strings.Contains(string(b), `"operation":"restore"`) {
		t.Errorf("backup.log of the primary: %q %v", b, err)
	}
}

// TestBackupIncremental: a second backup after a small change copies about
// the bytes the change added to the primary.
func TestBackupIncremental(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	first := w.backup(t, BackupOptions{})
	// nothing changed: next to nothing is copied
	w.clock.Advance(time.Hour)
	same := w.backup(t, BackupOptions{})
	if same.BytesCopied != 0 {
		t.Errorf("backup of an unchanged repository copied %d bytes", same.BytesCopied)
	}
	// a small change
	dir := w.path("src", "api")
	writeFile(t, dir, "assets/blob.bin", testutil.RandomBytes(5000, 60<<10))
	writeFile(t, dir, "new/notes.md", textBytes(5001, 30<<10))
	before, _ := packBytes(t, w.s)
	w.clock.Advance(time.Hour)
	r := w.save(t, dir, "api")
	w.versions[r.Snapshot.String()] = takeManifest(t, dir)
	after, _ := packBytes(t, w.s)
	changed := after - before
	w.clock.Advance(time.Hour)
	second := w.backup(t, BackupOptions{})
	t.Logf("first backup %d bytes; the change added %d stored bytes; second backup copied %d (%d packs, %d blobs)",
		first.BytesCopied, changed, second.BytesCopied, second.PacksCopied, second.BlobsCopied)
	if second.BytesCopied < changed*9/10 || second.BytesCopied > changed*11/10+4096 {
		t.Errorf("second backup copied %d bytes; the change added %d", second.BytesCopied, changed)
	}
	if second.BytesCopied*5 > first.BytesCopied {
		t.Errorf("second backup copied %d bytes of %d", second.BytesCopied, first.BytesCopied)
	}
	bs := openBackups(t, w.s, w.cfg.Backup.Destination)
	for _, id := range []string{first.ID, same.ID, second.ID} {
		verifyBackup(t, bs, id)
	}
	// a single-project backup covers just that project
	w.clock.Advance(time.Hour)
	bs.Close()
	one := w.backup(t, BackupOptions{Projects: []string{"web"}})
	if len(one.Projects) != 1 || one.Projects[0].Name != "web" || len(one.Templates) != 0 || one.BytesCopied != 0 {
		t.Errorf("--project web: %d projects (%v), %d templates, %d bytes", len(one.Projects), one.Projects, len(one.Templates), one.BytesCopied)
	}
	bs = openBackups(t, w.s, w.cfg.Backup.Destination)
	out := w.path("one")
	if _, err := bs.Restore(ctx, one.ID, RestoreBackupOptions{Dest: out, Projects: []string{"web"}}); err != nil {
		t.Fatal(err)
	}
	if d := w.versions[w.projects["web"].Versions[0].ID].Diff(takeManifest(t, filepath.Join(out, "web"))); len(d) > 0 {
		t.Errorf("web from the single-project backup differs: %v", d)
	}
	if _, err := bs.Restore(ctx, one.ID, RestoreBackupOptions{Dest: out, Projects: []string{"api"}}); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("restore of a project the backup lacks: %v", err)
	}
}

// TestBackupExpiry: records older than the retention go, except the newest
// and the newest of each project: b1, the only backup of a project
// hard-deleted since, outlives its retention until deleted by id; deleting
// it frees what only it needed, and the rest verifies.
func TestBackupExpiry(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	day := 24 * time.Hour
	start := w.clock.Now()
	b1 := w.backup(t, BackupOptions{})

	// day 10: "web" is hard-deleted in the primary, "api" gets a version
	w.clock.Set(start.Add(10 * day))
	webVersions := versionIDs(t, w.s, "web")
	keepVersions := slices.Concat(versionIDs(t, w.s, "api"), versionIDs(t, w.s, "tools"))
	if _, err := w.s.Delete(ctx, "web", true); err != nil {
		t.Fatal(err)
	}
	dir := w.path("src", "api")
	writeFile(t, dir, "day10.txt", textBytes(10, 4000))
	r := w.save(t, dir, "api")
	keepVersions = append(keepVersions, r.Snapshot)
	b2 := w.backup(t, BackupOptions{})
	w.clock.Set(start.Add(20 * day))
	b3 := w.backup(t, BackupOptions{})

	bs := openBackups(t, w.s, w.cfg.Backup.Destination)
	// what only b1 needs in the destination: "web"'s unique blobs
	webUnique, _ := uniqueBytes(t, bs.dst, webVersions, keepVersions)
	destBefore, _ := packBytes(t, bs.dst)

	// day 35, retention 30: b1 is past it, but it is web's only backup
	res, err := bs.Expire(ctx, start.Add(35*day), 30, true)
	if err != nil || len(res.Expired) != 0 || res.Kept != 3 {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	res, err = bs.Expire(ctx, start.Add(35*day), 30, false)
	if err != nil || len(res.Expired) != 0 {
		t.Fatalf("expire at day 35 took web's only backup: %+v %v", res, err)
	}
	if _, err := bs.Delete(ctx, []string{"latest"}, false); err == nil || !strings.Contains(err.Error(), "latest") {
		t.Errorf("delete latest: %v", err)
	}
	res, err = bs.Delete(ctx, []string{b1.ID[:12]}, true)
	if err != nil || !slices.Equal(res.Expired, []string{b1.ID}) || res.Kept != 2 {
		t.Fatalf("delete dry run: %+v %v", res, err)
	}
	if l, _ := bs.List(ctx); len(l) != 3 {
		t.Fatal("a dry run removed a record")
	}
	res, err = bs.Delete(ctx, []string{b1.ID[:12]}, false)
	if err != nil || !slices.Equal(res.Expired, []string{b1.ID}) || res.GC == nil || res.GC.Result == nil {
		t.Fatalf("delete b1: %+v %v", res, err)
	}
	destAfter, _ := packBytes(t, bs.dst)
	freed := destBefore - destAfter
	t.Logf("expiring b1 freed %d bytes in the destination; %d were unique to the deleted project", freed, webUnique)
	if freed < webUnique*9/10 || freed > webUnique+64<<10 {
		t.Errorf("destination gc freed %d bytes, %d were unique to the expired backup", freed, webUnique)
	}
	if _, err := bs.Show(ctx, b1.ID); !errors.Is(err, ErrBackupNotFound) {
		t.Errorf("expired record still there: %v", err)
	}
	for _, id := range []string{b2.ID, b3.ID} {
		verifyBackup(t, bs, id)
	}
	checkClean(t, bs.dst)
	// far in the future with retention 0: b2 holds nothing b3 lacks
	res, err = bs.Expire(ctx, start.Add(1000*day), 0, false)
	if err != nil || !slices.Equal(res.Expired, []string{b2.ID}) || res.Kept != 1 {
		t.Fatalf("expire everything: %+v %v", res, err)
	}
	verifyBackup(t, bs, b3.ID)
	out := w.path("out")
	if _, err := bs.Restore(ctx, b3.ID, RestoreBackupOptions{Dest: out}); err != nil {
		t.Fatal(err)
	}
	if d := w.versions[w.projects["tools"].Versions[0].ID].Diff(takeManifest(t, filepath.Join(out, "tools"))); len(d) > 0 {
		t.Errorf("restore from the last backup differs: %v", d)
	}
	b, err := os.ReadFile(filepath.Join(w.cfg.Backup.Destination, "logs", "backup.log"))
	if err != nil || strings.Count(string(b), `"operation":"expire"`) != 2 || strings.Count(string(b), `"operation":"delete"`) != 2 {
		t.Errorf("destination backup.log: %q %v", b, err)
	}
}

// TestBackupFaults: a destination that is missing, turns read-only or fills
// up at every point of a backup fails with an error naming it and the
// reason; the primary is untouched, the destination has no new record and
// passes check, and the next backup completes and verifies.
func TestBackupFaults(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	primaryPacks := packFiles(t, w.s)
	primaryCat := catalogueDump(t, w.s)
	untouched := func(t *testing.T) {
		t.Helper()
		if p := packFiles(t, w.s); len(p) != len(primaryPacks) {
			t.Errorf("primary packs changed: %d, was %d", len(p), len(primaryPacks))
		}
		if c := catalogueDump(t, w.s); len(c) != len(primaryCat) {
			t.Errorf("primary catalogue changed")
		}
	}

	t.Run("destination missing", func(t *testing.T) {
		dest := w.path("not-mounted", "backup")
		_, err := w.s.Backup(ctx, BackupOptions{To: dest})
		if err == nil || !strings.Contains(err.Error(), dest) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("backup to a missing drive: %v; want an error naming %s and the reason", err, dest)
		}
		if _, err := os.Stat(w.path("not-mounted")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("backup created the missing mount point: %v", err)
		}
		untouched(t)
		b, _ := os.ReadFile(filepath.Join(w.cfg.BasePath, "logs", "backup.log"))
		if !strings.Contains(string(b), `"outcome":"error: `) {
			t.Errorf("backup.log has no failed line: %q", b)
		}
	})

	// how many Puts a first backup makes
	probe := newFaultBackend(w.path("probe"), 0, nil)
	if _, err := w.s.Backup(ctx, BackupOptions{To: w.path("probe"), Backend: probe}); err != nil {
		t.Fatal(err)
	}
	total, _ := probe.counts()
	if total < 4 {
		t.Fatalf("a first backup made only %d Puts", total)
	}
	// a change, for the incremental cases
	dir := w.path("src", "web")
	writeFile(t, dir, "incr.bin", testutil.RandomBytes(77, 300<<10))
	w.clock.Advance(time.Hour)
	w.save(t, dir, "web")
	primaryPacks = packFiles(t, w.s)
	primaryCat = catalogueDump(t, w.s)

	faults := []struct {
		name string
		err  syscall.Errno
		text string
	}{{"read-only", syscall.EROFS, "read-only file system"}, {"full", syscall.ENOSPC, "no space left on device"}}
	for _, incremental := range []bool{false, true} {
		for _, f := range faults {
			for n := 1; n <= total; n++ {
				if !longTests() && n > 3 && n < total-1 && n%2 == 0 {
					continue // every operation with SILO_LONG_TESTS=1
				}
				t.Run(fmt.Sprintf("incremental=%v/%s/op%d", incremental, f.name, n), func(t *testing.T) {
					dest := t.TempDir()
					records := 0
					if incremental {
						// a destination holding the backup taken before the change
						if err := os.CopyFS(dest, os.DirFS(w.path("probe"))); err != nil {
							t.Fatal(err)
						}
						records = 1
					}
					fb := newFaultBackend(dest, n, f.err)
					_, err := w.s.Backup(ctx, BackupOptions{To: dest, Backend: fb})
					if _, hit := fb.counts(); hit == 0 {
						if err != nil {
							t.Fatalf("no fault injected, but: %v", err)
						}
						return // the incremental backup needs fewer operations
					}
					if err == nil {
						t.Fatalf("backup succeeded through a %s destination", f.name)
					}
					if !errors.Is(err, f.err) || !strings.Contains(err.Error(), dest) || !strings.Contains(err.Error(), f.text) {
						t.Errorf("error %q: want it to name %s and say %q", err, dest, f.text)
					}
					untouched(t)
					// no half-written record; what is there checks clean
					if _, err := os.Stat(filepath.Join(dest, object.ConfigName)); err == nil {
						list, err := ListBackups(ctx, object.NewLocal(dest))
						if err != nil || len(list) != records {
							t.Errorf("%d records after a failed backup (%v), want %d", len(list), err, records)
						}
						bs := openBackups(t, w.s, dest)
						checkClean(t, bs.dst)
						bs.Close()
					} else if n > 1 || incremental {
						t.Errorf("no config.json in the destination after op %d", n)
					}
					// the drive is back: the next backup completes and verifies
					br, err := w.s.Backup(ctx, BackupOptions{To: dest})
					if err != nil {
						t.Fatalf("backup after the fault: %v", err)
					}
					bs := openBackups(t, w.s, dest)
					verifyBackup(t, bs, br.ID)
					if list, _ := bs.List(ctx); len(list) != records+1 {
						t.Errorf("%d records, want %d", len(list), records+1)
					}
					checkClean(t, bs.dst)
					out := t.TempDir()
					if _, err := bs.Restore(ctx, br.ID, RestoreBackupOptions{Dest: out, Projects: []string{"web"}}); err != nil {
						t.Fatal(err)
					}
					if d := takeManifest(t, dir).Diff(takeManifest(t, filepath.Join(out, "web"))); len(d) > 0 {
						t.Errorf("restore after the fault differs: %v", d)
					}
				})
			}
		}
	}
}

// TestBackupVerifyFindsDamage: a corrupted or missing pack in the
// destination is found by verify, which names the projects affected.
func TestBackupVerifyFindsDamage(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	br := w.backup(t, BackupOptions{})
	bs := openBackups(t, w.s, w.cfg.Backup.Destination)

	// which projects use the blobs of each data pack
	users := map[object.ID]map[string]bool{}
	locs := indexedBlobs(t, bs.dst)
	for _, p := range br.Projects {
		var ids []object.ID
		for _, v := range p.Versions {
			id, _ := object.ParseID(v.ID)
			ids = append(ids, id)
		}
		for id := range reachable(t, bs.dst, ids) {
			l := locs[id]
			if l.Type != object.DataBlob {
				continue
			}
			if users[l.Pack] == nil {
				users[l.Pack] = map[string]bool{}
			}
			users[l.Pack][p.Name] = true
		}
	}
	var victim object.ID
	var want []string
	for pack, u := range users {
		if len(u) == 1 {
			victim = pack
			for n := range u {
				want = []string{n}
			}
			break
		}
	}
	if victim.IsZero() {
		t.Fatal("no data pack used by a single project")
	}
	path := filepath.Join(w.cfg.Backup.Destination, filepath.FromSlash(object.PackName(victim)))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := bs.Verify(ctx, br.ID, false); err != nil {
		t.Fatalf("verify before the damage: %v %+v", err, rep)
	}

	t.Run("corrupted", func(t *testing.T) {
		bad := slices.Clone(data)
		bad[len(bad)/3] ^= 0x40
		if err := os.WriteFile(path, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(path, data, 0o644)
		bs.dst.repo.Forget(victim)
		rep, err := bs.Verify(ctx, br.ID, true)
		if !errors.Is(err, ErrCheckFailed) {
			t.Fatalf("verify --read-data of a corrupted pack: %v", err)
		}
		if rep.Corrupt == 0 || !slices.Equal(rep.AffectedProjects, want) || !strings.Contains(err.Error(), want[0]) {
			t.Errorf("report: %d corrupt, affected %v (want %v); error %v", rep.Corrupt, rep.AffectedProjects, want, err)
		}
		for _, p := range rep.Problems {
			if p.Pack != victim.String() {
				t.Errorf("problem in pack %s, the damage is in %s: %+v", p.Pack, victim.Short(), p)
			}
		}
	})
	t.Run("missing", func(t *testing.T) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(path, data, 0o644)
		bs.dst.repo.Forget(victim)
		for _, readData := range []bool{true, false} {
			rep, err := bs.Verify(ctx, br.ID, readData)
			if !errors.Is(err, ErrCheckFailed) {
				t.Errorf("verify (read data %v) with a pack file gone: %v", readData, err)
				continue
			}
			if !slices.Equal(rep.AffectedProjects, want) {
				t.Errorf("read data %v: affected %v, want %v", readData, rep.AffectedProjects, want)
			}
		}
	})
	// repaired: clean again
	bs.dst.repo.Forget(victim)
	verifyBackup(t, bs, br.ID)
}

// TestCleanupSteps: cleanup archives old projects, purges old soft-deleted
// ones, expires backups, cleans cache/ and collects garbage, with an
// injected clock, and logs a line to gc.log.
func TestCleanupSteps(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	w.cfg.ArchiveAfterDays = 60
	w.cfg.PurgeDeletedAfterDays = 30
	w.cfg.Backup.RetentionDays = 7
	day := 24 * time.Hour
	start := w.clock.Now()
	b1 := w.backup(t, BackupOptions{})
	if _, err := w.s.Extract(ctx, "api", ExtractOptions{Workbench: "wb"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.Delete(ctx, "web", false); err != nil {
		t.Fatal(err)
	}
	webOnly, _ := uniqueBytes(t, w.s, versionIDs(t, w.s, "web"), slices.Concat(versionIDs(t, w.s, "api"), versionIDs(t, w.s, "tools")))
	w.clock.Set(start.Add(20 * day))
	b2 := w.backup(t, BackupOptions{})

	// day 20: nothing is old enough to archive or purge; b1 is past 7 days
	// and so is the cache copy
	wb := filepath.Join(w.s.BaseDir(), "cache", "wb")
	dry, err := w.s.Cleanup(ctx, CleanupOptions{DryRun: true})
	if err != nil || dry.Archived != 0 || dry.Purged != 0 || dry.BackupsExpired != 1 || dry.CacheRemoved != 1 {
		t.Fatalf("dry run at day 20: %+v %v", dry, err)
	}
	// day 61: api (updated on day 0) is archived (and its cache copy goes),
	// web (deleted on day 0) is purged and its space freed
	w.clock.Set(start.Add(61 * day))
	before, _ := packBytes(t, w.s)
	// the dry run predicts what the purge frees, and counts the cache
	// copy that archiving api removes
	dry, err = w.s.Cleanup(ctx, CleanupOptions{DryRun: true})
	if err != nil || dry.Purged != 1 || dry.CacheRemoved != 1 || dry.CacheFreed <= 0 || dry.FreedBytes < webOnly*9/10 {
		t.Fatalf("dry run at day 61: %+v %v (web had %d unique bytes)", dry, err, webOnly)
	}
	if after, _ := packBytes(t, w.s); after != before {
		t.Fatal("the dry run changed the packs")
	}
	rep, err := w.s.Cleanup(ctx, CleanupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := packBytes(t, w.s)
	if rep.CacheRemoved != 1 || rep.CacheFreed != dry.CacheFreed {
		t.Errorf("cleanup removed %d cache copies (%d bytes); the dry run said 1 (%d bytes)", rep.CacheRemoved, rep.CacheFreed, dry.CacheFreed)
	}
	if lo, hi := rep.FreedBytes*9/10, rep.FreedBytes*11/10; dry.FreedBytes < lo || dry.FreedBytes > hi {
		t.Errorf("the dry run predicted %d bytes freed, cleanup freed %d", dry.FreedBytes, rep.FreedBytes)
	}
	if rep.Archived != 1 || rep.Purged != 1 || rep.BackupsExpired != 1 {
		t.Errorf("cleanup: archived %d purged %d expired %d", rep.Archived, rep.Purged, rep.BackupsExpired)
	}
	if _, err := os.Stat(wb); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cache copy after cleanup: %v", err)
	}
	if before-after < webOnly*9/10 {
		t.Errorf("cleanup freed %d pack bytes, the purged project had %d unique", before-after, webOnly)
	}
	if rep.FreedBytes < before-after {
		t.Errorf("cleanup reports %d bytes freed, packs shrank by %d", rep.FreedBytes, before-after)
	}
	if p, _ := w.s.Get("api"); p.Status != StatusArchived {
		t.Errorf("api: %s", p.Status)
	}
	if _, err := w.s.Get("web"); !errors.Is(err, ErrProjectNotFound) {
		t.Errorf("purged project: %v", err)
	}
	bs := openBackups(t, w.s, w.cfg.Backup.Destination)
	if l, _ := bs.List(ctx); len(l) != 1 || l[0].ID != b2.ID {
		t.Errorf("backups after cleanup: %v (b1 %s expired, b2 %s kept)", l, b1.ID, b2.ID)
	}
	verifyBackup(t, bs, b2.ID)
	checkClean(t, w.s)
	b, err := os.ReadFile(filepath.Join(w.cfg.BasePath, "logs", "gc.log"))
	if err != nil || !strings.Contains(string(b), `"operation":"cleanup"`) || !strings.Contains(string(b), `"purged":1`) {
		t.Errorf("gc.log: %q %v", b, err)
	}
}

// A source pack whose bytes no longer hash to its name is refused while it
// is copied: the backup fails naming the pack, and the destination gets
// neither that pack nor a record.
func TestBackupRefusesCorruptSourcePack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("p")
	writeFile(t, dir, "data.bin", testutil.RandomBytes(7, 3<<20))
	e.save(t, dir, "p")
	var victim object.ID
	var vsize int64
	err := e.s.db.View(func(tx *index.Tx) error {
		return tx.Packs(func(p object.PackInfo) error {
			if p.Data && p.Size > vsize {
				victim, vsize = p.ID, p.Size
			}
			return nil
		})
	})
	if err != nil || vsize == 0 {
		t.Fatalf("no data pack: %v", err)
	}
	path := filepath.Join(e.cfg.BasePath, filepath.FromSlash(object.PackName(victim)))
	flipThird(t, path) // inside a blob: the table still reads
	dest := e.path("drive")
	_, err = e.s.Backup(ctx, BackupOptions{To: dest})
	if !errors.Is(err, object.ErrCorrupt) || !strings.Contains(err.Error(), victim.String()) {
		t.Fatalf("backup of a corrupt pack: %v, want ErrCorrupt naming pack %s", err, victim)
	}
	if _, err := os.Stat(filepath.Join(dest, filepath.FromSlash(object.PackName(victim)))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the corrupt pack reached the destination: %v", err)
	}
	recs, err := ListBackups(ctx, object.NewLocal(dest))
	if err != nil || len(recs) != 0 {
		t.Errorf("destination records after a failed backup: %d, %v", len(recs), err)
	}
}

// TestBackupPerProjectRetention is the loss the issue reported: back up
// every project, then one project alone, then expire with retention 0.
// The older record is the only backup of the other projects and the
// template, so it stays; "latest" restores every project (each from the
// newest backup holding it) and says so.
func TestBackupPerProjectRetention(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	all := w.backup(t, BackupOptions{})
	w.clock.Advance(time.Hour)
	dir := w.path("src", "web")
	writeFile(t, dir, "later.txt", textBytes(77, 3000))
	r := w.save(t, dir, "web")
	w.versions[r.Snapshot.String()] = takeManifest(t, dir)
	w.clock.Advance(time.Hour)
	one := w.backup(t, BackupOptions{Projects: []string{"web"}})

	bs := openBackups(t, w.s, w.cfg.Backup.Destination)
	res, err := bs.Expire(ctx, w.clock.Now().Add(1000*24*time.Hour), 0, false)
	if err != nil || len(res.Expired) != 0 || res.Kept != 2 {
		t.Fatalf("expire with retention 0 after a one-project backup: %+v %v", res, err)
	}
	lt, err := bs.Show(ctx, "latest")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(lt.From, []string{all.ID, one.ID}) || len(lt.Projects) != 3 || len(lt.Templates) != 1 {
		t.Fatalf("latest: from %v, %d projects, %d templates", lt.From, len(lt.Projects), len(lt.Templates))
	}
	out := w.path("all")
	rr, err := bs.Restore(ctx, "latest", RestoreBackupOptions{Dest: out})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rr.Projects, []string{"api", "tools", "web"}) {
		t.Fatalf("restore latest brought back %v", rr.Projects)
	}
	want := map[string]string{"api": w.projects["api"].Versions[0].ID, "tools": w.projects["tools"].Versions[0].ID, "web": r.Snapshot.String()}
	for name, v := range want {
		if d := w.versions[v].Diff(takeManifest(t, filepath.Join(out, name))); len(d) > 0 {
			t.Errorf("%s from latest is not its newest backed-up version: %v", name, d)
		}
	}
	// into a primary that is gone: every project and the template come back
	checkClean(t, bs.dst)
	prim := *w.cfg
	prim.BasePath = w.path("new-primary")
	rr, err = bs.Restore(ctx, "latest", RestoreBackupOptions{Primary: &prim})
	if err != nil || len(rr.Projects) != 3 {
		t.Fatalf("restore latest into a new primary: %+v %v", rr, err)
	}
	np, err := Open(ctx, Options{Config: &prim})
	if err != nil {
		t.Fatal(err)
	}
	defer np.Close()
	got := catalogueDump(t, np)
	if len(got) != 3 {
		t.Errorf("new primary holds %d projects, want 3", len(got))
	}
	if tl, err := np.Templates(); err != nil || len(tl) != 1 {
		t.Errorf("new primary templates: %v %v", tl, err)
	}
}

// TestBackupRemovalBesideARunningBackup: a backup is between its copy and
// its record while b1 is deleted. b1 held versions the running backup
// holds too (every older version) and versions it does not (none here
// but the first), and the running backup holds a version no record held.
// The removal's collection meets the running backup's session and defers;
// the next one finds the record. After an index rebuild of the
// destination (the catalogue as another machine would see it) the
// running backup verifies and restores identical. Before the records
// decided what gc keeps, the delete forgot the shared versions for good.
func TestBackupRemovalBesideARunningBackup(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	b1 := w.backup(t, BackupOptions{})
	w.clock.Advance(time.Hour)
	dir := w.path("src", "fresh")
	writeFile(t, dir, "new.txt", textBytes(42, 5000))
	r := w.save(t, dir, "fresh")
	w.versions[r.Snapshot.String()] = takeManifest(t, dir)
	w.clock.Advance(time.Hour)

	bs := openBackups(t, w.s, w.cfg.Backup.Destination)
	paused, resume := make(chan struct{}), make(chan struct{})
	type result struct {
		br  *BackupRecord
		err error
	}
	done := make(chan result, 1)
	go func() {
		br, err := w.s.Backup(ctx, BackupOptions{beforeRecord: func() { close(paused); <-resume }})
		done <- result{br, err}
	}()
	<-paused
	res, err := bs.Delete(ctx, []string{b1.ID}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.GC == nil || res.GC.Result == nil || res.GC.Result.DeferredPacks == 0 {
		t.Errorf("the delete's collection did not wait for the running backup: %+v", res.GC)
	}
	close(resume)
	got := <-done
	if got.err != nil {
		t.Fatal(got.err)
	}
	if _, err := bs.dst.GC(ctx, GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.dst.RebuildIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	verifyBackup(t, bs, got.br.ID)
	out := w.path("out")
	if _, err := bs.Restore(ctx, got.br.ID, RestoreBackupOptions{Dest: out}); err != nil {
		t.Fatal(err)
	}
	for _, p := range got.br.Projects {
		if d := w.versions[p.Versions[0].ID].Diff(takeManifest(t, filepath.Join(out, p.Name))); len(d) > 0 {
			t.Errorf("%s differs after the delete beside the backup: %v", p.Name, d)
		}
	}
	// every version the record holds comes back into an empty primary
	w.restoreAllInto(t, bs, got.br)
	checkClean(t, bs.dst)
}

// TestBackupAgainAfterDelete: a deleted backup's versions are collected;
// a later backup that holds them again copies them again, and they restore
// after an index rebuild of the destination (a forget record, which is
// final, would hide them from every catalogue built from the packs).
func TestBackupAgainAfterDelete(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	w.backup(t, BackupOptions{Projects: []string{"api"}})
	w.clock.Advance(time.Hour)
	b2 := w.backup(t, BackupOptions{})
	bs := openBackups(t, w.s, w.cfg.Backup.Destination)
	res, err := bs.Delete(ctx, []string{b2.ID}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.GC == nil || res.GC.Result == nil || res.GC.Result.FreedBytes == 0 {
		t.Fatalf("deleting the only backup of web and tools freed nothing: %+v", res.GC)
	}
	w.clock.Advance(time.Hour)
	b3 := w.backup(t, BackupOptions{})
	if b3.BlobsCopied == 0 {
		t.Fatalf("the backup after the delete copied nothing: %+v", b3)
	}
	if _, err := bs.dst.RebuildIndex(ctx, nil); err != nil {
		t.Fatal(err)
	}
	verifyBackup(t, bs, b3.ID)
	w.restoreAllInto(t, bs, b3)
	checkClean(t, bs.dst)
}

// restoreAllInto restores backup br into an empty primary repository and
// checks that every version br holds restores identical.
func (w *backupWorld) restoreAllInto(t *testing.T, bs *BackupSet, br *BackupRecord) {
	t.Helper()
	ctx := context.Background()
	cfg := testConfig(t.TempDir())
	if _, err := bs.Restore(ctx, br.ID, RestoreBackupOptions{Primary: cfg}); err != nil {
		t.Fatalf("restore %s into an empty primary: %v", br.ID, err)
	}
	s, err := Open(ctx, Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n := 0
	for _, p := range br.Projects {
		for _, v := range p.Versions {
			restoreMatches(t, s, v.ID, w.versions[v.ID])
			n++
		}
	}
	if n == 0 {
		t.Fatalf("backup %s holds no versions", br.ID)
	}
	checkClean(t, s)
}

// blobComps counts a repository's indexed blobs by compression.
func blobComps(t *testing.T, s *Store) (raw, zstd int) {
	t.Helper()
	err := s.db.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
			if l.Comp == object.Zstd {
				zstd++
			} else {
				raw++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw, zstd
}

// TestBackupCompression: backup.compression false stores every blob the
// backup copies raw (the destination is larger than a compressed one of
// the same projects), the backup verifies and restores identical, and a
// restore into the primary compresses the blobs again.
func TestBackupCompression(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	packed := w.backup(t, BackupOptions{To: w.path("packed")})
	w.cfg.Backup.Compression = false
	plain := w.backup(t, BackupOptions{To: w.path("plain")})
	if !plain.Uncompressed || packed.Uncompressed {
		t.Errorf("records: uncompressed %v and %v", packed.Uncompressed, plain.Uncompressed)
	}
	bp := openBackups(t, w.s, w.path("packed"))
	bu := openBackups(t, w.s, w.path("plain"))
	if raw, z := blobComps(t, bu.dst); z != 0 || raw == 0 {
		t.Errorf("backup.compression false: %d raw and %d zstd blobs at the destination", raw, z)
	}
	if _, z := blobComps(t, bp.dst); z == 0 {
		t.Errorf("backup.compression true: no zstd blob at the destination")
	}
	np, _ := packBytes(t, bp.dst)
	nu, _ := packBytes(t, bu.dst)
	t.Logf("destination packs: %d bytes compressed, %d uncompressed", np, nu)
	if nu < np*11/10 {
		t.Errorf("the uncompressed destination (%d bytes) is not larger than the compressed one (%d)", nu, np)
	}
	verifyBackup(t, bu, plain.ID)
	out := w.path("out")
	if _, err := bu.Restore(ctx, plain.ID, RestoreBackupOptions{Dest: out}); err != nil {
		t.Fatal(err)
	}
	for _, p := range plain.Projects {
		if d := w.versions[p.Versions[0].ID].Diff(takeManifest(t, filepath.Join(out, p.Name))); len(d) > 0 {
			t.Errorf("%s from the uncompressed backup differs: %v", p.Name, d)
		}
	}
	cfg := testConfig(t.TempDir())
	if _, err := bu.Restore(ctx, plain.ID, RestoreBackupOptions{Primary: cfg}); err != nil {
		t.Fatal(err)
	}
	prim, err := Open(ctx, Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer prim.Close()
	if _, z := blobComps(t, prim); z == 0 {
		t.Errorf("the primary restored from an uncompressed backup holds no zstd blob")
	}
	for _, p := range plain.Projects {
		for _, v := range p.Versions {
			restoreMatches(t, prim, v.ID, w.versions[v.ID])
		}
	}
	checkClean(t, prim)
}

// TestBackupRefusesALiveRepository: a backup pointed at a repository that
// holds versions of its own (another primary, a mistyped --to) or at the
// source itself is refused before anything is written: in a destination
// the records decide which versions exist, so marking it would let its own
// versions be collected.
func TestBackupRefusesALiveRepository(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	other := newEnv(t)
	dir := other.path("src")
	writeFile(t, dir, "own.txt", []byte("the other repository's own version"))
	r, err := other.s.Save(ctx, dir, SaveOptions{Project: "own"})
	if err != nil {
		t.Fatal(err)
	}
	other.close(t)
	for _, to := range []string{other.cfg.BasePath, w.cfg.BasePath} {
		_, err := w.s.Backup(ctx, BackupOptions{To: to})
		if !errors.Is(err, ErrNotADestination) || !strings.Contains(err.Error(), to) {
			t.Errorf("backup to %s: %v", to, err)
		}
	}
	if _, err := os.Stat(filepath.Join(other.cfg.BasePath, replica.DestinationMarker)); err == nil {
		t.Error("the live repository was marked as a destination")
	}
	s := other.open(t)
	defer s.Close()
	restoreMatches(t, s, r.Snapshot.String(), takeManifest(t, dir))
	// an empty repository is a fine destination
	if _, err := w.s.Backup(ctx, BackupOptions{To: w.path("fresh-dest")}); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedRecordDoesNotBlockTheDestination: one unreadable backup
// record leaves the others usable from a machine with an empty index
// cache (it used to fail every open), and gc stops rather than guess.
func TestDamagedRecordDoesNotBlockTheDestination(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	b1 := w.backup(t, BackupOptions{Projects: []string{"api"}})
	w.clock.Advance(time.Hour)
	b2 := w.backup(t, BackupOptions{})
	dest := w.cfg.Backup.Destination
	if err := os.WriteFile(filepath.Join(dest, filepath.FromSlash(replica.RecordName(b1.ID))), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dest, "index.db"))
	bs := openBackups(t, w.s, dest)
	verifyBackup(t, bs, b2.ID)
	out := w.path("out")
	if _, err := bs.Restore(ctx, b2.ID, RestoreBackupOptions{Dest: out}); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.dst.GC(ctx, GCOptions{}); err == nil || !strings.Contains(err.Error(), b1.ID) {
		t.Errorf("gc beside a damaged record: %v", err)
	}
}

// flipThird flips a bit of the byte a third into the file at path.
func flipThird(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	testutil.FlipByte(t, path, fi.Size()/3, 0x40)
}
