package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// The one expansion of "~" (ExpandHome, cutHome) and the platform's path
// forms, wherever a local path enters the configuration.

func TestCutHome(t *testing.T) {
	cases := []struct {
		p        string
		sep      byte
		rest     string
		expanded bool
	}{
		{"~", '/', "", true},
		{"~/", '/', "", true},
		{"~/silo", '/', "silo", true},
		{"~/a/b", '/', "a/b", true},
		{"~//x", '/', "/x", true},
		{`~\silo`, '/', "", false}, // Unix: a name holding '\'
		{`~\silo`, '\\', `silo`, true},
		{`~\AI-Projects\storage`, '\\', `AI-Projects\storage`, true},
		{"~/mixed", '\\', "mixed", true}, // Windows takes '/' too
		{"~", '\\', "", true},
		{"~user/silo", '/', "", false},
		{"~user", '\\', "", false},
		{"~~", '/', "", false},
		{"", '/', "", false},
		{"silo", '/', "", false},
		{"./~/silo", '/', "", false},
		{"/home/u/~", '/', "", false},
		{`D:\AI-Projects\storage`, '\\', "", false},
		{`\\server\share\x`, '\\', "", false},
	}
	for _, tc := range cases {
		rest, ok := cutHome(tc.p, tc.sep)
		if ok != tc.expanded || rest != tc.rest {
			t.Errorf("cutHome(%q, %q) = %q, %v; want %q, %v", tc.p, tc.sep, rest, ok, tc.rest, tc.expanded)
		}
	}
}

// setHome makes dir the home directory os.UserHomeDir reports, on Unix
// ($HOME) and Windows (%USERPROFILE%).
func setHome(t *testing.T, dir string) {
	t.Setenv("HOME", dir)
	t.Setenv("USERPROFILE", dir)
}

func TestExpandHome(t *testing.T) {
	home := t.TempDir()
	setHome(t, home)
	cases := map[string]string{
		"~":             home,
		"~/":            home,
		"~/silo":        filepath.Join(home, "silo"),
		"~/a/b/../c":    filepath.Join(home, "a", "c"),
		"~other/silo":   "~other/silo",
		"silo/~":        "silo/~",
		"":              "",
		"relative/path": "relative/path",
		"s3://b/~/x":    "s3://b/~/x",
	}
	// Windows also takes "~\...": elsewhere '\' is part of a name
	if filepath.Separator == '\\' {
		cases[`~\AI-Projects\storage`] = filepath.Join(home, "AI-Projects", "storage")
	} else {
		cases[`~\AI-Projects\storage`] = `~\AI-Projects\storage`
	}
	for p, want := range cases {
		got, err := ExpandHome(p)
		if err != nil || got != want {
			t.Errorf("ExpandHome(%q) = %q, %v; want %q", p, got, err, want)
		}
	}

	setHome(t, "")
	if _, err := ExpandHome("~/silo"); err == nil || !strings.Contains(err.Error(), `"~/silo"`) {
		t.Errorf("ExpandHome without a home directory = %v, want an error naming the path", err)
	}
	if got, err := ExpandHome("no/tilde"); err != nil || got != "no/tilde" {
		t.Errorf("ExpandHome(no/tilde) without a home directory = %q, %v", got, err)
	}
}

