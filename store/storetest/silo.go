package storetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RunWithSilo builds the silo command from pkg (a package path relative to
// the test's directory, such as "../cmd/silo"), sets *bin to the binary,
// runs the tests and removes the binary; TestMain passes the result to
// os.Exit.
func RunWithSilo(m *testing.M, pkg string, bin *string) int {
	dir, err := os.MkdirTemp("", "silo-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "silo")
	build := exec.Command("go", "build", "-o", *bin, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building silo for the process tests:", err)
		return 1
	}
	return m.Run()
}

// SiloCmd prepares `BIN --repo REPO args...` in an empty working directory
// with no STORAGE_* variables, so no local configuration leaks in, and that
// directory as XDG_CACHE_HOME (S3 repositories keep their index cache there).
func SiloCmd(t testing.TB, bin, repo string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--repo", repo}, args...)...)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STORAGE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "XDG_CACHE_HOME="+cmd.Dir)
	return cmd
}
