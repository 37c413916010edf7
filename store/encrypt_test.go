package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/keyring"
	"github.com/silo-dev/silo/object"
)

func password(pw string) PasswordFunc {
	return func(context.Context, string, bool) ([]byte, error) { return []byte(pw), nil }
}

// newEncryptedEnv creates an encrypted repository with password pw.
func newEncryptedEnv(t *testing.T, pw string) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{dir: dir, cfg: testConfig(dir), clock: newClock(t0)}
	s, err := Init(context.Background(), Options{Config: e.cfg, Encrypt: true, Password: password(pw), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	t.Cleanup(func() { e.close(t) })
	return e
}

func (e *testEnv) openWith(pw string) (*Store, error) {
	return Open(context.Background(), Options{Config: e.cfg, Password: password(pw), Now: e.clock.Now})
}

// grepTree returns the files under root that contain needle.
func grepTree(t *testing.T, root string, needle []byte) []string {
	t.Helper()
	var hits []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, needle) {
				hits = append(hits, p)
			}
		}
		return nil
	})
	return hits
}

// treeState lists every file under root with its size: what a refused
// open must leave unchanged.
func treeState(t *testing.T, root string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				out[p] = fi.Size()
			}
		}
		return nil
	})
	return out
}

func TestEncryptedRepository(t *testing.T) {
	ctx := context.Background()
	e := newEncryptedEnv(t, "correct-horse")
	src := e.path("src")
	writeTree(t, src, map[string][]byte{
		"SECRETNAME-91c2.txt": bytes.Repeat([]byte("MARKER-plaintext-7f3a "), 200),
		"sub/random.bin":      testutil.RandomBytes(3, 300<<10),
		"sub/code.go":         textBytes(4, 100<<10),
	})
	want := takeManifest(t, src)
	res := e.save(t, src, "secret-project")
	restoreMatches(t, e.s, "secret-project", want)
	checkClean(t, e.s)
	if !e.s.Encrypted() || strings.HasPrefix(e.s.BaseDir(), e.cfg.BasePath) {
		t.Fatalf("encrypted %v, index and caches in %s (inside the repository %s)", e.s.Encrypted(), e.s.BaseDir(), e.cfg.BasePath)
	}
	for _, secret := range []string{"MARKER-plaintext", "SECRETNAME", "secret-project", "random.bin", e.s.pol.String()} {
		if hits := grepTree(t, e.cfg.BasePath, []byte(secret)); len(hits) > 0 {
			t.Errorf("%q is readable in %v", secret, hits)
		}
	}
	if hits := grepTree(t, e.cfg.BasePath, res.Snapshot[:8]); len(hits) > 0 {
		t.Errorf("a snapshot id is readable in %v", hits)
	}
	var rc map[string]any
	b, _ := os.ReadFile(filepath.Join(e.cfg.BasePath, "config.json"))
	if err := json.Unmarshal(b, &rc); err != nil || rc["version"] != float64(2) || rc["encryption"] == nil || rc["chunker_polynomial"] != nil {
		t.Errorf("config.json: %s", b)
	}
	e.close(t)

	// a wrong password (or none) fails at once, names the problem, and writes nothing
	before := treeState(t, e.dir)
	for _, pw := range []string{"wrong", ""} {
		s, err := e.openWith(pw)
		if err == nil {
			s.Close()
			t.Fatalf("password %q opened the repository", pw)
		}
		if !errors.Is(err, ErrPassword) || KindOf(err).Exit != ExitError || !strings.Contains(err.Error(), "password") {
			t.Errorf("password %q: %v (exit %d)", pw, err, KindOf(err).Exit)
		}
	}
	if _, err := Open(ctx, Options{Config: e.cfg}); !errors.Is(err, ErrPassword) || !strings.Contains(err.Error(), "STORAGE_PASSWORD") {
		t.Errorf("no password: %v", err)
	}
	if after := treeState(t, e.dir); len(after) != len(before) {
		t.Errorf("refused opens changed the files: %d before, %d after", len(before), len(after))
	}

	// the index rebuilds from sealed packs alone
	s, err := e.openWith("correct-horse")
	if err != nil {
		t.Fatal(err)
	}
	base := s.BaseDir()
	s.Close()
	if err := os.Remove(filepath.Join(base, "index.db")); err != nil {
		t.Fatal(err)
	}
	if e.s, err = e.openWith("correct-horse"); err != nil {
		t.Fatal(err)
	}
	restoreMatches(t, e.s, "secret-project", want)

	// forget and gc work on sealed packs
	e.clock.Advance(time.Minute)
	e.save(t, e.path("src", "sub"), "secret-project")
	if _, err := e.s.Forget(ctx, "secret-project", gc.Policy{Last: 1}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.GC(ctx, GCOptions{Threshold: 0.01}); err != nil {
		t.Fatal(err)
	}
	restoreMatches(t, e.s, "secret-project", takeManifest(t, e.path("src", "sub")))
	checkClean(t, e.s)
	// gc's plan records and a live session's lease are sealed too: no
	// machine or process names, no pack ids, nothing to forge
	se, err := e.s.begin(ctx, gc.KindRead)
	if err != nil {
		t.Fatal(err)
	}
	defer se.End()
	// a short host name ("vm") turns up in random sealed bytes by chance
	// (about one file in 300 for two letters): look for names of 6 or more
	host, _ := os.Hostname()
	if len(host) < 6 {
		host = ""
	}
	var control []string
	for _, dir := range []string{"locks", "gc"} {
		ents, _ := os.ReadDir(filepath.Join(e.cfg.BasePath, dir))
		for _, en := range ents {
			b, _ := os.ReadFile(filepath.Join(e.cfg.BasePath, dir, en.Name()))
			control = append(control, dir+"/"+en.Name())
			if bytes.HasPrefix(b, []byte("{")) || (host != "" && bytes.Contains(b, []byte(host))) || bytes.Contains(b, []byte("silo")) {
				t.Errorf("%s/%s is readable: %.60q", dir, en.Name(), b)
			}
		}
	}
	if !slices.ContainsFunc(control, func(n string) bool { return strings.HasPrefix(n, "locks/") }) ||
		!slices.ContainsFunc(control, func(n string) bool { return strings.HasPrefix(n, "gc/") }) {
		t.Errorf("expected a lease and a gc record, found %v", control)
	}
}

// config.json is not authenticated: removing its encryption section
// must not make silo open (and write plain data into) an encrypted
// repository.
func TestEncryptedRepositoryRefusesDowngrade(t *testing.T) {
	e := newEncryptedEnv(t, "pw")
	pol := e.s.rc.ChunkerPolynomial
	id := e.s.rc.ID
	e.close(t)
	cfgPath := filepath.Join(e.cfg.BasePath, "config.json")
	plain, _ := json.Marshal(object.RepoConfig{Version: 1, ID: id, ChunkerPolynomial: pol, PackSize: 1 << 20})
	os.Chmod(cfgPath, 0o644)
	if err := os.WriteFile(cfgPath, plain, 0o644); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(context.Background(), Options{Config: e.cfg}); err == nil || !strings.Contains(err.Error(), "encrypted") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("a downgraded config opened: %v", err)
	}
	// without keys/ either, this machine remembers
	if err := os.RemoveAll(filepath.Join(e.cfg.BasePath, "keys")); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(context.Background(), Options{Config: e.cfg}); err == nil || !strings.Contains(err.Error(), "encrypted before") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("a downgraded config without keys opened: %v", err)
	}
}

