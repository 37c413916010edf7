package storetest

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTakeSeesEveryChange: a manifest changes with a file's content, mode
// and mtime, a directory's mtime and a symlink's target, and Diff names
// the path.
func TestTakeSeesEveryChange(t *testing.T) {
	root := t.TempDir()
	f := filepath.Join(root, "d", "f")
	if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(root, "d", "l")); err != nil {
		t.Fatal(err)
	}
	when := time.Unix(1_700_000_000, 123)
	changes := []struct {
		path string
		do   func() error
	}{
		{"d/f", func() error { return os.WriteFile(f, []byte("two"), 0o644) }},
		{"d/f", func() error { return os.Chmod(f, 0o400) }}, // the one bit Windows has
		{"d/f", func() error { return os.Chtimes(f, when, when) }},
		{"d", func() error { return os.Chtimes(filepath.Dir(f), when, when) }},
		{"d/l", func() error {
			os.Remove(filepath.Join(root, "d", "l"))
			return os.Symlink("g", filepath.Join(root, "d", "l"))
		}},
	}
	for _, c := range changes {
		before := Take(t, root)
		if d := before.Diff(Take(t, root)); len(d) != 0 {
			t.Fatalf("unchanged tree differs: %v", d)
		}
		if err := c.do(); err != nil {
			t.Fatal(err)
		}
		d := before.Diff(Take(t, root))
		found := false
		for _, line := range d {
			if line == `"`+c.path+`": got `+Take(t, root)[c.path]+`, want `+before[c.path] {
				found = true
			}
		}
		if !found {
			t.Errorf("change of %s not reported: %v", c.path, d)
		}
	}
}
