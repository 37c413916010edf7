package main

import (
	"embed"
	"strings"

	"github.com/urfave/cli/v2"
)

// helpFiles hold what --help says of each command: help/<path>.txt, where
// path is the command's name with its parents' joined by "-" (backup-list)
// and silo.txt is the program's own.
//
//go:embed help/*.txt
var helpFiles embed.FS

// describe fills the usage line, argument synopsis and description of the
// app and of every command from their help files.
func describe(app *cli.App) {
	app.Usage, app.ArgsUsage, app.Description = helpText("silo")
	eachCommand(app, func(key string, c *cli.Command) {
		c.Usage, c.ArgsUsage, c.Description = helpText(key)
	})
}

// eachCommand calls fn for every command and subcommand of app, with the
// key of its help file (its name with its parents', joined by "-").
func eachCommand(app *cli.App, fn func(key string, c *cli.Command)) {
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			key := strings.TrimPrefix(prefix+"-"+c.Name, "-")
			fn(key, c)
			walk(key, c.Subcommands)
		}
	}
	walk("", app.Commands)
}

// helpText reads help/<key>.txt: its first line is the usage line, a
// second line "args: ..." the argument synopsis, and what follows a blank
// line the description.
func helpText(key string) (usage, args, desc string) {
	b, err := helpFiles.ReadFile("help/" + key + ".txt")
	if err != nil {
		panic("cmd/silo: no help text " + key + ".txt") // a bug every test of the CLI meets
	}
	usage, rest, _ := strings.Cut(strings.TrimSuffix(string(b), "\n"), "\n")
	if a, ok := strings.CutPrefix(rest, "args: "); ok {
		args, rest, _ = strings.Cut(a, "\n")
	}
	desc = strings.TrimPrefix(rest, "\n")
	return usage, args, desc
}
