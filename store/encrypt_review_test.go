package store

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/silo-dev/silo/internal/testutil"
)

// Review: `silo index rebuild` of an encrypted repository.
func TestEncryptionReviewEncryptedRebuildIndex(t *testing.T) {
	ctx := context.Background()
	e := newEncryptedEnv(t, "pw")
	src := e.path("src")
	smallProject(t, src, 5, 256)
	want := takeManifest(t, src)
	e.save(t, src, "p")
	st, err := e.s.RebuildIndex(ctx, nil)
	if err != nil {
		t.Errorf("RebuildIndex: %v (stats: packs %d blobs %d bad %d salvaged %d skipped %d lost %d)", err, st.Packs, st.Blobs, len(st.BadPacks), len(st.Salvaged), len(st.Skipped), st.Lost)
	}
	restoreMatches(t, e.s, "p", want)
	checkClean(t, e.s)
}

// Review: a local encrypted repository keeps its index in the cache
// directory, per user/machine, but the code still treats it as "local"
// (index shared in the repository): no refresh on open, at session begin
// or under the catalogue lock.
func TestEncryptionReviewEncryptedLocalTwoCaches(t *testing.T) {
	ctx := context.Background()
	e := newEncryptedEnv(t, "pw") // "machine A"
	cfgB := *e.cfg
	cfgB.CacheDir = e.path("cache-b") // "machine B": same drive, its own cache
	openB := func() *Store {
		t.Helper()
		s, err := Open(ctx, Options{Config: &cfgB, Password: password("pw"), Now: e.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	big := testutil.RandomBytes(7, 3<<20)
	doomed := e.path("doomed")
	writeTree(t, doomed, map[string][]byte{"big.bin": big})
	e.save(t, doomed, "doomed")

	// B deletes the project and collects its packs
	b := openB()
	if _, err := b.Delete(ctx, "doomed", true); err != nil {
		t.Fatal(err)
	}
	rep, err := b.GC(ctx, GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("B's gc: %+v", rep.Result)
	// B stores another project
	other := e.path("other")
	smallProject(t, other, 3, 64)
	if _, err := b.Save(ctx, other, SaveOptions{Project: "other"}); err != nil {
		t.Fatal(err)
	}
	b.Close()

	// A reopened (index in its own cache) does not see B's project
	e.close(t)
	if e.s, err = e.openWith("pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Get("other"); err != nil {
		t.Errorf("A does not see the project B stored: %v", err)
	}
	// A stores the same content again: its index still lists the blobs B's gc deleted
	keep := e.path("keep")
	writeTree(t, keep, map[string][]byte{"big.bin": big})
	want := takeManifest(t, keep)
	e.save(t, keep, "keep")
	cfgB.CacheDir = e.path("cache-c") // a third cache: the index built from the packs
	b = openB()
	defer b.Close()
	dest := e.path("restored-by-b")
	if _, _, err := b.Restore(ctx, "keep", dest, RestoreOptions{}); err != nil {
		t.Errorf("B cannot restore the version A just stored: %v", err)
	} else if d := want.Diff(takeManifest(t, dest)); len(d) > 0 {
		t.Errorf("differs: %v", d)
	}
}

// Review: config.json and keys/ removed; `silo store` (Open with Create)
// makes a new plain repository over the sealed packs and writes plain data.
func TestEncryptionReviewEncryptedConfigRemovedCreate(t *testing.T) {
	ctx := context.Background()
	e := newEncryptedEnv(t, "pw")
	smallProject(t, e.path("src"), 5, 64)
	e.save(t, e.path("src"), "p")
	e.close(t)
	os.Remove(filepath.Join(e.cfg.BasePath, "config.json"))
	os.RemoveAll(filepath.Join(e.cfg.BasePath, "keys"))
	s, err := Open(ctx, Options{Config: e.cfg, Create: true, Now: e.clock.Now})
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	defer s.Close()
	writeTree(t, e.path("new"), map[string][]byte{"PLAINMARKER.txt": bytes.Repeat([]byte("PLAINTEXT-SECRET "), 100)})
	if _, err := s.Save(ctx, e.path("new"), SaveOptions{Project: "new"}); err != nil {
		t.Logf("save refused: %v", err)
		return
	}
	t.Errorf("a plain repository was created over sealed packs and written to; plaintext in %v", grepTree(t, e.cfg.BasePath, []byte("PLAINTEXT-SECRET")))
}

// Review: a key file with parameters out of bounds (or a future KDF) that
// sorts first makes every password fail.
func TestEncryptionReviewKeyFileBadParamsLocksOut(t *testing.T) {
	e := newEncryptedEnv(t, "pw")
	e.close(t)
	bad := `{"id":"0000","created":"2024-01-01T00:00:00Z","kdf":"argon2id","params":{"N":65536,"r":8,"p":1,"salt":"AAAAAAAAAAAAAAAAAAAAAA=="},"data":"AAAA"}`
	if err := os.WriteFile(filepath.Join(e.cfg.BasePath, "keys", "0000"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := e.openWith("pw")
	if err != nil {
		t.Errorf("the right password no longer opens the repository: %v", err)
		return
	}
	s.Close()
}

// Review: key add does not stop at crypt.MaxKeyFiles; the keys past it
// never open the repository.
func TestEncryptionReviewMoreKeysThanTried(t *testing.T) {
	ctx := context.Background()
	e := newEncryptedEnv(t, "pw")
	pws := map[string]string{}
	for i := range 20 {
		pw := fmt.Sprintf("pw-%d", i)
		k, err := e.s.AddKey(ctx, []byte(pw))
		if err != nil {
			t.Logf("key add %d refused: %v", i, err)
			return
		}
		pws[k.ID] = pw
	}
	keys, _ := e.s.Keys(ctx)
	last := keys[len(keys)-1]
	e.close(t)
	pw, ok := pws[last.ID]
	if !ok {
		pw = "pw"
	}
	s, err := e.openWith(pw)
	if err != nil {
		t.Errorf("%d keys; key %s (added without complaint) cannot open: %v", len(keys), last.ID, err)
		return
	}
	s.Close()
}

// Review: an uncompressed backup of an encrypted repository: recode,
// verify, restore into a primary, delete and gc at the destination.
func TestEncryptionReviewEncryptedUncompressedBackupCycle(t *testing.T) {
	ctx := context.Background()
	e := newEncryptedEnv(t, "pw")
	e.cfg.Backup.Compression = false
	src := e.path("src")
	writeTree(t, src, map[string][]byte{"a.txt": textBytes(1, 400<<10), "b.bin": testutil.RandomBytes(2, 200<<10)})
	want := takeManifest(t, src)
	e.save(t, src, "p")
	if _, err := e.s.Backup(ctx, BackupOptions{}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	writeTree(t, e.path("src2"), map[string][]byte{"c.txt": textBytes(3, 100<<10)})
	e.save(t, e.path("src2"), "q")
	br2, err := e.s.Backup(ctx, BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := OpenBackupsWith(ctx, e.cfg, e.cfg.Backup.Destination, nil, false, password("pw"))
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	vr, err := bs.Verify(ctx, "latest", true)
	if err != nil || vr.Missing+vr.Corrupt > 0 {
		t.Fatalf("verify: %v %+v", err, vr)
	}
	pcfg := testConfig(e.path("prim"))
	if _, err := bs.Restore(ctx, "latest", RestoreBackupOptions{Primary: pcfg}); err != nil {
		t.Fatal(err)
	}
	prim, err := Open(ctx, Options{Config: pcfg, Password: password("pw")})
	if err != nil {
		t.Fatal(err)
	}
	restoreMatches(t, prim, "p", want)
	checkClean(t, prim)
	prim.Close()
	all, _ := bs.List(ctx)
	var first string
	for _, r := range all {
		if r.ID != br2.ID {
			first = r.ID
		}
	}
	if _, err := bs.Delete(ctx, []string{first}, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	vr, err = bs.Verify(ctx, "latest", true)
	if err != nil || vr.Missing+vr.Corrupt > 0 {
		t.Fatalf("verify after delete+gc: %v %+v", err, vr)
	}
	out := e.path("out")
	if _, err := bs.Restore(ctx, "latest", RestoreBackupOptions{Dest: out}); err != nil {
		t.Fatal(err)
	}
	if d := want.Diff(takeManifest(t, filepath.Join(out, "p"))); len(d) > 0 {
		t.Fatalf("differs %v", d)
	}
}

// Review: two copies of one encrypted repository (cp -r, a cloned drive)
// share one index in the cache directory (keyed by repository id only).
func TestEncryptionReviewEncryptedCopiesShareIndex(t *testing.T) {
	ctx := context.Background()
	e := newEncryptedEnv(t, "pw")
	smallProject(t, e.path("src"), 5, 64)
	e.save(t, e.path("src"), "p")
	e.close(t)
	copyDir := e.path("repo-copy")
	if out, err := exec.Command("cp", "-a", e.cfg.BasePath, copyDir).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cfgB := *e.cfg
	cfgB.BasePath = copyDir
	b, err := Open(ctx, Options{Config: &cfgB, Password: password("pw"), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	big := testutil.RandomBytes(11, 2<<20)
	writeTree(t, e.path("q"), map[string][]byte{"big.bin": big})
	want := takeManifest(t, e.path("q"))
	if _, err := b.Save(ctx, e.path("q"), SaveOptions{Project: "q"}); err != nil {
		t.Fatal(err)
	}
	b.Close()
	// the original stores the same content
	var err2 error
	if e.s, err2 = e.openWith("pw"); err2 != nil {
		t.Fatal(err2)
	}
	e.save(t, e.path("q"), "q2")
	// a fresh cache (another machine) reads the original
	cfgC := *e.cfg
	cfgC.CacheDir = e.path("cache-c")
	c, err := Open(ctx, Options{Config: &cfgC, Password: password("pw"), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dest := e.path("out")
	if _, _, err := c.Restore(ctx, "q2", dest, RestoreOptions{}); err != nil {
		t.Errorf("the original's new version is broken: %v", err)
	} else if d := want.Diff(takeManifest(t, dest)); len(d) > 0 {
		t.Errorf("differs %v", d)
	}
}
