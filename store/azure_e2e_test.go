package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object/azuritetest"
)

// TestAzureRepositoryAndBackup: azblob:// as a repository (store, restore,
// a second version, hard delete and gc, check, a second machine's empty
// index cache), as a backup destination (backup, primary lost, restore)
// and as an import source, on Azurite.
func TestAzureRepositoryAndBackup(t *testing.T) {
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", azuritetest.DevConnectionString(azuritetest.Start(t)))
	ctx := context.Background()
	dir := t.TempDir()
	cfg := testConfig(dir)
	cfg.BasePath = "azblob://silo-repo/r1"
	cfg.CacheDir = filepath.Join(dir, "cache-a")
	s, err := Open(ctx, Options{Config: cfg, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Location() != "azblob://silo-repo/r1" {
		t.Errorf("Location() = %s", s.Location())
	}
	src := filepath.Join(dir, "src")
	writeTree(t, src, map[string][]byte{"a.bin": testutil.RandomBytes(1, 3<<20), "docs/readme.md": textBytes(2, 20000)})
	want := takeManifest(t, src)
	r1, err := s.Save(ctx, src, SaveOptions{Project: "p"})
	if err != nil {
		t.Fatal(err)
	}
	restoreMatches(t, s, "p", want)
	writeFile(t, src, "docs/new.md", textBytes(3, 5000))
	want2 := takeManifest(t, src)
	if _, err := s.Save(ctx, src, SaveOptions{Project: "p"}); err != nil {
		t.Fatal(err)
	}
	restoreMatches(t, s, "p@"+r1.Snapshot.String()[:12], want)
	checkClean(t, s)

	// another machine: an empty index cache, rebuilt from the container
	cfgB := *cfg
	cfgB.CacheDir = filepath.Join(dir, "cache-b")
	sB, err := Open(ctx, Options{Config: &cfgB})
	if err != nil {
		t.Fatal(err)
	}
	restoreMatches(t, sB, "p", want2)
	sB.Close()

	// backup to Azure, primary lost, restore from it
	bcfg := testConfig(filepath.Join(dir, "local"))
	local, err := Open(ctx, Options{Config: bcfg, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := local.Save(ctx, src, SaveOptions{Project: "q"}); err != nil {
		t.Fatal(err)
	}
	br, err := local.Backup(ctx, BackupOptions{To: "azblob://silo-backup/b"})
	if err != nil {
		t.Fatal(err)
	}
	local.Close()
	os.RemoveAll(bcfg.BasePath)
	bs, err := OpenBackups(ctx, bcfg, "azblob://silo-backup/b", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	verifyBackup(t, bs, br.ID)
	out := filepath.Join(dir, "out")
	if _, err := bs.Restore(ctx, "latest", RestoreBackupOptions{Dest: out}); err != nil {
		t.Fatal(err)
	}
	if d := want2.Diff(takeManifest(t, filepath.Join(out, "q"))); len(d) > 0 {
		t.Errorf("restored from the Azure backup: %v", d)
	}

	// import of a missing object names it
	if _, err := s.Import(ctx, "azblob://silo-repo/nothing.tar.gz", nil, SaveOptions{Project: "imp"}); !errors.Is(err, ErrSourceNotFound) {
		t.Errorf("import of a missing azblob object: %v", err)
	}
	// hard delete and gc give the space back
	if _, err := s.Delete(ctx, "p", true); err != nil {
		t.Fatal(err)
	}
	g, err := s.GC(ctx, GCOptions{})
	if err != nil || g.Result.FreedBytes < 3<<20 {
		t.Fatalf("gc after the hard delete: %+v %v", g, err)
	}
	checkClean(t, s)
}
