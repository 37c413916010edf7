package workbench_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/workbench"
)

func writeCopy(files map[string]string) func(dir string) error {
	return func(dir string) error {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestPlaceReplaceClean: a placed copy is in use and its error names the
// project; a second Place without force is refused and changes nothing;
// with force the old copy's files are all gone; a failed build leaves the
// old copy and no temporary directory; Remove and Clean count what they
// free.
func TestPlaceReplaceClean(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &workbench.Cache{Dir: filepath.Join(t.TempDir(), "cache"), Now: func() time.Time { return t0 }}
	if err := c.InUse("wb"); err != nil {
		t.Fatalf("a free id is in use: %v", err)
	}
	if err := c.Place("wb", false, workbench.Info{ProjectID: "p1", Project: "alpha", Snapshot: "0123456789abcdef"}, writeCopy(map[string]string{"old.txt": "old"})); err != nil {
		t.Fatal(err)
	}
	err := c.InUse("wb")
	if !errors.Is(err, catalog.ErrExists) || !strings.Contains(err.Error(), `project "alpha" (version 0123456789ab)`) {
		t.Fatalf("in use: %v", err)
	}
	if err := c.Place("wb", false, workbench.Info{ProjectID: "p2", Project: "beta"}, writeCopy(map[string]string{"new.txt": "new"})); !errors.Is(err, catalog.ErrExists) {
		t.Fatalf("a second place without force: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.Path("wb"), "new.txt")); err == nil {
		t.Fatal("a refused place wrote into the workbench")
	}
	boom := errors.New("boom")
	if err := c.Place("wb", true, workbench.Info{ProjectID: "p2"}, func(string) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failed build: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(c.Path("wb"), "old.txt")); err != nil || string(b) != "old" {
		t.Fatalf("a failed build lost the old copy: %q %v", b, err)
	}
	if err := c.Place("wb", true, workbench.Info{ProjectID: "p2", Project: "beta", Snapshot: "fedcba"}, writeCopy(map[string]string{"new.txt": "new!"})); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.Path("wb"), "old.txt")); err == nil {
		t.Fatal("a forced place kept a file of the old copy")
	}
	ents, _ := os.ReadDir(c.Dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary %s left behind", e.Name())
		}
	}
	list, err := c.List()
	if err != nil || len(list) != 1 || list[0].Project != "beta" || list[0].ProjectID != "p2" || list[0].Bytes != 4 || !list[0].Created.Equal(t0) {
		t.Fatalf("list: %+v %v", list, err)
	}
	if n, freed := c.Remove("p1", false); n != 0 || freed != 0 {
		t.Fatalf("removing another project's copies removed %d (%d bytes)", n, freed)
	}
	if n, freed := c.Remove("p2", true); n != 1 || freed != 4 {
		t.Fatalf("dry run: %d copies, %d bytes; want 1, 4", n, freed)
	}
	if _, err := os.Stat(c.Path("wb")); err != nil {
		t.Fatal("a dry run removed the copy")
	}
	res, err := c.Clean(func(workbench.Entry) bool { return false }, false)
	if err != nil || res.Removed != 1 || res.FreedBytes != 4 {
		t.Fatalf("clean: %+v %v", res, err)
	}
	if _, err := os.Stat(c.Path("wb") + ".json"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the sidecar survived the clean: %v", err)
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"", ".hidden", "x.json", "a/b", ".."} {
		if err := workbench.CheckID(id); !errors.Is(err, catalog.ErrInvalid) {
			t.Errorf("CheckID(%q) = %v, want invalid", id, err)
		}
	}
	if err := workbench.CheckID("wb-1"); err != nil {
		t.Errorf("CheckID(wb-1): %v", err)
	}
}
