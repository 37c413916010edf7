package main

import (
	"slices"
	"testing"
)

// reorderArgs puts flags typed after arguments in front of them (with
// their values), sends a global flag typed after the command back in front
// of it, keeps "--" and what follows as arguments, and leaves a command
// line already in order as it was (but for the "--" before arguments).
func TestReorderArgs(t *testing.T) {
	app := newApp()
	for _, c := range []struct{ in, want []string }{
		{[]string{"silo"}, []string{"silo"}},
		{[]string{"silo", "store", "dir", "--project", "x"}, []string{"silo", "store", "--project", "x", "--", "dir"}},
		{[]string{"silo", "store", "--project", "x", "dir"}, []string{"silo", "store", "--project", "x", "--", "dir"}},
		{[]string{"silo", "store", "dir", "--json", "--project", "x", "--", "--odd"},
			[]string{"silo", "--json", "store", "--project", "x", "--", "dir", "--", "--odd"}},
		{[]string{"silo", "--json", "projects", "list", "--tag", "t"}, []string{"silo", "--json", "projects", "list", "--tag", "t"}},
		{[]string{"silo", "restore", "p", "dest", "--include", "a/b"}, []string{"silo", "restore", "--include", "a/b", "--", "p", "dest"}},
		{[]string{"silo", "nosuch", "arg", "--flag"}, []string{"silo", "--flag", "--", "nosuch", "arg"}},
	} {
		if got := reorderArgs(app, c.in); !slices.Equal(got, c.want) {
			t.Errorf("reorderArgs(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}
