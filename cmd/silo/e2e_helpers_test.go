package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/store/storetest"
)

// siloBin is the silo binary TestMain builds for the process tests.
var siloBin string

func TestMain(m *testing.M) { os.Exit(storetest.RunWithSilo(m, ".", &siloBin)) }

// siloCmd is storetest.SiloCmd with the binary TestMain built.
func siloCmd(t testing.TB, repo string, args ...string) *exec.Cmd {
	t.Helper()
	return storetest.SiloCmd(t, siloBin, repo, args...)
}

type result struct {
	stdout, stderr string
	code           int
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout: %s\nstderr: %s", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// run runs silo to completion.
func run(t testing.TB, repo string, args ...string) result {
	t.Helper()
	return runCmd(t, siloCmd(t, repo, args...))
}

// runCmd runs a silo command that siloCmd prepared to completion.
func runCmd(t testing.TB, cmd *exec.Cmd) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return res
}

// mustRun runs silo and fails the test unless it exits 0.
func mustRun(t testing.TB, repo string, args ...string) result {
	t.Helper()
	res := run(t, repo, args...)
	if res.code != 0 {
		t.Fatalf("silo %s: %s", strings.Join(args, " "), res)
	}
	return res
}

// storeVersion runs `silo --json store` (with the flags in more) and
// returns the new snapshot id.
func storeVersion(t testing.TB, repo, project, dir string, more ...string) string {
	t.Helper()
	res := mustRun(t, repo, append(append([]string{"--json", "store", "--project", project}, more...), dir)...)
	var sum struct {
		Type   string `json:"type"`
		Result struct {
			Snapshot string `json:"snapshot"`
		} `json:"result"`
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Type != "summary" || len(sum.Result.Snapshot) != 64 {
		t.Fatalf("store summary %q: %v", lines[len(lines)-1], err)
	}
	return sum.Result.Snapshot
}

// ---- corpus ----

func rng(seed uint64) *rand.ChaCha8 {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(key)
}

func writeStream(t testing.TB, path string, r io.Reader, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.Copy(bw, r); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

var words = strings.Fields("func main package import return if else for range struct interface map string int error nil true false type var const go defer select case switch")

// textOf returns n bytes of pseudo-source text (compressible, and varied
// enough that its chunks differ).
func textOf(r *rand.ChaCha8, n int) []byte {
	var b bytes.Buffer
	var x [8]byte
	for b.Len() < n {
		r.Read(x[:])
		for _, c := range x[:6] {
			b.WriteString(words[int(c)%len(words)])
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d\n", x[6])
	}
	return b.Bytes()[:n]
}

// genCorpus writes a mixed project of about mib MiB under root: big random
// binaries, source-like text, small files, empty files and directories,
// symlinks, a few modes. seed varies the content.
func genCorpus(t testing.TB, root string, seed uint64, mib int) {
	t.Helper()
	r := rng(seed)
	budget := int64(mib) << 20
	// a third in three big binaries (one past the 8 MiB chunk maximum)
	bigs := []int64{budget / 6, budget / 9, budget / 18}
	for i, n := range bigs {
		writeStream(t, filepath.Join(root, "bin", fmt.Sprintf("blob%d.bin", i)), io.LimitReader(rng(seed*100+uint64(i)), n), 0o755)
		budget -= n
	}
	// medium assets
	for i := range 12 {
		n := int64(100<<10 + int(r.Uint64()%(900<<10)))
		writeStream(t, filepath.Join(root, "assets", fmt.Sprintf("a%02d.dat", i)), io.LimitReader(rng(seed*1000+uint64(i)), n), 0o644)
		budget -= n
	}
	// the rest in source-like text files, 2-64 KiB, in a nested layout
	for i := 0; budget > 0 || i < 60; i++ {
		n := 2<<10 + int(r.Uint64()%(62<<10))
		dir := filepath.Join(root, "src", fmt.Sprintf("pkg%02d", i%23), fmt.Sprintf("sub%d", i%3))
		writeStream(t, filepath.Join(dir, fmt.Sprintf("f%04d.go", i)), bytes.NewReader(textOf(r, n)), 0o644)
		budget -= int64(n)
	}
	writeStream(t, filepath.Join(root, "empty.txt"), strings.NewReader(""), 0o600)
	writeStream(t, filepath.Join(root, "ünïcødé ✓.md"), strings.NewReader("# unicode\n"), 0o644)
	for _, d := range []string{"build/cache", "empty-dir"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for target, name := range map[string]string{"src/pkg00": "current", "/nonexistent/target": "dangling", "../outside": "rel"} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// ---- manifests: a tree's exact state, to compare restores with ----

// manifest is a tree's exact state (see storetest.Manifest).
type manifest = storetest.Manifest

func takeManifest(t testing.TB, root string) manifest { return storetest.Take(t, root) }

// restoreMatches restores ref with the CLI into a new directory and
// compares it with want.
func restoreMatches(t testing.TB, repo, ref string, want manifest) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "restore")
	mustRun(t, repo, "restore", ref, dest)
	if d := want.Diff(takeManifest(t, dest)); len(d) > 0 {
		t.Fatalf("restore of %s differs:\n  %s", ref, strings.Join(d, "\n  "))
	}
	os.RemoveAll(dest)
}

// waitFor polls cond every few milliseconds until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(3 * time.Millisecond)
	}
	return cond()
}
