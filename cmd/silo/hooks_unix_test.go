//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHookWritesTheCatalogue: an on_store hook that itself changes the
// catalogue (another silo process tagging the project) finishes, so the
// store does not hold the catalogue lock while its hooks run; a failing
// pre_store refuses the store with exit 1 and records nothing.
func TestHookWritesTheCatalogue(t *testing.T) {
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	src := filepath.Join(base, "src")
	writeStream(t, filepath.Join(src, "a.txt"), strings.NewReader("a"), 0o644)
	mustRun(t, repo, "init")
	cmd := siloCmd(t, repo, "store", "--project", "p", src)
	yaml := "storage:\n  hooks:\n    timeout: 20s\n" +
		"    pre_store: 'test \"$SILO_PROJECT_NAME\" != refused'\n" +
		"    on_store: '" + siloBin + " --repo " + repo + " projects set --tag +hooked \"$SILO_PROJECT_NAME\"'\n"
	if err := os.MkdirAll(filepath.Join(cmd.Dir, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cmd.Dir, "config", "storage.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := runCmd(t, cmd); res.code != 0 || res.took.Seconds() > 15 {
		t.Fatalf("store with an on_store hook that writes the catalogue: %s", res)
	}
	if out := mustRun(t, repo, "--json", "projects", "show", "p").stdout; !strings.Contains(out, `"hooked"`) {
		t.Errorf("the hook's tag is missing: %s", out)
	}
	refused := siloCmd(t, repo, "store", "--project", "refused", src)
	refused.Dir = cmd.Dir
	if res := runCmd(t, refused); res.code != 1 || !strings.Contains(res.stderr, "vetoed") || !strings.Contains(res.stderr, "nothing was recorded") {
		t.Errorf("vetoed store: %s", res)
	}
	if out := mustRun(t, repo, "projects", "list").stdout; strings.Contains(out, "refused") {
		t.Errorf("the vetoed project was recorded: %s", out)
	}
}
