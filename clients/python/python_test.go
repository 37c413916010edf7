// Package python runs the Python client's own tests (unittest, with the
// machine's python3) from `go test ./...`, so the README's one test command
// and .ci/run cover them: they build silo from this checkout and start a
// real `silo serve` on 127.0.0.1.
package python

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestPythonClient(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 here: the Python client's tests need it")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-m", "unittest", "discover", "-s", "tests", "-v")
	cmd.Dir = wd
	cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(wd, "src")+string(os.PathListSeparator)+filepath.Join(wd, "tests"),
		"PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("python3 -m unittest: %v", err)
	}
}
