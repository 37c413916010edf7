package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/store"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "restore a version into a directory",
		ArgsUsage: "PROJECT[@SNAPSHOT]|SNAPSHOT DEST",
		Description: "Recreates files, empty directories, symlinks, modes and mtimes with the project's\n" +
			"top level at DEST. SNAPSHOT may be a unique prefix of a snapshot id. Every blob is\n" +
			"verified; entries that would escape DEST are refused. A damaged blob stops the restore\n" +
			"(exit 3); with --continue-on-error everything else is restored, a file or directory\n" +
			"whose data is damaged is left out (never written partly), the list of what was left\n" +
			"out goes to stderr (or the JSON summary), and the exit code is still 3.",
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
		Action: func(c *cli.Context) error {
			e, s, a, err := setup(c, 2, 2, true, false)
			if err != nil {
				return err
			}
			defer s.Close()
			if a[1], err = localPath(a[1]); err != nil {
				return err
			}
			rep, prog := e.progress("restore")
			st, info, err := s.Restore(c.Context, a[0], a[1], store.RestoreOptions{Include: c.StringSlice("include"), Progress: prog,
				ContinueOnError: c.Bool("continue-on-error")})
			rep.Finish()
			if st == nil {
				return err
			}
			if e.json {
				if perr := e.printJSON(summary{Type: "summary", Op: "restore", Data: map[string]any{"snapshot": info.ID, "project": info.ProjectName, "stats": st}}); perr != nil {
					return perr
				}
				return err
			}
			e.printf("restored %s@%s to %s: %d files, %d dirs, %d symlinks, %s in %.2fs (%s)\n",
				info.ProjectName, info.ID[:12], a[1], st.Files, st.Dirs, st.Symlinks, human(st.Bytes),
				st.Duration.Seconds(), rate(st.Bytes, st.Duration))
			noteSkippedLinks(st.SymlinksSkipped)
			for _, sk := range st.Skipped {
				fmt.Fprintf(os.Stderr, "not restored: %s: %s\n", quoteName(sk.Path), quoteName(sk.Reason))
			}
			if n := len(st.Skipped); n > 0 {
				fmt.Fprintf(os.Stderr, "%d entries not restored: damaged data (silo check --read-data names the damage)\n", n)
			}
			return err
		},
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
