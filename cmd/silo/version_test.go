package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// silo --version names the build: module version, Go version, platform.
func TestVersionFlag(t *testing.T) {
	res := mustRun(t, filepath.Join(t.TempDir(), "repo"), "--version")
	out := strings.TrimSpace(res.stdout)
	if !strings.HasPrefix(out, "silo version ") || !strings.Contains(out, runtime.Version()) ||
		!strings.Contains(out, runtime.GOOS+"/"+runtime.GOARCH) {
		t.Errorf("--version: %q", out)
	}
}

// With --json, an error is also a JSON document on stdout, with the HTTP
// API's code, the message and the exit status; wherever --json stands.
func TestJSONErrors(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	mustRun(t, repo, "init")
	for _, c := range []struct {
		args []string
		code string
		exit int
		msg  string
	}{
		{[]string{"--json", "restore", "nosuch", filepath.Join(dir, "out")}, "not_found", 5, `"nosuch"`},
		{[]string{"restore", "nosuch", filepath.Join(dir, "out"), "--json"}, "not_found", 5, `"nosuch"`},
		{[]string{"--json", "store", "--no-such-flag", dir}, "invalid", 2, "no-such-flag"},
		{[]string{"--json", "snapshots", "a", "b", "c"}, "invalid", 2, "wrong number of arguments"},
	} {
		res := run(t, repo, c.args...)
		var doc struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
				Exit    int    `json:"exit"`
			} `json:"error"`
		}
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &doc); err != nil {
			t.Errorf("%v: stdout is not a JSON error: %v\n%s", c.args, err, res)
			continue
		}
		if res.code != c.exit || doc.Error.Code != c.code || doc.Error.Exit != c.exit || !strings.Contains(doc.Error.Message, c.msg) ||
			!strings.Contains(res.stderr, c.msg) {
			t.Errorf("%v: got %+v\n%s", c.args, doc.Error, res)
		}
	}
	// without --json, stdout stays empty
	if res := run(t, repo, "restore", "nosuch", filepath.Join(dir, "out")); res.stdout != "" || res.code != 5 {
		t.Errorf("plain error: %s", res)
	}
}

// silo dump writes one file's bytes to stdout and nothing else; silo find
// prints PROJECT@VERSION, time, type, size and path per match.
func TestDumpAndFindCLI(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	src := filepath.Join(dir, "src")
	genCorpus(t, src, 31, 2)
	if err := os.WriteFile(filepath.Join(src, "notes.txt"), []byte("hello from a version\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ver := storeVersion(t, repo, "p", src)
	res := mustRun(t, repo, "dump", "p@"+ver[:10], "notes.txt")
	if res.stdout != "hello from a version\n" {
		t.Errorf("dump: %q", res.stdout)
	}
	if r := run(t, repo, "dump", "p", "missing.txt"); r.code != 5 || r.stdout != "" {
		t.Errorf("dump of a missing file: %s", r)
	}
	res = mustRun(t, repo, "find", "notes.txt")
	if lines := strings.Split(strings.TrimSpace(res.stdout), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "p@"+ver[:12]) ||
		!strings.HasSuffix(lines[0], " notes.txt") {
		t.Errorf("find: %q", res.stdout)
	}
}
