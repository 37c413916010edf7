package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/silo-dev/silo/object"
)

// failingStager is a local destination whose PutFile (the commit of a
// staged pack) fails from the failAt-th call on, leaving the staged file
// where it was: the backup (its discard of what it did not commit, or the
// destination's close) must remove it.
type failingStager struct {
	*object.Local
	mu           sync.Mutex
	puts, failAt int
}

func (f *failingStager) PutFile(ctx context.Context, name, path string) error {
	f.mu.Lock()
	f.puts++
	fail := f.puts >= f.failAt
	f.mu.Unlock()
	if fail {
		return errors.New("no space left on device")
	}
	return f.Local.PutFile(ctx, name, path)
}

// A backup whose commit of staged packs fails part of the way fails,
// indexes only the packs in place, leaves no staged file, and the next
// backup completes and verifies.
func TestBackupStagedCommitFails(t *testing.T) {
	w := newBackupWorld(t)
	ctx := context.Background()
	dest := w.cfg.Backup.Destination
	fs := &failingStager{Local: object.NewLocal(dest), failAt: 2}
	_, err := w.s.Backup(ctx, BackupOptions{Backend: fs})
	if fs.puts < 2 {
		t.Fatalf("only %d staged packs were committed: the test needs a backup of at least two packs", fs.puts)
	}
	if err == nil || !strings.Contains(err.Error(), "no space") || !strings.Contains(err.Error(), dest) {
		t.Fatalf("backup with a failing commit: %v", err)
	}
	filepath.WalkDir(filepath.Join(dest, "tmp"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
	bs := openBackups(t, w.s, dest)
	if gone := absentPacks(t, bs.dst); len(gone) > 0 {
		t.Errorf("the destination's index lists %d packs it lacks", len(gone))
	}
	if l, _ := bs.List(ctx); len(l) != 0 {
		t.Errorf("a record was written: %v", l)
	}
	bs.Close()
	br := w.backup(t, BackupOptions{})
	bs = openBackups(t, w.s, dest)
	verifyBackup(t, bs, br.ID)
}