// TestHomeInEveryPath: "~/..." is the home directory in every local path
// the configuration takes, from the file, the environment and Set (which
// the CLI's --repo uses).
func TestHomeInEveryPath(t *testing.T) {
	home := t.TempDir()
	setHome(t, home)
	under := func(p string) string { return filepath.Join(home, p) }

	c := mustLoad(t, `storage:
  backup:
    destination: "~/backups"
  cache_dir: "~/cache"
  api:
    extract_roots: ["~/work", "~/more"]
    backup_destinations: "~/other-backups"
`, map[string]string{"STORAGE_BASE_PATH": "~/storage"})
	got := map[string]string{
		"base_path (env STORAGE_BASE_PATH)": c.BasePath,
		"backup.destination":                c.Backup.Destination,
		"cache_dir":                         c.CacheDir,
		"api.extract_roots[0]":              c.API.ExtractRoots[0],
		"api.extract_roots[1]":              c.API.ExtractRoots[1],
		"api.backup_destinations[0]":        c.API.BackupDestinations[0],
	}
	want := map[string]string{
		"base_path (env STORAGE_BASE_PATH)": under("storage"),
		"backup.destination":                under("backups"),
		"cache_dir":                         under("cache"),
		"api.extract_roots[0]":              under("work"),
		"api.extract_roots[1]":              under("more"),
		"api.backup_destinations[0]":        under("other-backups"),
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
	if err := c.Set("base_path", "~", "flag --repo"); err != nil || c.BasePath != home {
		t.Errorf("Set base_path ~: %v, %q", err, c.BasePath)
	}
	if err := c.Set("backup.destination", "~/b2", "flag"); err != nil || c.Backup.Destination != under("b2") {
		t.Errorf("Set backup.destination ~/b2: %v, %q", err, c.Backup.Destination)
	}
	// s3:// locations are not paths
	if err := c.Set("base_path", "s3://bucket/~/x", "flag"); err != nil || c.BasePath != "s3://bucket/~/x" {
		t.Errorf("Set base_path s3://bucket/~/x: %v, %q", err, c.BasePath)
	}
}

// TestWindowsPathForms: a Windows drive path and a UNC path are taken as
// given (never as URLs or mangled), and where a key wants an absolute path
// they pass exactly where the platform calls them absolute (Windows):
// nothing else insists on a leading '/'.
func TestWindowsPathForms(t *testing.T) {
	for _, p := range []string{`D:\AI-Projects\storage`, `\\server\share\silo`, `C:/Users/dev/storage`} {
		c := Default()
		for _, key := range []string{"base_path", "backup.destination", "cache_dir"} {
			if err := c.Set(key, p, "test"); err != nil {
				t.Errorf("Set %s %q: %v", key, p, err)
			}
		}
		if c.BasePath != p || c.Backup.Destination != p || c.CacheDir != p {
			t.Errorf("%q stored as %q, %q, %q", p, c.BasePath, c.Backup.Destination, c.CacheDir)
		}
		for _, key := range []string{"api.extract_roots", "api.backup_destinations"} {
			err := c.Set(key, p, "test")
			if abs := filepath.IsAbs(p); (err == nil) != abs {
				t.Errorf("Set %s %q: %v (absolute here: %v)", key, p, err, abs)
			}
			if err != nil && !strings.Contains(err.Error(), "not an absolute path") {
				t.Errorf("Set %s %q: %v", key, p, err)
			}
		}
	}
	// the storage guide's PowerShell setting, through the environment
	c := mustLoad(t, "", map[string]string{"STORAGE_BASE_PATH": `D:\AI-Projects\storage`})
	if c.BasePath != `D:\AI-Projects\storage` || c.Source("base_path") != "env STORAGE_BASE_PATH" {
		t.Errorf("STORAGE_BASE_PATH: %q from %q", c.BasePath, c.Source("base_path"))
	}
}

func TestCacheDirDefaultWithoutHome(t *testing.T) {
	local := filepath.Join(t.TempDir(), "AppData", "Local")
	c := mustLoad(t, "", map[string]string{"LOCALAPPDATA": local})
	if c.CacheDir != filepath.Join(local, "silo") {
		t.Errorf("cache dir with LOCALAPPDATA only = %q", c.CacheDir)
	}
	c = mustLoad(t, "", map[string]string{"LOCALAPPDATA": local, "HOME": "/home/u"})
	if c.CacheDir != filepath.Join("/home/u", ".cache", "silo") {
		t.Errorf("cache dir with HOME and LOCALAPPDATA = %q", c.CacheDir)
	}
	c = mustLoad(t, "", map[string]string{"LOCALAPPDATA": "relative"})
	if c.CacheDir != "" {
		t.Errorf("cache dir with a relative LOCALAPPDATA = %q", c.CacheDir)
	}
}
