package keyring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-dev/silo/crypt"
	"github.com/silo-dev/silo/object"
)

func password(pw string) PasswordFunc {
	return func(context.Context, string, bool) ([]byte, error) { return []byte(pw), nil }
}

// repo is an encrypted repository's backend and config (config.json is
// not written: keyring works on the RepoConfig it is given).
type repo struct {
	dir, cache string
	be         object.Backend
	rc         object.RepoConfig // as written, sealed
	pol        string
	ring       *Ring  // Init's
	keyID      string // its one key file
}

const testPol = "3DA3358B4DC173"

// newRepo makes an encrypted repository whose one key file opens with
// pw. Its key file has the cheapest scrypt parameters allowed, so that
// the tests that do not test making a key file are quick under -race;
// newRepoPassword makes one as silo init does.
func newRepo(t *testing.T, pw string) *repo {
	t.Helper()
	m, err := crypt.NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	f := cheapKeyFile(t, &m, pw, "f"+object.NewRepoID()[:15]) // sorts after the ids tests choose
	r := makeRepo(t, Options{Key: &m, KeyFiles: []*crypt.KeyFile{f}})
	r.keyID = f.ID
	return r
}

func newRepoPassword(t *testing.T, pw string) *repo {
	t.Helper()
	r := makeRepo(t, Options{Password: password(pw)})
	r.keyID = r.ring.Used()
	return r
}

func makeRepo(t *testing.T, o Options) *repo {
	t.Helper()
	r := &repo{dir: filepath.Join(t.TempDir(), "repo"), cache: filepath.Join(t.TempDir(), "cache"), pol: testPol}
	r.be = object.NewLocal(r.dir)
	r.rc = object.RepoConfig{Version: object.FormatVersion, ID: object.NewRepoID(), ChunkerPolynomial: r.pol, PackSize: 1 << 20}
	ring, err := Init(context.Background(), r.be, &r.rc, o)
	if err != nil {
		t.Fatal(err)
	}
	r.ring = ring
	return r
}

func (r *repo) open(pw string) (*Ring, object.RepoConfig, error) {
	rc := r.rc
	ring, err := Open(context.Background(), r.be, &rc, Options{Password: password(pw), CacheDir: r.cache})
	return ring, rc, err
}

