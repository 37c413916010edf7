package snapshot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExcludesMatcher: patterns given, patterns from a file (CRLF), the
// directory's own .siloignore, a trailing slash for directories only,
// re-inclusion, the size rule and the cache-directory rule each decide
// as gitignore and the flags say; no rules give no matcher.
func TestExcludesMatcher(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, body string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(IgnoreFile, "*.log\n!keep.log\n")
	write("tmp/CACHEDIR.TAG", CacheDirSignature+"\n# a cache\n")
	write("fake/CACHEDIR.TAG", "not the signature\n")
	rules := filepath.Join(t.TempDir(), "rules")
	if err := os.WriteFile(rules, []byte("secret.txt\r\nbuild/\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Excludes{Patterns: []string{"/top.txt"}, Files: []string{rules}, LargerThan: 100, Caches: true}.Matcher(dir)
	if err != nil || m == nil {
		t.Fatalf("matcher: %v", err)
	}
	file := func(size uint64) *Node { return &Node{Type: File, Size: size} }
	d := &Node{Type: Dir}
	for _, c := range []struct {
		rel  string
		n    *Node
		want bool
	}{
		{"a.log", file(1), true},
		{"sub/b.log", file(1), true},
		{"keep.log", file(1), false},
		{"top.txt", file(1), true},
		{"sub/top.txt", file(1), false},
		{"secret.txt", file(1), true},
		{"build", d, true},
		{"build", file(1), false},
		{"big.bin", file(101), true},
		{"edge.bin", file(100), false},
		{"tmp", d, true},
		{"fake", d, false},
		{"src", d, false},
	} {
		if got := m(c.rel, c.n); got != c.want {
			t.Errorf("%s (%v): excluded %v, want %v", c.rel, c.n.Type, got, c.want)
		}
	}
	if m, err := (Excludes{}).Matcher(t.TempDir()); err != nil || m != nil {
		t.Errorf("no rules: matcher %v, %v; want none", m != nil, err)
	}
	if _, err := (Excludes{Files: []string{filepath.Join(dir, "missing")}}).Matcher(dir); err == nil || !strings.Contains(err.Error(), "exclude file") {
		t.Errorf("a missing exclude file: %v", err)
	}
}
