package main

import (
	"embed"
	"strings"
)

// helpFiles are the long descriptions of the commands (their --help
// text below the synopsis), one file a command.
//
//go:embed help/*.txt
var helpFiles embed.FS

// help is the description of a command in help/<name>.txt.
func help(name string) string {
	b, err := helpFiles.ReadFile("help/" + name + ".txt")
	if err != nil {
		panic("cmd/silo: no help text " + name + ".txt") // a build without it is a bug every test meets
	}
	return strings.TrimSuffix(string(b), "\n")
}
