package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store"
)

func snapshotsCommand() *cli.Command {
	return &cli.Command{
		Name:      "snapshots",
		Usage:     "list versions, newest first",
		ArgsUsage: "[PROJECT]",
		Action: func(c *cli.Context) error {
			e, s, a, err := setup(c, 0, 1, true, false)
			if err != nil {
				return err
			}
			defer s.Close()
			ref := ""
			if len(a) == 1 {
				ref = a[0]
			}
			list, err := s.Snapshots(ref)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(list)
			}
			tw := tabwriter.NewWriter(e.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tPROJECT\tFILES\tSIZE\tTAGS")
			for _, sn := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", sn.ID[:12], sn.Time.Local().Format("2006-01-02 15:04:05"),
					sn.ProjectName, sn.Files, human(sn.Size), strings.Join(quoteNames(sn.VersionTags), ","))
			}
			return tw.Flush()
		},
	}
}

func lsCommand() *cli.Command {
	return &cli.Command{
		Name:      "ls",
		Usage:     "list the files of a version",
		ArgsUsage: "PROJECT[@SNAPSHOT]|SNAPSHOT [PATH]",
		Action: func(c *cli.Context) error {
			e, s, a, err := setup(c, 1, 2, true, false)
			if err != nil {
				return err
			}
			defer s.Close()
			path := ""
			if len(a) == 2 {
				path = a[1]
			}
			return s.Ls(c.Context, a[0], path, func(en storeEntry) error {
				if e.json {
					return e.printJSON(en)
				}
				line := fmt.Sprintf("%s %s %12d %s %s", typeChar(en.Type), en.Mode, en.Size, en.MTime.Local().Format("2006-01-02 15:04:05"), quoteName(en.Path))
				if en.Target != "" {
					line += " -> " + quoteName(en.Target)
				}
				if en.Filter != "" {
					line += " [filter " + en.Filter + "]"
				}
				e.printf("%s\n", line)
				return nil
			})
		},
	}
}

func typeChar(t string) string {
	switch t {
	case "dir":
		return "d"
	case "symlink":
		return "l"
	}
	return "-"
}

func diffCommand() *cli.Command {
	return &cli.Command{
		Name:      "diff",
		Usage:     "show paths added, removed and modified between two versions",
		ArgsUsage: "SNAP1 SNAP2",
		Action: func(c *cli.Context) error {
			e, s, a, err := setup(c, 2, 2, true, false)
			if err != nil {
				return err
			}
			defer s.Close()
			var added, removed, modified int
			err = s.Diff(c.Context, a[0], a[1], func(ch snapshot.Change) error {
				switch ch.Kind {
				case "added":
					added++
				case "removed":
					removed++
				default:
					modified++
				}
				if e.json {
					return e.printJSON(ch)
				}
				switch ch.Kind {
				case "added":
					e.printf("+ %s (%s)\n", quoteName(ch.Path), human(ch.New))
				case "removed":
					e.printf("- %s (%s)\n", quoteName(ch.Path), human(ch.Old))
				default:
					e.printf("M %s (%s -> %s)\n", quoteName(ch.Path), human(ch.Old), human(ch.New))
				}
				return nil
			})
			if err != nil {
				return err
			}
			if !e.json {
				e.printf("%d added, %d removed, %d modified\n", added, removed, modified)
			}
			return nil
		},
	}
}

func dumpCommand() *cli.Command {
	return &cli.Command{
		Name:      "dump",
		Usage:     "write one file of a version to standard output",
		ArgsUsage: "PROJECT[@VERSION|@TAG]|SNAPSHOT PATH",
		Description: "Reads only that file's chunks, each verified (like restic dump). PATH is relative\n" +
			"to the project's top, e.g. src/main.go.",
		Action: func(c *cli.Context) error {
			_, s, a, err := setup(c, 2, 2, true, false)
			if err != nil {
				return err
			}
			defer s.Close()
			w := bufio.NewWriterSize(os.Stdout, 1<<20)
			if _, err := s.Dump(c.Context, a[0], a[1], w); err != nil {
				return err
			}
			return w.Flush()
		},
	}
}

func findCommand() *cli.Command {
	return &cli.Command{
		Name:      "find",
		Usage:     "list the paths matching a pattern in every version",
		ArgsUsage: "PATTERN",
		Description: "A pattern without '/' matches entry names (main.go, *.py); one with '/' matches whole\n" +
			"paths from the project's top (src/*/main.go). Versions are listed newest first.",
		Flags: []cli.Flag{&cli.StringFlag{Name: "project", Aliases: []string{"p"}, Usage: "only the versions of `PROJECT`"}},
		Action: func(c *cli.Context) error {
			e, s, a, err := setup(c, 1, 1, true, false)
			if err != nil {
				return err
			}
			defer s.Close()
			return s.Find(c.Context, c.String("project"), a[0], func(m store.FindMatch) error {
				if e.json {
					return e.printJSON(m)
				}
				e.printf("%s@%.12s  %s  %s %12d %s\n", m.Project, m.Snapshot, m.Time.Local().Format("2006-01-02 15:04:05"),
					typeChar(m.Type), m.Size, quoteName(m.Path))
				return nil
			})
		},
	}
}
