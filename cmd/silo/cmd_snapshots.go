package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store"
)

func snapshotsCommand() *cli.Command {
	return &cli.Command{
		Name: "snapshots",
		Action: withStore(0, 1, true, false, func(e *env, s *store.Store, a []string) error {
			list, err := s.Snapshots(optArg(a, 0))
			return e.show(list, err, func() error {
				tw := e.table("ID\tTIME\tPROJECT\tFILES\tSIZE\tTAGS")
				for _, sn := range list {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", sn.ID[:12], sn.Time.Local().Format("2006-01-02 15:04:05"),
						sn.ProjectName, sn.Files, human(sn.Size), strings.Join(quoteNames(sn.VersionTags), ","))
				}
				return tw.Flush()
			})
		}),
	}
}

func lsCommand() *cli.Command {
	return &cli.Command{
		Name: "ls",
		Action: withStore(1, 2, true, false, func(e *env, s *store.Store, a []string) error {
			return s.Ls(e.c.Context, a[0], optArg(a, 1), func(en storeEntry) error {
				return e.show(en, nil, func() error { printEntry(e, en); return nil })
			})
		}),
	}
}

// optArg is the i-th positional argument, or "" when it was not given.
func optArg(a []string, i int) string {
	if i < len(a) {
		return a[i]
	}
	return ""
}

func printEntry(e *env, en storeEntry) {
	line := fmt.Sprintf("%s %s %12d %s %s", typeChar(en.Type), en.Mode, en.Size, en.MTime.Local().Format("2006-01-02 15:04:05"), quoteName(en.Path))
	if en.Target != "" {
		line += " -> " + quoteName(en.Target)
	}
	if en.Filter != "" {
		line += " [filter " + en.Filter + "]"
	}
	e.printf("%s\n", line)
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
		Name: "diff",
		Action: withStore(2, 2, true, false, func(e *env, s *store.Store, a []string) error {
			counts := map[string]int{}
			err := s.Diff(e.c.Context, a[0], a[1], func(ch snapshot.Change) error {
				counts[ch.Kind]++
				counts["all"]++
				return e.show(ch, nil, func() error {
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
			})
			if err == nil && !e.json {
				e.printf("%d added, %d removed, %d modified\n", counts["added"], counts["removed"], counts["all"]-counts["added"]-counts["removed"])
			}
			return err
		}),
	}
}

func dumpCommand() *cli.Command {
	return &cli.Command{
		Name: "dump",
		Action: withStore(2, 2, true, false, func(e *env, s *store.Store, a []string) error {
			w := bufio.NewWriterSize(os.Stdout, 1<<20)
			if _, err := s.Dump(e.c.Context, a[0], a[1], w); err != nil {
				return err
			}
			return w.Flush()
		}),
	}
}

func findCommand() *cli.Command {
	return &cli.Command{
		Name:  "find",
		Flags: []cli.Flag{&cli.StringFlag{Name: "project", Aliases: []string{"p"}, Usage: "only the versions of `PROJECT`"}},
		Action: withStore(1, 1, true, false, func(e *env, s *store.Store, a []string) error {
			return s.Find(e.c.Context, e.c.String("project"), a[0], func(m store.FindMatch) error {
				return e.show(m, nil, func() error {
					e.printf("%s@%.12s  %s  %s %12d %s\n", m.Project, m.Snapshot, m.Time.Local().Format("2006-01-02 15:04:05"),
						typeChar(m.Type), m.Size, quoteName(m.Path))
					return nil
				})
			})
		}),
	}
}
