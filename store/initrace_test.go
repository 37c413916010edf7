package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

// Many processes that find no repository at one place create it at once
// (an orchestrator's first stores on a fresh machine): exactly one
// config.json wins, every one of them opens that repository, and what each
// then stores restores from a store opened afresh. Encrypted, so that a
// process left with a master key of its own would be found out.
func TestConcurrentCreatingOpens(t *testing.T) {
	ctx := context.Background()
	for round := range 2 {
		cfg := testConfig(t.TempDir())
		const n = 6
		ids := make([]string, n)
		snaps := make([]object.ID, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				s, err := Open(ctx, Options{Config: cfg, Create: true, Encrypt: true, Password: password("pw"), LockTimeout: 30 * time.Second})
				if err != nil {
					t.Errorf("round %d, opener %d: %v", round, i, err)
					return
				}
				defer s.Close()
				ids[i] = s.RepoConfig().ID
				dir := filepath.Join(t.TempDir(), "src")
				writeFile(t, dir, "f.txt", textBytes(uint64(round*n+i), 2000))
				res, err := s.Save(ctx, dir, SaveOptions{Project: fmt.Sprintf("p%d", i)})
				if err != nil {
					t.Errorf("round %d, opener %d: store: %v", round, i, err)
					return
				}
				snaps[i] = res.Snapshot
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		rc, err := object.LoadRepoConfig(ctx, object.NewLocal(cfg.BasePath))
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			if id != rc.ID {
				t.Fatalf("round %d: opener %d opened repository %s, config.json is %s", round, i, id, rc.ID)
			}
		}
		if keys, _ := os.ReadDir(filepath.Join(cfg.BasePath, strings.TrimSuffix(keyring.Prefix, "/"))); len(keys) != 1 {
			t.Errorf("round %d: %d key files, want the winner's alone", round, len(keys))
		}
		s, err := Open(ctx, Options{Config: testConfig(t.TempDir()), Backend: object.NewLocal(cfg.BasePath), Password: password("pw")})
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range snaps {
			out := filepath.Join(t.TempDir(), "out")
			if _, _, err := s.Restore(ctx, id.String(), out, RestoreOptions{}); err != nil {
				t.Errorf("round %d: opener %d's version does not restore: %v", round, i, err)
			} else if b, err := os.ReadFile(filepath.Join(out, "f.txt")); err != nil || !bytes.Equal(b, textBytes(uint64(round*n+i), 2000)) {
				t.Errorf("round %d: opener %d's version restores differently (%v)", round, i, err)
			}
		}
		s.Close()
	}
}

// An encrypted init killed after its key file and before config.json
// leaves keys/ alone: a later init refuses the place (another init may be
// making it), says how to clear an interrupted one, and succeeds once
// keys/ is removed as it says.
func TestInitAfterInterruptedInit(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t.TempDir())
	s, err := Init(ctx, Options{Config: cfg, Encrypt: true, Password: password("pw")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	// the state of the kill: the key file, no config.json, nothing stored
	if err := os.Remove(filepath.Join(cfg.BasePath, object.ConfigName)); err != nil {
		t.Fatal(err)
	}
	_, err = Init(ctx, Options{Config: cfg, Encrypt: true, Password: password("pw")})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), "remove "+keyring.Prefix) {
		t.Fatalf("init over an interrupted init: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(cfg.BasePath, strings.TrimSuffix(keyring.Prefix, "/"))); err != nil {
		t.Fatal(err)
	}
	s, err = Init(ctx, Options{Config: cfg, Encrypt: true, Password: password("pw")})
	if err != nil {
		t.Fatalf("init after keys/ was removed as told: %v", err)
	}
	s.Close()
}
