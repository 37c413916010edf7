package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-dev/silo/hooks"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/store/config"
)

// Content filters: a matching file is stored as its clean command's
// output (the tree names the filter) and restored through smudge; other
// files are untouched; a failing clean stores nothing; a restore without
// the filter fails naming it.
func TestContentFilters(t *testing.T) {
	ctx := context.Background()
	upper := config.Filter{Name: "upper", Patterns: []string{"*.txt"}, Clean: "tr a-z A-Z", Smudge: "tr A-Z a-z"}
	e := newEnv(t, func(c *config.Config) { c.Filters = []config.Filter{upper} })
	src := e.path("src")
	text := strings.Repeat("hello filtered world\n", 5000) // ~100 KB: several pipe buffers
	writeTree(t, src, map[string][]byte{
		"notes.txt":     []byte(text),
		"sub/deep.txt":  []byte("second file\n"),
		"data.bin":      testutil.RandomBytes(5, 64<<10),
		"empty.txt":     nil,
		"sub/keep.json": []byte(`{"lower": "case"}`),
	})
	want := takeManifest(t, src)
	e.save(t, src, "f")
	info, err := e.s.ResolveSnapshot("f")
	if err != nil {
		t.Fatal(err)
	}
	for path, stored := range map[string]string{"notes.txt": strings.ToUpper(text), "sub/deep.txt": "SECOND FILE\n", "sub/keep.json": `{"lower": "case"}`} {
		fr, _, err := e.s.OpenFile(ctx, info, path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(fr)
		if string(b) != stored {
			t.Errorf("%s is stored as %.40q, want %.40q", path, b, stored)
		}
	}
	var filtered []string
	e.s.Ls(ctx, "f", "", func(en Entry) error {
		if en.Filter != "" {
			filtered = append(filtered, en.Path+":"+en.Filter)
		}
		return nil
	})
	if strings.Join(filtered, " ") != "empty.txt:upper notes.txt:upper sub/deep.txt:upper" {
		t.Errorf("filtered entries: %v", filtered)
	}
	restoreMatches(t, e.s, "f", want)
	checkClean(t, e.s)
	// an unchanged tree stores again (filtered files are read afresh) and restores the same
	e.save(t, src, "f")
	restoreMatches(t, e.s, "f", want)

	// a clean command that fails stores nothing and names the file
	e.cfg.Filters = []config.Filter{{Name: "broken", Patterns: []string{"*.txt"}, Clean: "echo no way >&2; exit 3", Smudge: "cat"}}
	_, err = e.s.Save(ctx, src, SaveOptions{Project: "g"})
	if err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "no way") || !strings.Contains(err.Error(), ".txt") {
		t.Fatalf("failing clean: %v", err)
	}
	if _, err := e.s.ResolveSnapshot("g"); err == nil {
		t.Error("a store whose filter failed was recorded")
	}
	// without the filter, a restore of its files fails naming it
	e.cfg.Filters = nil
	dest := e.path("out")
	if _, _, err := e.s.Restore(ctx, "f", dest, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), `"upper"`) {
		t.Fatalf("restore without the filter: %v", err)
	}
	// with other filters defined but not this one: the same, as invalid input
	e.cfg.Filters = []config.Filter{{Name: "other", Patterns: []string{"*.md"}, Clean: "cat", Smudge: "cat"}}
	os.RemoveAll(dest)
	_, _, err = e.s.Restore(ctx, "f", dest, RestoreOptions{})
	if !errors.Is(err, hooks.ErrUnknownFilter) || !errors.Is(err, ErrInvalid) || KindOf(err).Code != KindInvalid.Code || !strings.Contains(err.Error(), `"upper"`) {
		t.Fatalf("restore through a filter no longer defined: %v (kind %s)", err, KindOf(err).Code)
	}
	// a smudge that fails fails the restore
	e.cfg.Filters = []config.Filter{{Name: "upper", Patterns: []string{"*.txt"}, Clean: "cat", Smudge: "exit 4"}}
	os.RemoveAll(dest)
	if _, _, err := e.s.Restore(ctx, "f", dest, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "smudge") {
		t.Fatalf("failing smudge: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "sub", "keep.json")); !bytes.Equal(b, []byte(`{"lower": "case"}`)) && b != nil {
		t.Errorf("unfiltered file restored as %q", b)
	}
}