// files lists every file under root.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// cheapKeyFile wraps master under pw with the cheapest parameters Check
// allows, named id.
func cheapKeyFile(t *testing.T, master *crypt.MasterKey, pw, id string) *crypt.KeyFile {
	t.Helper()
	f, err := crypt.Wrap(master, []byte(pw), id, crypt.KDF{N: 1 << 14, R: 1, P: 1, Salt: make([]byte, 16)})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestInitOpen(t *testing.T) {
	t.Parallel()
	r := newRepoPassword(t, "pw")
	if r.rc.Encryption == nil || r.rc.Version != object.EncryptedFormatVersion || r.rc.ChunkerPolynomial != "" {
		t.Fatalf("config after Init: %+v", r.rc)
	}
	fs := files(t, filepath.Join(r.dir, "keys"))
	if len(fs) != 1 || filepath.Base(fs[0]) != r.keyID {
		t.Fatalf("key files %v, Init's key %q", fs, r.keyID)
	}
	ring, rc, err := r.open("pw")
	if err != nil {
		t.Fatal(err)
	}
	if rc.ChunkerPolynomial != r.pol {
		t.Errorf("polynomial %q from the sealed section, want %q", rc.ChunkerPolynomial, r.pol)
	}
	if *ring.Master() != *r.ring.Master() || string(ring.Sealer().IDKey()) != string(r.ring.Sealer().IDKey()) {
		t.Error("Open's master key is not Init's")
	}
	if ring.Used() != r.keyID {
		t.Errorf("opened with %q, the only key is %q", ring.Used(), r.keyID)
	}
	// this machine remembers the key and that the repository is encrypted
	if b, err := os.ReadFile(filepath.Join(r.cache, r.rc.ID, "key")); err != nil || strings.TrimSpace(string(b)) != ring.Used() {
		t.Errorf("remembered key: %q, %v", b, err)
	}
	if _, err := os.Stat(encryptedMarker(r.cache, r.rc.ID)); err != nil {
		t.Errorf("no encrypted marker: %v", err)
	}
	// and by master key, without a password
	rc = r.rc
	byKey, err := Open(context.Background(), r.be, &rc, Options{Key: ring.Master(), CacheDir: r.cache})
	if err != nil || byKey.Used() != "" || rc.ChunkerPolynomial != r.pol {
		t.Fatalf("open by master key: %v (used %q, polynomial %q)", err, byKey.Used(), rc.ChunkerPolynomial)
	}
}

// Init with a master key and key files (a backup of an encrypted
// repository) writes those, and a new password is not asked for.
func TestInitWithKey(t *testing.T) {
	t.Parallel()
	src := newRepo(t, "pw")
	srcFiles, err := LoadFiles(context.Background(), src.be)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	be := object.NewLocal(dir)
	rc := object.RepoConfig{Version: object.FormatVersion, ID: object.NewRepoID(), ChunkerPolynomial: testPol, PackSize: 1 << 20}
	asked := func(context.Context, string, bool) ([]byte, error) {
		t.Error("a password was asked for")
		return nil, errors.New("no")
	}
	ring, err := Init(context.Background(), be, &rc, Options{Key: src.ring.Master(), KeyFiles: srcFiles, Password: asked})
	if err != nil {
		t.Fatal(err)
	}
	if ring.Used() != "" || *ring.Master() != *src.ring.Master() {
		t.Errorf("used %q; same master key %v", ring.Used(), *ring.Master() == *src.ring.Master())
	}
	opened, err := Open(context.Background(), be, &rc, Options{Password: password("pw"), CacheDir: t.TempDir()})
	if err != nil || opened.Used() != src.keyID {
		t.Fatalf("the source's password on the copy: %v", err)
	}
	if _, err := Init(context.Background(), object.NewLocal(t.TempDir()), &rc, Options{Key: src.ring.Master()}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a master key without key files: %v", err)
	}
}

// A wrong password, an empty one or none fails with ErrPassword, names
// the problem, and writes nothing.
func TestOpenWrongPassword(t *testing.T) {
	t.Parallel()
	r := newRepo(t, "pw")
	before := files(t, r.dir)
	for _, pw := range []string{"wrong", ""} {
		if _, _, err := r.open(pw); !errors.Is(err, ErrPassword) || !strings.Contains(err.Error(), "password") {
			t.Errorf("password %q: %v", pw, err)
		}
	}
	rc := r.rc
	if _, err := Open(context.Background(), r.be, &rc, Options{CacheDir: r.cache}); !errors.Is(err, ErrPassword) || !strings.Contains(err.Error(), "STORAGE_PASSWORD") {
		t.Errorf("no password: %v", err)
	}
	if after := files(t, r.dir); len(after) != len(before) {
		t.Errorf("refused opens changed the repository: %v, then %v", before, after)
	}
	if fs := files(t, r.cache); len(fs) != 0 {
		t.Errorf("refused opens wrote %v", fs)
	}
}

func TestOpenNoKeyFiles(t *testing.T) {
	t.Parallel()
	r := newRepo(t, "pw")
	if err := os.RemoveAll(filepath.Join(r.dir, "keys")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.open("pw"); !errors.Is(err, ErrPassword) || !strings.Contains(err.Error(), "no key file") {
		t.Errorf("no key files: %v", err)
	}
}

// A key of another repository opens its key file but not this
// repository's sealed section.
func TestOpenOtherRepositorysKey(t *testing.T) {
	t.Parallel()
	a, b := newRepo(t, "pw"), newRepo(t, "pw")
	if err := os.RemoveAll(filepath.Join(a.dir, "keys")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(b.dir, "keys"), filepath.Join(a.dir, "keys")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.open("pw"); !errors.Is(err, ErrPassword) || !strings.Contains(err.Error(), "sealed config does not") {
		t.Errorf("b's key file in a: %v", err)
	}
	rc := a.rc
	if _, err := Open(context.Background(), a.be, &rc, Options{Key: b.ring.Master(), CacheDir: a.cache}); !errors.Is(err, ErrPassword) {
		t.Errorf("b's master key on a: %v", err)
	}
	// a sealed section naming another repository is damage
	rc = a.rc
	rc.ID = object.NewRepoID()
	if _, err := Open(context.Background(), a.be, &rc, Options{Key: a.ring.Master(), CacheDir: a.cache}); !errors.Is(err, object.ErrCorrupt) {
		t.Errorf("config.json's id changed: %v", err)
	}
}

// config.json is not authenticated: a plain config over key files, or
// of a repository this machine opened encrypted, is refused.
func TestOpenRefusesDowngrade(t *testing.T) {
	t.Parallel()
	r := newRepo(t, "pw")
	plain := r.rc
	plain.Encryption, plain.Version, plain.ChunkerPolynomial = nil, object.FormatVersion, r.pol
	if ring, err := Open(context.Background(), r.be, &plain, Options{CacheDir: r.cache}); !errors.Is(err, object.ErrCorrupt) || ring != nil ||
		!strings.Contains(err.Error(), "key file of an encrypted repository") {
		t.Errorf("plain config over key files: %v", err)
	}
	if _, _, err := r.open("pw"); err != nil { // this machine now knows it encrypted
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(r.dir, "keys")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), r.be, &plain, Options{CacheDir: r.cache}); !errors.Is(err, object.ErrCorrupt) || !strings.Contains(err.Error(), "encrypted before") {
		t.Errorf("plain config, no keys, known encrypted: %v", err)
	}
	// another machine has no memory of it: a plain repository
	if ring, err := Open(context.Background(), r.be, &plain, Options{CacheDir: t.TempDir()}); err != nil || ring != nil {
		t.Errorf("a plain repository: %v, %v", ring, err)
	}
}

// A damaged or misnamed key file is passed over; one that cannot be
// used (another KDF) does not lock out the others.
func TestDamagedKeyFiles(t *testing.T) {
	t.Parallel()
	r := newRepo(t, "pw")
	keys := filepath.Join(r.dir, "keys")
	other := cheapKeyFile(t, r.ring.Master(), "other", "1111")
	misnamed, _ := json.Marshal(other)
	bad := `{"id":"0000","created":"2024-01-01T00:00:00Z","kdf":"argon2id","params":{"N":65536,"r":8,"p":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA=="},"data":"AAAA"}`
	for name, body := range map[string]string{"0000": bad, "0001": "{not json", "2222": string(misnamed), ".hidden": string(misnamed)} {
		if err := os.WriteFile(filepath.Join(keys, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := LoadFiles(context.Background(), r.be)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	if len(ids) != 2 || ids[0] != "0000" || ids[1] != r.keyID {
		t.Errorf("loaded %v, want 0000 and %s", ids, r.keyID)
	}
	if _, _, err := r.open("pw"); err != nil {
		t.Errorf("the right password beside damaged key files: %v", err)
	}
}

// An open tries crypt.MaxKeyFiles key files; the key this machine
// opened the repository with last is tried first.
func TestOpenTriesRememberedKeyFirst(t *testing.T) {
	t.Parallel()
	r := newRepo(t, "pw")
	if _, _, err := r.open("pw"); err != nil { // remembered
		t.Fatal(err)
	}
	for i := range crypt.MaxKeyFiles {
		f := &crypt.KeyFile{ID: fmt.Sprintf("%04d", i), KDF: "none"}
		if err := putKeyFile(context.Background(), r.be, f); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := r.open("pw"); err != nil {
		t.Errorf("the remembered key: %v", err)
	}
	if err := os.Remove(filepath.Join(r.cache, r.rc.ID, "key")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.open("pw"); !errors.Is(err, ErrPassword) {
		t.Errorf("the key past %d unusable ones opened without being remembered: %v", crypt.MaxKeyFiles, err)
	}
}

func TestRingKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRepo(t, "first")
	ring, _, err := r.open("first")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Add(ctx, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("an empty password: %v", err)
	}
	// keys with chosen ids, cheap to open
	for _, id := range []string{"aa01", "aa02"} {
		if err := putKeyFile(ctx, r.be, cheapKeyFile(t, ring.Master(), "pw-"+id, id)); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := ring.List(ctx)
	if err != nil || len(keys) != 3 {
		t.Fatalf("keys %+v, %v", keys, err)
	}
	for _, k := range keys {
		if k.Current != (k.ID == ring.Used()) {
			t.Errorf("key %s current %v, opened with %s", k.ID, k.Current, ring.Used())
		}
	}
	for id, want := range map[string]error{"": ErrKeyNotFound, "nope": ErrKeyNotFound, "aa": ErrAmbiguous, ring.Used(): ErrInvalid} {
		if _, err := ring.Remove(ctx, id); !errors.Is(err, want) {
			t.Errorf("remove %q: %v, want %v", id, err, want)
		}
	}
	if k, err := ring.Remove(ctx, "aa01"); err != nil || k.ID != "aa01" {
		t.Fatalf("remove aa01: %+v, %v", k, err)
	}
	// opened by master key, no key is in use, but the last stays
	rc := r.rc
	byKey, err := Open(ctx, r.be, &rc, Options{Key: ring.Master(), CacheDir: r.cache})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := byKey.Remove(ctx, "aa02"); err != nil {
		t.Fatal(err)
	}
	if _, err := byKey.Remove(ctx, ring.Used()); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "last") {
		t.Errorf("remove the last key: %v", err)
	}
	if _, _, err := byKey.ChangePassword(ctx, []byte("x")); !errors.Is(err, ErrInvalid) {
		t.Errorf("change the password of a ring opened by master key: %v", err)
	}
}

// Add refuses a key an open would not try.
func TestAddStopsAtMaxKeyFiles(t *testing.T) {
	t.Parallel()
	r := newRepo(t, "pw")
	for i := 1; i < crypt.MaxKeyFiles; i++ {
		f := &crypt.KeyFile{ID: fmt.Sprintf("%04d", i), KDF: "none"}
		if err := putKeyFile(context.Background(), r.be, f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.ring.Add(context.Background(), []byte("one more")); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "as many as an open tries") {
		t.Errorf("key %d: %v", crypt.MaxKeyFiles+1, err)
	}
}

func TestChangePassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRepo(t, "old")
	ring, _, err := r.open("old")
	if err != nil {
		t.Fatal(err)
	}
	// asking which key is in use beside the change (a server answering
	// `key list`) reads it under the ring's lock (go test -race)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				ring.Used()
			}
		}
	}()
	added, removed, err := ring.ChangePassword(ctx, []byte("new"))
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if removed.ID != r.keyID || ring.Used() != added.ID {
		t.Errorf("added %s, removed %s; the ring now uses %s", added.ID, removed.ID, ring.Used())
	}
	if keys, _ := ring.List(ctx); len(keys) != 1 || keys[0].ID != added.ID || !keys[0].Current {
		t.Errorf("keys after the change: %+v", keys)
	}
	if _, _, err := r.open("old"); !errors.Is(err, ErrPassword) {
		t.Errorf("the old password: %v", err)
	}
	if _, _, err := r.open("new"); err != nil {
		t.Errorf("the new password: %v", err)
	}
}

// racingKeyRemover plays a second process that, at the moment this one
// removes a key, removes every other key (each found the other's key not
// the last).
type racingKeyRemover struct{ object.Backend }

func (r racingKeyRemover) Delete(ctx context.Context, name string) error {
	if strings.HasPrefix(name, Prefix) {
		var others []string
		r.Backend.List(ctx, Prefix, func(fi object.FileInfo) error {
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
func TestRemoveRaceKeepsAKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRepo(t, "first")
	if err := putKeyFile(ctx, r.be, cheapKeyFile(t, r.ring.Master(), "second", "5555")); err != nil {
		t.Fatal(err)
	}
	rc := r.rc
	ring, err := Open(ctx, racingKeyRemover{r.be}, &rc, Options{Password: password("first"), CacheDir: r.cache})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Remove(ctx, "5555"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "put back") {
		t.Fatalf("remove beside a racing remover: %v, want a conflict with the key put back", err)
	}
	left, _ := LoadFiles(ctx, r.be)
	if len(left) != 1 || left[0].ID != "5555" {
		t.Fatalf("keys left: %d", len(left))
	}
	if _, _, err := r.open("second"); err != nil {
		t.Errorf("the key put back does not open the repository: %v", err)
	}
}

// Two inits at once on one place: the loser's key file stays beside the
// winner's, with the same password and another master key. Whichever
// sorts first, the password opens the repository with the winner's key.
func TestOpenSkipsAnotherInitsKey(t *testing.T) {
	t.Parallel()
	for _, loserID := range []string{"0000loser", "zzzzloser"} {
		r := newRepo(t, "pw")
		m, err := crypt.NewMasterKey()
		if err != nil {
			t.Fatal(err)
		}
		loser := cheapKeyFile(t, &m, "pw", loserID)
		if err := putKeyFile(context.Background(), r.be, loser); err != nil {
			t.Fatal(err)
		}
		ring, rc, err := r.open("pw")
		if err != nil {
			t.Fatalf("loser %s: %v", loserID, err)
		}
		if ring.Used() != r.keyID || *ring.Master() != *r.ring.Master() || rc.ChunkerPolynomial != r.pol {
			t.Errorf("loser %s: opened with %s, want %s", loserID, ring.Used(), r.keyID)
		}
	}
}
