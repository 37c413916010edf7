package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLocalPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("USERPROFILE", home)
	for in, want := range map[string]string{
		"":                 "",
		"-":                "-",
		"s3://bucket/~/x":  "s3://bucket/~/x",
		"~":                home,
		"~/out":            filepath.Join(home, "out"),
		"~someone/out":     "~someone/out",
		"relative/~/out":   "relative/~/out",
		"/absolute/~/path": "/absolute/~/path",
	} {
		if got, err := localPath(in); err != nil || got != want {
			t.Errorf("localPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestCLITildePaths: every local path the command line takes accepts "~/"
// when no shell expanded it (exec, quotes, --flag=~/x, PowerShell): the
// repository (--repo), the directory stored, restore's and extract's
// destinations, the backup destination (--to, --from) and backup
// restore's --dest, import's and template add's sources.
func TestCLITildePaths(t *testing.T) {
	home := t.TempDir()
	src := filepath.Join(home, "src")
	genCorpus(t, src, 31, 1)
	work := t.TempDir() // the working directory, where an unexpanded "~" would land
	silo := func(args ...string) result {
		t.Helper()
		cmd := siloCmd(t, "~/repo", args...)
		cmd.Dir = work
		cmd.Env = append(cmd.Env, "HOME="+home, "USERPROFILE="+home)
		res := runCmd(t, cmd)
		if res.code != 0 {
			t.Fatalf("silo %s: %s", strings.Join(args, " "), res)
		}
		return res
	}
	silo("init")
	if _, err := os.Stat(filepath.Join(home, "repo", "config.json")); err != nil {
		t.Fatalf("--repo ~/repo: %v", err)
	}
	silo("store", "--project", "p", "~/src")
	silo("restore", "p", "~/out")
	silo("extract", "--dest=~/extracted", "p")
	silo("import", "--name", "imported", "~/src")
	silo("template", "add", "--category", "backend", "tpl", "~/src")
	res := silo("--json", "backup", "--to=~/backups", "--project", "p")
	id := strings.TrimSpace(res.stdout)
	if i := strings.Index(id, `"id":"`); i >= 0 {
		id = id[i+6:]
		id = id[:strings.IndexByte(id, '"')]
	} else {
		t.Fatalf("no backup id in %q", res.stdout)
	}
	silo("backup", "list", "--from", "~/backups")
	silo("backup", "restore", "--from", "~/backups", "--dest", "~/from-backup", id)

	want := takeManifest(t, src)
	for _, dir := range []string{"out", "extracted", filepath.Join("from-backup", "p")} {
		if d := want.Diff(takeManifest(t, filepath.Join(home, dir))); len(d) > 0 {
			t.Errorf("~/%s differs from the stored directory:\n  %s", filepath.ToSlash(dir), strings.Join(d, "\n  "))
		}
	}
	if _, err := os.Stat(filepath.Join(home, "backups", "config.json")); err != nil {
		t.Errorf("backup --to=~/backups: %v", err)
	}
	res = silo("--json", "snapshots")
	for _, p := range []string{`"p"`, `"imported"`} {
		if !strings.Contains(res.stdout, p) {
			t.Errorf("snapshots lists no project %s: %s", p, res.stdout)
		}
	}
	if _, err := os.Lstat(filepath.Join(work, "~")); err == nil {
		t.Errorf("a directory named ~ appeared in the working directory")
	}
}
