package main

import (
	"github.com/silo-dev/silo/store"
	"github.com/silo-dev/silo/store/config"
)

// localPath is a path from the command line as silo uses it: a leading
// "~" is the home directory ("~", "~/..." and on Windows "~\..."), by the
// one expansion the configuration's paths go through (config.ExpandHome),
// so that `--to=~/backups` or a quoted "~/x" from a shell (or PowerShell,
// which leaves "~" to the program) means what it says. "-" (stdin) and
// s3:// locations are not paths and come back as they are.
func localPath(v string) (string, error) {
	if v == "" || v == "-" || store.IsRemote(v) {
		return v, nil
	}
	return config.ExpandHome(v)
}

// pathFlag is the string flag name as a local path (localPath).
func (e *env) pathFlag(name string) (string, error) {
	return localPath(e.c.String(name))
}