func TestEncryptionKeys(t *testing.T) {
	ctx := context.Background()
	e := newEncryptedEnv(t, "first")
	src := e.path("src")
	smallProject(t, src, 5, 64)
	want := takeManifest(t, src)
	e.save(t, src, "p")
	added, err := e.s.AddKey(ctx, []byte("second"))
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := e.s.Keys(ctx)
	if len(keys) != 2 || keys[0].Current == keys[1].Current {
		t.Fatalf("keys: %+v", keys)
	}
	e.close(t)
	s2, err := e.openWith("second")
	if err != nil {
		t.Fatalf("the added password: %v", err)
	}
	restoreMatches(t, s2, "p", want)
	if _, err := s2.RemoveKey(ctx, added.ID); err == nil || !strings.Contains(err.Error(), "opened") {
		t.Errorf("removed the key in use: %v", err)
	}
	if _, _, err := s2.ChangePassword(ctx, []byte("third")); err != nil {
		t.Fatal(err)
	}
	keys, _ = s2.Keys(ctx)
	var first string
	for _, k := range keys {
		if !k.Current {
			first = k.ID
		}
	}
	if len(keys) != 2 || first == "" || first == added.ID {
		t.Fatalf("after passwd: %+v", keys)
	}
	s2.Close()
	if s, err := e.openWith("second"); err == nil {
		s.Close()
		t.Fatal("the changed password still opens the repository")
	}
	s3, err := e.openWith("third")
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, err := s3.RemoveKey(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.RemoveKey(ctx, "nope"); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("an unknown key: %v", err)
	}
	keys, _ = s3.Keys(ctx)
	if len(keys) != 1 {
		t.Fatalf("keys: %+v", keys)
	}
	restoreMatches(t, s3, "p", want)
}

