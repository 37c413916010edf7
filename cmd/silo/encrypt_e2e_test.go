package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runEnv runs silo with extra environment variables.
func runEnv(t *testing.T, repo string, env []string, args ...string) result {
	t.Helper()
	cmd := siloCmd(t, repo, args...)
	cmd.Env = append(cmd.Env, env...)
	return runCmd(t, cmd)
}

// TestEncryptedCLI: `init --encrypt`, every password source, a wrong
// password (exit 1, named, nothing written), the key commands, and a
// served encrypted repository used through the blob protocol.
func TestEncryptedCLI(t *testing.T) {
	work := t.TempDir()
	repo := filepath.Join(work, "repo")
	pw := []string{"STORAGE_PASSWORD=correct-horse"}
	if res := runEnv(t, repo, pw, "--json", "init", "--encrypt"); res.code != 0 || !strings.Contains(res.stdout, `"encrypted":true`) {
		t.Fatalf("init --encrypt: %s", res)
	}
	src := filepath.Join(work, "src")
	genCorpus(t, src, 31, 3)
	if err := os.WriteFile(filepath.Join(src, "SECRETNAME-77.txt"), bytes.Repeat([]byte("MARKER-plain "), 500), 0o644); err != nil {
		t.Fatal(err)
	}
	want := takeManifest(t, src)
	if res := runEnv(t, repo, pw, "store", "--project", "enc", src); res.code != 0 {
		t.Fatalf("store: %s", res)
	}
	// no password on a non-terminal: exit 1 naming the ways to give one
	if res := run(t, repo, "projects", "list"); res.code != 1 || !strings.Contains(res.stderr, "STORAGE_PASSWORD") {
		t.Fatalf("no password: %s", res)
	}
	// a wrong one: exit 1, says so, writes nothing
	before := listTree(t, repo)
	if res := runEnv(t, repo, []string{"STORAGE_PASSWORD=wrong"}, "store", "--project", "enc2", src); res.code != 1 || !strings.Contains(res.stderr, "wrong password") {
		t.Fatalf("wrong password: %s", res)
	}
	if after := listTree(t, repo); after != before {
		t.Errorf("a wrong password changed the repository:\n%s\nthen\n%s", before, after)
	}
	// --password-file and --password-command
	pwFile := filepath.Join(work, "pw")
	os.WriteFile(pwFile, []byte("correct-horse\n"), 0o600)
	dest := filepath.Join(work, "r1")
	if res := run(t, repo, "--password-file", pwFile, "restore", "enc", dest); res.code != 0 {
		t.Fatalf("restore with --password-file: %s", res)
	}
	if d := want.Diff(takeManifest(t, dest)); len(d) > 0 {
		t.Fatalf("restore differs: %v", d)
	}
	if res := run(t, repo, "--password-command", "echo correct-horse", "check", "--read-data"); res.code != 0 {
		t.Fatalf("check with --password-command: %s", res)
	}
	// key add, list, passwd, remove
	newPw := filepath.Join(work, "pw2")
	os.WriteFile(newPw, []byte("battery-staple\n"), 0o600)
	if res := runEnv(t, repo, pw, "key", "add", "--new-password-file", newPw); res.code != 0 {
		t.Fatalf("key add: %s", res)
	}
	res := runEnv(t, repo, []string{"STORAGE_PASSWORD=battery-staple"}, "--json", "key", "list")
	var keys []struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &keys); err != nil || len(keys) != 2 {
		t.Fatalf("key list: %v %s", err, res)
	}
	var old string
	for _, k := range keys {
		if !k.Current {
			old = k.ID
		}
	}
	if res := runEnv(t, repo, []string{"STORAGE_PASSWORD=battery-staple"}, "key", "remove", old); res.code != 0 {
		t.Fatalf("key remove: %s", res)
	}
	if res := runEnv(t, repo, pw, "projects", "list"); res.code != 1 {
		t.Fatalf("the removed key's password still opens: %s", res)
	}
	os.WriteFile(newPw, []byte("third-one\n"), 0o600)
	if res := runEnv(t, repo, []string{"STORAGE_PASSWORD=battery-staple"}, "key", "passwd", "--new-password-file", newPw); res.code != 0 {
		t.Fatalf("key passwd: %s", res)
	}
	third := []string{"STORAGE_PASSWORD=third-one"}
	if res := runEnv(t, repo, third, "key", "remove", "nonexistent"); res.code != 5 {
		t.Fatalf("remove an unknown key: %s", res)
	}

	// served: the blob protocol computes keyed ids with the id key
	srv := siloCmd(t, repo, "--log-level", "info", "serve", "--addr", freePort(t))
	addr := srv.Args[len(srv.Args)-1]
	srv.Env = append(srv.Env, third...)
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	url := "http://" + addr
	if !waitFor(20e9, func() bool { return run(t, repo, "projects", "list", "--remote", url).code == 0 }) {
		t.Fatalf("serve did not come up: %s", logs.String())
	}
	if res := run(t, repo, "store", "--remote", url, "--project", "enc", src); res.code != 0 || !strings.Contains(res.stdout, "0 new") {
		t.Fatalf("store --remote into an encrypted repository: %s", res)
	}
	dest2 := filepath.Join(work, "r2")
	if res := run(t, repo, "restore", "--remote", url, "enc", dest2); res.code != 0 {
		t.Fatalf("restore --remote from an encrypted repository: %s", res)
	}
	if d := want.Diff(takeManifest(t, dest2)); len(d) > 0 {
		t.Fatalf("remote restore differs: %v", d)
	}
}

// listTree lists every file under root with its size and mtime, one per
// line: what a refused command must leave as it was.
func listTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				fmt.Fprintf(&b, "%s %d %d\n", p, fi.Size(), fi.ModTime().UnixNano())
			}
		}
		return nil
	})
	return b.String()
}
