package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMount mounts a repository with a real FUSE mount (where /dev/fuse and
// fusermount are present, as on the CI machines), compares each version
// with a restore of it (diff -r, symlinks by target), follows the latest
// and tag links, is refused a write, and unmounts on SIGINT.
func TestMount(t *testing.T) {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse here")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		if _, err := exec.LookPath("fusermount"); err != nil {
			t.Skip("no fusermount here (install fuse3)")
		}
	}
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	src := filepath.Join(base, "src")
	genCorpus(t, src, 51, 6)
	mustRun(t, repo, "init")
	v1 := storeVersion(t, repo, "p", src)
	// the second version is tagged rel1; a third is the latest
	v2 := storeVersion(t, repo, "p", src, "--tag", "rel1")
	writeStream(t, filepath.Join(src, "src", "later.go"), strings.NewReader("package later\n"), 0o644)
	v3 := storeVersion(t, repo, "p", src)

	dir := filepath.Join(base, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := siloCmd(t, repo, "mount", dir)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		exec.Command("fusermount", "-u", "-z", dir).Run()
	})
	pdir := filepath.Join(dir, "projects", "p")
	if !waitFor(20*time.Second, func() bool { _, err := os.Lstat(filepath.Join(pdir, "latest")); return err == nil }) {
		t.Fatalf("the mount did not appear: %s", out.String())
	}
	for _, v := range []string{v1, v3} {
		rest := filepath.Join(base, "restore-"+v[:12])
		mustRun(t, repo, "restore", v, rest)
		if d, err := exec.Command("diff", "-r", "--no-dereference", rest, filepath.Join(pdir, v[:12])).CombinedOutput(); err != nil {
			t.Errorf("version %s differs between the mount and a restore: %v\n%s", v[:12], err, d)
		}
	}
	for link, want := range map[string]string{"latest": v3[:12], "rel1": v2[:12]} {
		if got, err := os.Readlink(filepath.Join(pdir, link)); err != nil || got != want {
			t.Errorf("%s -> %q (%v), want %s", link, got, err, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(pdir, "latest", "src", "later.go")); err != nil || string(b) != "package later\n" {
		t.Errorf("read through latest: %q %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(pdir, "latest", "new.txt"), []byte("x"), 0o644); err == nil {
		t.Error("a write into the mount succeeded")
	}
	// the stored modification times show
	fi, err := os.Stat(filepath.Join(pdir, v1[:12], "empty.txt"))
	want, _ := os.Stat(filepath.Join(src, "empty.txt"))
	if err != nil || !fi.ModTime().Equal(want.ModTime()) || fi.Mode().Perm() != 0o400 {
		t.Errorf("empty.txt in the mount: %v %v (%v), want mtime %v, mode 0400 (0600 without write bits)", fi.ModTime(), fi.Mode(), err, want.ModTime())
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("silo mount after SIGINT: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("silo mount did not end after SIGINT:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "unmounted") {
		t.Errorf("output: %s", out.String())
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Errorf("after unmount %s holds %v (%v)", dir, ents, err)
	}
}