// Backups of an encrypted repository are encrypted with its key: the
// destination shows no names or contents, needs the password to read,
// and restores; a plain destination is refused.
func TestEncryptedBackup(t *testing.T) {
	ctx := context.Background()
	e := newEncryptedEnv(t, "pw")
	src := e.path("src")
	writeTree(t, src, map[string][]byte{"SECRETNAME.txt": bytes.Repeat([]byte("MARKER-plaintext "), 300), "b.bin": testutil.RandomBytes(9, 200<<10)})
	want := takeManifest(t, src)
	e.save(t, src, "secret-project")
	if _, err := e.s.Backup(ctx, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	dest := e.cfg.Backup.Destination
	for _, secret := range []string{"MARKER-plaintext", "SECRETNAME", "secret-project"} {
		if hits := grepTree(t, dest, []byte(secret)); len(hits) > 0 {
			t.Errorf("%q readable at the destination: %v", secret, hits)
		}
	}
	if _, err := OpenBackupsWith(ctx, e.cfg, dest, nil, true, password("wrong")); !errors.Is(err, ErrPassword) {
		t.Fatalf("wrong password for the backup: %v", err)
	}
	bs, err := OpenBackupsWith(ctx, e.cfg, dest, nil, true, password("pw"))
	if err != nil {
		t.Fatal(err)
	}
	out := e.path("out")
	if _, err := bs.Restore(ctx, "latest", RestoreBackupOptions{Dest: out}); err != nil {
		t.Fatal(err)
	}
	bs.Close()
	if d := want.Diff(takeManifest(t, filepath.Join(out, "secret-project"))); len(d) > 0 {
		t.Fatalf("restored backup differs: %v", d)
	}
	// into a new primary: it is encrypted with the same key
	pcfg := testConfig(e.path("new"))
	bs, err = OpenBackupsWith(ctx, e.cfg, dest, nil, false, password("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bs.Restore(ctx, "latest", RestoreBackupOptions{Primary: pcfg}); err != nil {
		t.Fatal(err)
	}
	bs.Close()
	prim, err := Open(ctx, Options{Config: pcfg, Password: password("pw")})
	if err != nil {
		t.Fatal(err)
	}
	if !prim.Encrypted() {
		t.Error("the primary restored from an encrypted backup is plain")
	}
	restoreMatches(t, prim, "secret-project", want)
	prim.Close()
	// a plain destination is refused
	plainDest := e.path("plain-backup")
	pe := &testEnv{dir: e.path("p"), cfg: testConfig(e.path("p")), clock: e.clock}
	pe.cfg.Backup.Destination = plainDest
	pe.s = pe.open(t)
	smallProject(t, e.path("p", "src"), 1, 16)
	pe.save(t, e.path("p", "src"), "plain")
	if _, err := pe.s.Backup(ctx, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	pe.close(t)
	if _, err := e.s.Backup(ctx, BackupOptions{To: plainDest}); err == nil || !strings.Contains(err.Error(), "plain") {
		t.Errorf("an encrypted repository backed up into a plain destination: %v", err)
	}
}

// racingKeyRemover plays a second process that, at the moment this one
// removes a key, removes every other key (each found the other's key not
// the last).
type racingKeyRemover struct{ object.Backend }

func (r racingKeyRemover) Delete(ctx context.Context, name string) error {
	if strings.HasPrefix(name, keyring.Prefix) {
		var others []string
		r.Backend.List(ctx, keyring.Prefix, func(fi object.FileInfo) error {
			if fi.Name != name {
				others = append(others, fi.Name)
			}
			return nil
		})
		for _, o := range others {
			r.Backend.Delete(ctx, o)
		}
	}
	return r.Backend.Delete(ctx, name)
}

// Two key removals at once never leave a repository without keys: the
// one that finds none left puts its key back and says so.
func TestKeyRemovalRaceKeepsAKey(t *testing.T) {
	ctx := context.Background()
	e := newEncryptedEnv(t, "first")
	smallProject(t, e.path("src"), 3, 16)
	want := takeManifest(t, e.path("src"))
	e.save(t, e.path("src"), "p")
	second, err := e.s.AddKey(ctx, []byte("second"))
	if err != nil {
		t.Fatal(err)
	}
	e.close(t)
	s, err := Open(ctx, Options{Config: e.cfg, Password: password("first"), Now: e.clock.Now,
		Backend: racingKeyRemover{object.NewLocal(e.cfg.BasePath)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.RemoveKey(ctx, second.ID)
	s.Close()
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "put back") {
		t.Fatalf("remove beside a racing remover: %v, want a conflict with the key put back", err)
	}
	left, _ := keyring.LoadFiles(ctx, object.NewLocal(e.cfg.BasePath))
	if len(left) != 1 || left[0].ID != second.ID {
		t.Fatalf("keys left: %d", len(left))
	}
	s2, err := e.openWith("second")
	if err != nil {
		t.Fatalf("the key put back does not open the repository: %v", err)
	}
	defer s2.Close()
	restoreMatches(t, s2, "p", want)
}

// In an encrypted repository gc's records are sealed: a plan written in
// the clear by someone with write access (condemning every pack) does not
// open, so gc stops on it, and every pack and the version stay.
func TestForgedPlanStops(t *testing.T) {
	ctx := context.Background()
	e := newEncryptedEnv(t, "pw")
	smallProject(t, e.path("src"), 3, 64)
	want := takeManifest(t, e.path("src"))
	e.save(t, e.path("src"), "p")
	var refs []gc.PackRef
	object.NewLocal(e.cfg.BasePath).List(ctx, "packs/", func(fi object.FileInfo) error {
		if id, err := object.ParseID(filepath.Base(fi.Name)); err == nil {
			refs = append(refs, gc.PackRef{ID: id, Size: fi.Size})
		}
		return nil
	})
	if len(refs) == 0 {
		t.Fatal("no packs")
	}
	id := "20260101T000000Z-000000000000"
	plan, _ := json.Marshal(gc.Pending{ID: id, Created: time.Now(), Packs: refs})
	armed, _ := json.Marshal(gc.Armed{Time: time.Now(), Sessions: []gc.LeaseRecord{}})
	if err := os.MkdirAll(filepath.Join(e.cfg.BasePath, "gc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(e.cfg.BasePath, "gc", id+".plan.json"), plan, 0o644)
	os.WriteFile(filepath.Join(e.cfg.BasePath, "gc", id+".armed.json"), armed, 0o644)
	if _, err := e.s.GC(ctx, GCOptions{}); err == nil {
		t.Errorf("gc with a forged plan succeeded")
	}
	for _, r := range refs {
		if _, err := os.Stat(filepath.Join(e.cfg.BasePath, filepath.FromSlash(object.PackName(r.ID)))); err != nil {
			t.Errorf("pack %s: %v", r.ID.Short(), err)
		}
	}
	os.RemoveAll(filepath.Join(e.cfg.BasePath, "gc"))
	restoreMatches(t, e.s, "p", want)
}
