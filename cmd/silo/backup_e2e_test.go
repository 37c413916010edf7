package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// backupID runs `silo --json backup` and returns the record's id.
func backupID(t *testing.T, repo string, args ...string) string {
	t.Helper()
	res := mustRun(t, repo, append([]string{"--json", "backup"}, args...)...)
	var sum struct {
		Result struct {
			ID string `json:"id"`
		} `json:"result"`
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Result.ID == "" {
		t.Fatalf("backup summary %q: %v", lines[len(lines)-1], err)
	}
	return sum.Result.ID
}

// The unmounted drive, as a user meets it: a backup to a destination that
// was backed up to before and is now an empty mount point exits 1 naming
// it and asking whether the drive is mounted, and writes nothing there;
// with the drive back it works; --new-destination starts anew on purpose.
// A destination that lost a pack file its index lists is healed by the
// next backup, which then verifies and restores.
func TestCLIBackupDestination(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	src := filepath.Join(dir, "src")
	genCorpus(t, src, 12, 3)
	mustRun(t, repo, "init")
	storeVersion(t, repo, "p", src)
	mnt := filepath.Join(dir, "mnt", "x")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(mnt, "silo")
	backupID(t, repo, "--to", dest)

	// unmounted: the drive's content is elsewhere, the mount point is empty
	away := filepath.Join(dir, "drive-away")
	if err := os.Rename(dest, away); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	res := run(t, repo, "backup", "--to", dest)
	if res.code != 1 || !strings.Contains(res.stderr, dest) || !strings.Contains(res.stderr, "backed up there before: repository ") ||
		!strings.Contains(res.stderr, "is the drive mounted?") {
		t.Errorf("backup to the empty mount point: %s", res)
	}
	if ents, _ := os.ReadDir(dest); len(ents) > 0 {
		t.Errorf("the refused backup wrote %d entries into the empty mount point", len(ents))
	}

	// mounted again; then a pack file goes missing from the drive
	if err := os.Remove(dest); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(away, dest); err != nil {
		t.Fatal(err)
	}
	var lost string
	filepath.WalkDir(filepath.Join(dest, "packs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && lost == "" {
			lost = p
		}
		return nil
	})
	if lost == "" {
		t.Fatal("no pack in the destination")
	}
	if err := os.Remove(lost); err != nil {
		t.Fatal(err)
	}
	id := backupID(t, repo, "--to", dest)
	if _, err := os.Stat(lost); err != nil {
		t.Errorf("the backup did not copy the lost pack again: %v", err)
	}
	mustRun(t, repo, "backup", "verify", "--read-data", "--from", dest, id)
	out := filepath.Join(dir, "out")
	mustRun(t, repo, "backup", "restore", "--from", dest, "--dest", out, id)
	if d := takeManifest(t, src).Diff(takeManifest(t, filepath.Join(out, "p"))); len(d) > 0 {
		t.Errorf("restore from the healed backup differs:\n  %s", strings.Join(d, "\n  "))
	}

	// removed on purpose: refused, then started anew with --new-destination
	if err := os.RemoveAll(dest); err != nil {
		t.Fatal(err)
	}
	if res := run(t, repo, "backup", "--to", dest); res.code != 1 {
		t.Errorf("backup to the removed destination: %s", res)
	}
	id = backupID(t, repo, "--to", dest, "--new-destination")
	mustRun(t, repo, "backup", "verify", "--from", dest, id)
}

// The loss, from the command line: a backup of every project, a
// backup of one, then `backup expire --retention-days 0` keeps both
// records; `backup restore latest` brings back both projects, each as
// newly as it was backed up; `backup delete` removes one record by id.
func TestCLIBackupPerProjectRetention(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	dest := filepath.Join(dir, "bk")
	p, q := filepath.Join(dir, "p"), filepath.Join(dir, "q")
	genCorpus(t, p, 12, 3)
	genCorpus(t, q, 13, 3)
	mustRun(t, repo, "init")
	storeVersion(t, repo, "p", p)
	storeVersion(t, repo, "q", q)
	all := backupID(t, repo, "--to", dest)
	if err := os.WriteFile(filepath.Join(p, "later.txt"), []byte("later\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	storeVersion(t, repo, "p", p)
	one := backupID(t, repo, "--to", dest, "--project", "p")

	res := mustRun(t, repo, "backup", "expire", "--from", dest, "--retention-days", "0")
	if !strings.Contains(res.stdout, "expired 0 backups, kept 2") {
		t.Errorf("expire after a one-project backup: %s", res)
	}
	out := filepath.Join(dir, "out")
	res = mustRun(t, repo, "backup", "restore", "--from", dest, "--dest", out, "latest")
	if !strings.Contains(res.stdout, "restored 2 projects from backup latest") {
		t.Errorf("restore latest: %s", res)
	}
	for name, src := range map[string]string{"p": p, "q": q} {
		if d := takeManifest(t, src).Diff(takeManifest(t, filepath.Join(out, name))); len(d) > 0 {
			t.Errorf("%s from latest differs:\n  %s", name, strings.Join(d, "\n  "))
		}
	}
	if res := run(t, repo, "backup", "delete", "--from", dest, "latest"); res.code != 2 || !strings.Contains(res.stderr, "names no single backup") {
		t.Errorf("backup delete latest: %s", res)
	}
	res = mustRun(t, repo, "backup", "delete", "--from", dest, all)
	if !strings.Contains(res.stdout, "deleted 1 backups ("+all+"), kept 1") {
		t.Errorf("backup delete: %s", res)
	}
	res = mustRun(t, repo, "--json", "backup", "list", "--from", dest)
	if strings.Contains(res.stdout, all) || !strings.Contains(res.stdout, one) {
		t.Errorf("backup list after delete: %s", res.stdout)
	}
	mustRun(t, repo, "backup", "verify", "--read-data", "--from", dest, one)
}
