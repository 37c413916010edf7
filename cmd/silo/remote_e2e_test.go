package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe runs `silo serve` on a free loopback port and waits until it
// answers; the process is stopped with SIGTERM at the end of the test.
func startServe(t testing.TB, repo, token string) (string, *exec.Cmd, *bytes.Buffer) {
	t.Helper()
	addr := freePort(t)
	cmd := siloCmd(t, repo, "--log-level", "info", "serve", "--addr", addr)
	cmd.Env = append(cmd.Env, "STORAGE_API_TOKEN="+token)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !exited(cmd.Process) {
			cmd.Process.Signal(syscall.SIGTERM)
		}
		cmd.Wait()
	})
	url := "http://" + addr
	if !waitFor(20*time.Second, func() bool {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}) {
		t.Fatalf("silo serve did not come up: %s", logs.String())
	}
	return url, cmd, &logs
}

// TestRemoteStoreRestoreList: commands keep working on a served
// repository; `store --remote` sends only chunks the server lacks,
// `restore --remote` brings the tree back exactly, `projects list
// --remote` lists; SIGTERM shuts down cleanly and the repository checks.
func TestRemoteStoreRestoreList(t *testing.T) {
	work := t.TempDir()
	repo := filepath.Join(work, "repo")
	mustRun(t, repo, "init")
	const token = "remote-test-token"
	url, srv, logs := startServe(t, repo, token)

	// the server holds nothing: local commands work beside it
	if res := run(t, repo, "projects", "list"); res.code != 0 {
		t.Fatalf("local command while served: %s", res)
	}

	src := filepath.Join(work, "src")
	genCorpus(t, src, 21, 12)
	want := takeManifest(t, src)
	store := func(extra ...string) map[string]any {
		t.Helper()
		args := append([]string{"--json", "store", "--remote", url, "--token", token, "--project", "remote-demo", "--tag", "r"}, extra...)
		res := mustRun(t, repo, append(args, src)...)
		lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
		var sum struct {
			Type   string         `json:"type"`
			Result map[string]any `json:"result"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Type != "summary" {
			t.Fatalf("store --remote summary %q: %v", lines[len(lines)-1], err)
		}
		return sum.Result
	}
	first := store()
	if first["created"] != true || first["blobs_uploaded"].(float64) < 20 || first["bytes_uploaded"].(float64) < 10<<20 {
		t.Fatalf("first remote store: %v", first)
	}
	// a script reads the version as from a local store's --json too
	if v, ok := first["version"].(string); !ok || first["snapshot"] != v {
		t.Fatalf("remote store names its version %v as version and %v as snapshot", first["version"], first["snapshot"])
	}
	// touch one file: only its chunks and the trees above it travel
	f := filepath.Join(src, "src", "pkg03", "sub0", "f0003.go")
	if err := os.WriteFile(f, []byte("package changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want = takeManifest(t, src)
	second := store("--type", "migration")
	up, present := second["blobs_uploaded"].(float64), second["blobs_present"].(float64)
	t.Logf("first store: %v blobs, %v bytes sent; second: %v blobs, %v bytes sent, %v of %v asked were present",
		first["blobs_uploaded"], first["bytes_uploaded"], up, second["bytes_uploaded"], present, second["blobs_asked"])
	if second["created"] != false || up > 6 || second["bytes_uploaded"].(float64) > 256<<10 {
		t.Fatalf("second remote store sent too much: %v", second)
	}
	st := second["stats"].(map[string]any)
	if st["files_unchanged"].(float64) < 50 || st["files_changed"].(float64) != 1 {
		t.Fatalf("second remote store did not reuse the parent: %v (present %v)", st, present)
	}

	dest := filepath.Join(work, "restored")
	mustRun(t, repo, "restore", "--remote", url, "--token", token, "remote-demo", dest)
	if d := want.Diff(takeManifest(t, dest)); len(d) > 0 {
		t.Fatalf("remote restore differs:\n  %s", strings.Join(d, "\n  "))
	}
	// the first version by prefix
	ver := first["version"].(string)
	dest1 := filepath.Join(work, "restored1")
	mustRun(t, repo, "restore", "--remote", url+"/api/storage", "--token", token, "remote-demo@"+ver[:10], dest1, "--include", "src/pkg03")
	if b, err := os.ReadFile(filepath.Join(dest1, "src", "pkg03", "sub0", "f0003.go")); err != nil || bytes.Contains(b, []byte("changed")) {
		t.Fatalf("restore of the first version: %v %q", err, b[:min(len(b), 40)])
	}
	if ents, _ := os.ReadDir(filepath.Join(dest1, "src")); len(ents) != 1 {
		t.Errorf("--include src/pkg03 restored %d entries under src", len(ents))
	}
	dest2 := filepath.Join(work, "restored2")
	mustRun(t, repo, "restore", "--remote", url, "--token", token, "--include", "src/pkg03", "--include", "src/pkg01", "remote-demo", dest2)
	for _, pkg := range []string{"pkg01", "pkg03"} {
		if d := manifestUnder(want, "src/"+pkg).Diff(takeManifest(t, filepath.Join(dest2, "src", pkg))); len(d) > 0 {
			t.Errorf("remote restore with two includes: src/%s differs: %q", pkg, d)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dest2, "src")); len(ents) != 2 {
		t.Errorf("two remote includes restored %d entries under src", len(ents))
	}

	res := mustRun(t, repo, "--json", "projects", "list", "--remote", url, "--token", token, "--tag", "r")
	var list struct {
		Projects []struct {
			Name, Type   string
			VersionCount int `json:"version_count"`
		}
	}
	if err := json.Unmarshal([]byte(res.stdout), &list); err != nil || len(list.Projects) != 1 ||
		list.Projects[0].Name != "remote-demo" || list.Projects[0].VersionCount != 2 || list.Projects[0].Type != "migration" {
		t.Fatalf("projects list --remote: %v %s", err, res.stdout)
	}
	res = mustRun(t, repo, "projects", "list", "--remote", url, "--token", token)
	if !strings.Contains(res.stdout, "remote-demo") {
		t.Fatalf("projects list --remote table: %s", res.stdout)
	}

	// errors: wrong token, unknown project, --token without --remote
	if res := run(t, repo, "projects", "list", "--remote", url, "--token", "wrong"); res.code != exitError || !strings.Contains(res.stderr, "401") {
		t.Errorf("wrong token: %s", res)
	}
	if res := run(t, repo, "restore", "--remote", url, "--token", token, "nope", filepath.Join(work, "x")); res.code != exitNotFound {
		t.Errorf("unknown project: %s", res)
	}
	if res := run(t, repo, "projects", "list", "--token", token); res.code != exitUsage {
		t.Errorf("--token without --remote: %s", res)
	}

	// a guide call against the process, then SIGTERM
	req, _ := http.NewRequest("POST", url+"/api/storage/cleanup?wait=true", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("cleanup: %d %s", resp.StatusCode, body)
	}
	srv.Process.Signal(syscall.SIGTERM)
	if !waitFor(20*time.Second, func() bool { return exited(srv.Process) }) {
		t.Fatalf("silo serve did not stop on SIGTERM: %s", logs.String())
	}
	if err := srv.Wait(); err != nil {
		t.Fatalf("silo serve exit: %v\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Errorf("serve log: %s", logs.String())
	}
	mustRun(t, repo, "check", "--read-data")
	restoreMatches(t, repo, "remote-demo", want)
}

// TestServeRefusesOpenAddressWithoutToken: binding beyond loopback needs a
// token.
func TestServeRefusesOpenAddressWithoutToken(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	res := run(t, repo, "serve", "--addr", "0.0.0.0:0")
	if res.code != exitUsage || !strings.Contains(res.stderr, "token") {
		t.Fatalf("serve on 0.0.0.0 without a token: %s", res)
	}
	res = run(t, repo, "serve", "--addr", "nonsense")
	if res.code != exitUsage {
		t.Fatalf("serve --addr nonsense: %s", res)
	}
	for _, addr := range []string{"127.0.0.1:1", "[::1]:1", "localhost:1"} {
		if err := checkServeAddr(addr, ""); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{":8080", "0.0.0.0:8080", "192.168.1.2:80", "example.com:80"} {
		if err := checkServeAddr(addr, ""); err == nil {
			t.Errorf("%s accepted without a token", addr)
		}
		if err := checkServeAddr(addr, "tok"); err != nil {
			t.Errorf("%s with a token: %v", addr, err)
		}
	}
}
