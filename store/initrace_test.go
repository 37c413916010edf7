package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-dev/silo/keyring"
	"github.com/silo-dev/silo/object"
)

// racingInit plays another process whose init writes config.json (of
// repository "winner") just before this one's.
type racingInit struct {
	object.Backend
	raced bool
}

func (r *racingInit) Put(ctx context.Context, name string, rd io.Reader, size int64) error {
	if name == object.ConfigName && !r.raced {
		r.raced = true
		winner := object.RepoConfig{Version: object.FormatVersion, ID: "winner", ChunkerPolynomial: "3da3358b4dc173", PackSize: 1 << 20}
		if err := object.SaveRepoConfig(ctx, r.Backend, winner); err != nil {
			return err
		}
	}
	return r.Backend.Put(ctx, name, rd, size)
}

// Two inits at once on one place: the one whose config.json lands second
// is told so (ErrExists, naming the winner) instead of reporting a
// repository that is not there, and takes away the key file it made; an
// open that creates the repository when it is missing opens the winner's.
func TestInitLosesARaceClearly(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t.TempDir())
	be := &racingInit{Backend: object.NewLocal(cfg.BasePath)}
	_, err := Init(ctx, Options{Config: cfg, Backend: be, Encrypt: true, Password: password("pw")})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "at the same time") || !strings.Contains(err.Error(), "winner") {
		t.Fatalf("an init that lost the race: %v", err)
	}
	if keys, _ := os.ReadDir(filepath.Join(cfg.BasePath, strings.TrimSuffix(keyring.Prefix, "/"))); len(keys) != 0 {
		t.Errorf("the loser left %d key file(s)", len(keys))
	}
	if b, err := os.ReadFile(filepath.Join(cfg.BasePath, object.ConfigName)); err != nil || !bytes.Contains(b, []byte(`"winner"`)) {
		t.Fatalf("config.json is not the winner's: %s %v", b, err)
	}

	cfg2 := testConfig(t.TempDir())
	s, err := Open(ctx, Options{Config: cfg2, Backend: &racingInit{Backend: object.NewLocal(cfg2.BasePath)}, Create: true})
	if err != nil {
		t.Fatalf("a creating open that lost the race: %v", err)
	}
	defer s.Close()
	if s.RepoConfig().ID != "winner" {
		t.Errorf("opened repository %q, want the winner's", s.RepoConfig().ID)
	}
}
