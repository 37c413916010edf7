package main

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestHelpFiles: every command has a usage line from its help file, and
// every help file belongs to a command (none is left over from a rename).
func TestHelpFiles(t *testing.T) {
	app := newApp()
	used := map[string]bool{"silo.txt": true}
	if app.Usage == "" || app.Description == "" {
		t.Fatalf("silo: usage %q, description %q", app.Usage, app.Description)
	}
	eachCommand(app, func(key string, c *cli.Command) {
		used[key+".txt"] = true
		if c.Usage == "" || strings.HasPrefix(c.Usage, "args: ") || strings.Contains(c.Usage, "\n") {
			t.Errorf("%s: usage %q", key, c.Usage)
		}
	})
	files, err := fs.Glob(helpFiles, "help/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !used[strings.TrimPrefix(f, "help/")] {
			t.Errorf("%s belongs to no command", f)
		}
	}
	if len(files) != len(used) {
		t.Errorf("%d help files for %d commands", len(files), len(used))
	}
	// the parts of a file: usage, argument synopsis, description
	if u, a, d := helpText("restore"); u == "" || a != "PROJECT[@SNAPSHOT]|SNAPSHOT DEST" || !strings.HasPrefix(d, "Recreates files") {
		t.Errorf("restore: usage %q, args %q, description %q", u, a, d)
	}
}
