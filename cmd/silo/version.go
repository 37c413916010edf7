package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version describes this build: the module version (a tagged release, a
// pseudo-version from `go install …@rev`, or "(devel)" for a build from a
// checkout) and, when built from a VCS checkout, the revision and its time,
// "+dirty" when the tree had changes.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		v += " revision " + rev
		if at != "" {
			v += " (" + at + ")"
		}
	}
	return fmt.Sprintf("%s, %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
