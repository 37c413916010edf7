package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name: "restore",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "include", Usage: "restore only this `PATH` (a file or subtree; repeatable), keeping its path under DEST"},
			&cli.BoolFlag{Name: "continue-on-error", Usage: "restore everything damaged data does not break, list what it does (exit 3)"},
		},
		Before: func(c *cli.Context) error {
			if c.Bool("continue-on-error") && c.String("remote") != "" {
				return usagef("--continue-on-error works on a local repository only (not with --remote)")
			}
			return nil
		},
		Action: withStore(2, 2, true, false, func(e *env, s *store.Store, a []string) error {
			c := e.c
			dest, err := localPath(a[1])
			if err != nil {
				return err
			}
			rep, prog := e.progress("restore")
			st, info, err := s.Restore(c.Context, a[0], dest, store.RestoreOptions{Include: c.StringSlice("include"), Progress: prog,
				ContinueOnError: c.Bool("continue-on-error")})
			rep.Finish()
			return e.showAll(summary{Type: "summary", Op: "restore", Data: map[string]any{"snapshot": info.ID, "project": info.ProjectName, "stats": st}},
				st != nil, err, func() { printRestore(e, info, dest, st) })
		}),
	}
}

func printRestore(e *env, info store.SnapshotInfo, dest string, st *snapshot.RestoreStats) {
	e.printf("restored %s@%s to %s: %d files, %d dirs, %d symlinks, %s in %.2fs (%s)\n",
		info.ProjectName, info.ID[:12], dest, st.Files, st.Dirs, st.Symlinks, human(st.Bytes),
		st.Duration.Seconds(), rate(st.Bytes, st.Duration))
	noteSkippedLinks(st.SymlinksSkipped)
	for _, sk := range st.Skipped {
		fmt.Fprintf(os.Stderr, "not restored: %s: %s\n", quoteName(sk.Path), quoteName(sk.Reason))
	}
	if n := len(st.Skipped); n > 0 {
		fmt.Fprintf(os.Stderr, "%d entries not restored: damaged data (silo check --read-data names the damage)\n", n)
	}
}

// noteSkippedLinks says on stderr how many symlinks a restore left out
// because this process may not create one (each was logged as a warning
// naming it).
func noteSkippedLinks(n int64) {
	plural := func(n int64) string {
		if n == 1 {
			return ""
		}
		return "s"
	}
	if n > 0 {
		fmt.Fprintf(os.Stderr, "%d symlink%s not restored: this process may not create symbolic links "+
			"(on Windows: turn on Developer Mode, or run with the SeCreateSymbolicLinkPrivilege)\n", n, plural(n))
	}
}
