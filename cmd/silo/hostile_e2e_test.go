package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTar writes a tar of the given headers (regular files get Size bytes).
func writeTar(t *testing.T, path string, hdrs ...*tar.Header) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		h.Mode, h.ModTime, h.Format = 0o644, time.Unix(1700000000, 0), tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// `silo ls` (and diff, projects show) never print a stored name's control
// characters raw: a name with one is quoted like git quotes it; --json
// keeps the raw name. Tags with control characters are refused.
func TestE2ELsQuotesControlCharacters(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	esc := "\x1b]0;pwned\x07\x1b[31mred"
	tarPath := filepath.Join(dir, "esc.tar")
	writeTar(t, tarPath, &tar.Header{Name: esc, Size: 1}, &tar.Header{Name: "new\nline", Size: 1},
		&tar.Header{Name: "plain-ü", Size: 1}, &tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "\x1b[2J"})
	mustRun(t, repo, "import", "--name", "esc", tarPath)
	out := mustRun(t, repo, "ls", "esc").stdout
	if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `"\x1b]0;pwned\a\x1b[31mred"`) ||
		!strings.Contains(out, `"new\nline"`) || !strings.Contains(out, " plain-ü\n") || !strings.Contains(out, `-> "\x1b[2J"`) {
		t.Fatalf("silo ls printed:\n%q", out)
	}
	if lines := strings.Count(out, "\n"); lines != 4 {
		t.Errorf("%d lines for 4 entries:\n%s", lines, out)
	}
	js := mustRun(t, repo, "--json", "ls", "esc").stdout
	found := false
	for _, l := range strings.Split(strings.TrimSpace(js), "\n") {
		var e struct{ Path string }
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		found = found || e.Path == esc
	}
	if !found {
		t.Errorf("--json does not keep the raw name:\n%s", js)
	}
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	res := run(t, repo, "store", "--project", "esc", "--tag", "\x1b[31mred", src)
	if res.code != exitUsage || !strings.Contains(res.stderr, "tag") || strings.Contains(res.stderr, "\x1b") {
		t.Errorf("store with an escape in a tag: %s", res)
	}
}

// Tar imports: hard links count toward max_project_size (quota, exit 6), a
// name too long to restore is refused at import, and a 20,000-deep path
// is refused at once.
func TestE2EImportLimits(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	bomb := []*tar.Header{{Name: "big.bin", Size: 900_000}}
	for i := range 200 {
		bomb = append(bomb, &tar.Header{Name: fmt.Sprintf("l%d", i), Typeflag: tar.TypeLink, Linkname: "big.bin"})
	}
	writeTar(t, filepath.Join(dir, "bomb.tar"), bomb...)
	writeTar(t, filepath.Join(dir, "long.tar"), &tar.Header{Name: strings.Repeat("n", 300), Size: 2})
	writeTar(t, filepath.Join(dir, "deep.tar"), &tar.Header{Name: strings.Repeat("a/", 20000) + "f", Size: 4})
	writeTar(t, filepath.Join(dir, "deep3k.tar"), &tar.Header{Name: strings.Repeat("a/", 3000) + "f", Size: 4})
	writeTar(t, filepath.Join(dir, "toolong.tar"), &tar.Header{Name: strings.Repeat(strings.Repeat("n", 255)+"/", 256) + "x", Size: 1})

	cmd := siloCmd(t, repo, "import", "--name", "hb", filepath.Join(dir, "bomb.tar"))
	cmd.Env = append(cmd.Env, "STORAGE_MAX_PROJECT_SIZE=1MB")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitQuota || !strings.Contains(string(out), "storage.max_project_size, from env STORAGE_MAX_PROJECT_SIZE") {
		t.Errorf("hard-link bomb under 1MB: %v: %s", err, out)
	}
	res := run(t, repo, "import", "--name", "ln", filepath.Join(dir, "long.tar"))
	if res.code == 0 || !strings.Contains(res.stderr, "300 bytes long (at most 255") {
		t.Errorf("a 300-byte name: %s", res)
	}
	// a path 20,001 levels deep (40,001 bytes) imports, in linear memory
	res = run(t, repo, "import", "--name", "deep", filepath.Join(dir, "deep.tar"))
	if res.code != 0 || res.took > 15*time.Second {
		t.Errorf("a 20,001-deep path: %s", res)
	}
	res = run(t, repo, "import", "--name", "toolong", filepath.Join(dir, "toolong.tar"))
	if res.code == 0 || !strings.Contains(res.stderr, "65537 bytes long (at most 65536)") || len(res.stderr) > 1000 || res.took > 5*time.Second {
		t.Errorf("a 65,537-byte path: %s", res)
	}
	mustRun(t, repo, "check", "--read-data")
	// a path past PATH_MAX restores (every entry is made relative to its
	// directory's descriptor); restore holds one per level, so the
	// 20,001-deep one only where RLIMIT_NOFILE allows
	mustRun(t, repo, "import", "--name", "deep3k", filepath.Join(dir, "deep3k.tar"))
	restoreDeep(t, repo, "deep3k", 3001)
	if why := deepRestoreLimit(20001); why == "" {
		restoreDeep(t, repo, "deep", 20001)
	} else {
		t.Logf("the 20,001-deep version is not restored: %s", why)
	}
}

// serve answers the host of its own address besides loopback names (and
// api.allowed_hosts); a wildcard address adds nothing.
func TestListenHosts(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "127.0.0.1", "silo.internal:80": "silo.internal", "[fd00::1]:8080": "fd00::1",
		"0.0.0.0:8080": "", "[::]:8080": "", ":8080": "", "bad": "",
	} {
		if got := strings.Join(listenHosts(addr), ","); got != want {
			t.Errorf("listenHosts(%q) = %q, want %q", addr, got, want)
		}
	}
}

// restoreDeep restores a version of one file under depth-1 directories
// "a" with silo restore and reads it back (checkDeep).
func restoreDeep(t *testing.T, repo, ref string, depth int) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "restored")
	mustRun(t, repo, "restore", ref, dest)
	checkDeep(t, dest, ref, depth)
}
