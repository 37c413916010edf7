package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store/config"
)

// TestRegisterBackend: a scheme registered with RegisterBackend opens
// through its opener, as a repository and a backup destination, and is
// remote like s3:// (its index lives in the cache directory).
func TestRegisterBackend(t *testing.T) {
	root := t.TempDir()
	opened := 0
	err := RegisterBackend("testfs", func(_ context.Context, location string, _ *config.Config) (object.Backend, error) {
		opened++
		// only the Backend methods: a store of its own, not a local directory
		return struct{ object.Backend }{object.NewLocal(filepath.Join(root, strings.TrimPrefix(location, "testfs://")))}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := RegisterBackend("testfs", nil); !errors.Is(err, ErrExists) {
		t.Errorf("second registration: %v", err)
	}
	if err := RegisterBackend("s3", nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("registering s3: %v", err)
	}
	if !IsRemote("testfs://repo") || IsRemote("unknown://x") {
		t.Error("IsRemote does not know the registered scheme")
	}
	cfg := testConfig(t.TempDir())
	if err := cfg.Set("base_path", "testfs://repo", "test"); err != nil {
		t.Fatalf("config refuses the registered scheme: %v", err)
	}
	ctx := context.Background()
	s, err := Open(ctx, Options{Config: cfg, Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := filepath.Join(t.TempDir(), "src")
	writeFile(t, src, "a.txt", []byte("through a registered backend"))
	want := takeManifest(t, src)
	if _, err := s.Save(ctx, src, SaveOptions{Project: "p"}); err != nil {
		t.Fatal(err)
	}
	restoreMatches(t, s, "p", want)
	if !strings.HasPrefix(s.BaseDir(), cfg.CacheDir) {
		t.Errorf("the index of a registered remote lives in %s, not the cache directory", s.BaseDir())
	}
	if _, err := s.Backup(ctx, BackupOptions{To: "testfs://backup"}); err != nil {
		t.Fatal(err)
	}
	if opened < 2 {
		t.Errorf("the opener ran %d times", opened)
	}
	checkClean(t, s)
}
