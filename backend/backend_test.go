package backend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store/config"
)

var runs atomic.Int64

// Register refuses the built-in schemes, malformed ones and a scheme
// twice; a registered scheme is remote and opens through its opener; a
// path opens the local filesystem; OpenObject refuses a URL that names
// no object before it connects.
func TestRegisterAndOpen(t *testing.T) {
	for _, bad := range []string{"", "s3", "azblob", "a:b", "a/b"} {
		if err := Register(bad, nil); !errors.Is(err, catalog.ErrInvalid) {
			t.Errorf("Register(%q) = %v, want invalid", bad, err)
		}
	}
	root := t.TempDir()
	var got string
	// the registry is the process's: a scheme of its own for each run
	// (go test -count N)
	scheme := fmt.Sprintf("unitfs%d", runs.Add(1))
	err := Register(scheme, func(_ context.Context, location string, _ *config.Config) (object.Backend, error) {
		got = location
		return object.NewLocal(root), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Register(scheme, nil); !errors.Is(err, catalog.ErrExists) {
		t.Errorf("a second registration: %v", err)
	}
	for loc, want := range map[string]bool{scheme + "://x": true, "s3://b/p": true, "/tmp/repo": false, "other://x": false, "repo": false} {
		if IsRemote(loc) != want {
			t.Errorf("IsRemote(%q) = %v", loc, !want)
		}
	}
	ctx := context.Background()
	cfg := config.Default()
	if _, err := Open(ctx, scheme+"://repo", cfg, nil); err != nil || got != scheme+"://repo" {
		t.Fatalf("the registered opener got %q: %v", got, err)
	}
	dir := filepath.Join(t.TempDir(), "repo")
	be, err := Open(ctx, dir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := object.PutNew(ctx, be, "probe", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "probe")); err != nil {
		t.Errorf("a path did not open the local filesystem: %v", err)
	}
	if _, err := OpenObject(ctx, "s3://bucket", cfg, nil); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("a URL naming no object: %v", err)
	}
}
