package main

import (
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
			"verified; entries that would escape DEST are refused.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "include", Usage: "restore only this `PATH` (a file or subtree), keeping its path under DEST"},
		},
		Action: func(c *cli.Context) error {
			e, s, a, err := setup(c, 2, 2, true, false)
			if err != nil {
				return err
			}
			defer s.Close()
			rep, prog := e.progress("restore")
			st, info, err := s.Restore(c.Context, a[0], a[1], store.RestoreOptions{Include: c.String("include"), Progress: prog})
			rep.Finish()
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(summary{Type: "summary", Op: "restore", Data: map[string]any{"snapshot": info.ID, "project": info.ProjectName, "stats": st}})
			}
			e.printf("restored %s@%s to %s: %d files, %d dirs, %d symlinks, %s in %.2fs (%s)\n",
				info.ProjectName, info.ID[:12], a[1], st.Files, st.Dirs, st.Symlinks, human(st.Bytes),
				st.Duration.Seconds(), rate(st.Bytes, st.Duration))
			return nil
		},
	}
}
