package catalog

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestChanges: Check refuses control characters and empty exclude
// patterns before anything is applied; Apply renames, retypes, adds and
// removes tags, replaces user languages and excludes (an empty list
// clears them) and stamps UpdatedAt, leaving what it is not given alone.
func TestChanges(t *testing.T) {
	for _, c := range []Changes{
		{AddTags: []string{"ok", "bad\x1b[31m"}},
		{Languages: []string{"go\n"}},
		{Excludes: []string{"  "}},
		{Excludes: []string{"a\x00b"}},
	} {
		if err := c.Check(); !errors.Is(err, ErrInvalid) {
			t.Errorf("Check(%+v) = %v, want invalid", c, err)
		}
	}
	git := "https://example.com/r.git"
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))
	r := &Record{ID: "id1", Name: "old", Type: TypeGeneration, Tags: []string{"a", "b"}, UserFrameworks: []string{"gin"},
		Excludes: []string{"dist/"}}
	c := Changes{Name: "new", Type: TypeMigration, GitRepository: &git, AddTags: []string{"c", "a"}, RemoveTags: []string{"b"},
		Languages: []string{"go", "go"}, Excludes: []string{}}
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(r, now); err != nil {
		t.Fatal(err)
	}
	if r.Name != "new" || r.Type != TypeMigration || r.GitRepository != git || !slices.Equal(r.Tags, []string{"a", "c"}) ||
		!slices.Equal(r.UserLanguages, []string{"go"}) || !slices.Equal(r.UserFrameworks, []string{"gin"}) || r.Excludes != nil ||
		!r.UpdatedAt.Equal(now) || r.UpdatedAt.Location() != time.UTC {
		t.Fatalf("applied: %+v", r)
	}
	if err := (Changes{Type: "library"}).Apply(r, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("an unknown type: %v", err)
	}
	if err := (Changes{Name: "bad/name"}).Apply(r, now); err == nil {
		t.Error("a malformed name was applied")
	}
}
