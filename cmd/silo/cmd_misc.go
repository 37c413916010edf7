package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/store"
	"github.com/silo-dev/silo/store/config"
)

func extractCommand() *cli.Command {
	return &cli.Command{
		Name: "extract",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dest", Usage: "extract into `DIR`"},
			&cli.StringFlag{Name: "workbench", Usage: "extract into cache/`WID`/ (refused when WID is in use, unless --force)"},
			&cli.BoolFlag{Name: "force", Usage: "replace the contents of a workbench id in use"},
		},
		Action: withStore(1, 1, true, false, func(e *env, s *store.Store, a []string) error {
			dest, err := e.pathFlag("dest")
			if err != nil {
				return err
			}
			rep, prog := e.progress("extract")
			res, err := s.Extract(e.c.Context, a[0], store.ExtractOptions{Dest: dest, Workbench: e.c.String("workbench"),
				Force: e.c.Bool("force"), Progress: prog})
			rep.Finish()
			return e.show(res, err, func() error {
				e.printf("extracted %s to %s (%d files, %s)\n", res.Snapshot[:12], res.Path, res.Stats.Files, human(res.Stats.Bytes))
				noteSkippedLinks(res.Stats.SymlinksSkipped)
				return nil
			})
		}),
	}
}

func importCommand() *cli.Command {
	return &cli.Command{
		Name: "import",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Required: true, Usage: "project `NAME`"},
			&cli.StringFlag{Name: "type", Usage: "generation or migration (default: migration, for a new project)"},
			&cli.StringSliceFlag{Name: "tag", Usage: "add a tag (repeatable)"},
			&cli.StringFlag{Name: "git-repository", Usage: "git repository `URL`"},
		},
		Action: withStore(1, 1, false, true, func(e *env, s *store.Store, a []string) error {
			src, err := localPath(a[0])
			if err != nil {
				return err
			}
			rep, prog := e.progress("import")
			res, err := s.Import(e.c.Context, src, os.Stdin, store.SaveOptions{Project: e.c.String("name"), Type: e.c.String("type"),
				Tags: e.c.StringSlice("tag"), GitRepository: e.c.String("git-repository"), Progress: prog})
			if done, err := e.ended(rep, "import", res, err); done {
				return err
			}
			e.printf("imported %s as project %s (%s), snapshot %s: %d files, %s, %s added\n", a[0], res.Name, res.ProjectID,
				res.Snapshot, res.Stats.Files(), human(res.Stats.Size), human(res.Stats.BytesAdded))
			return nil
		}),
	}
}

func statsCommand() *cli.Command {
	return &cli.Command{
		Name: "stats",
		Action: withStore(0, 0, true, false, func(e *env, s *store.Store, _ []string) error {
			st, err := s.Stats()
			return e.show(st, err, func() error { return printStats(e, st) })
		}),
	}
}

func printStats(e *env, st *store.Stats) error {
	tw := e.table("")
	fmt.Fprintf(tw, "projects:\t%d (%d active, %d archived, %d deleted)\n", st.TotalProjects, st.ActiveProjects, st.ArchivedProjects, st.DeletedProjects)
	fmt.Fprintf(tw, "size of newest versions:\t%.2f GiB\n", st.TotalSizeGB)
	fmt.Fprintf(tw, "versions:\t%d holding %s\n", st.Versions, human(st.LogicalBytes))
	fmt.Fprintf(tw, "unique data:\t%s\n", human(st.UniqueBytes))
	fmt.Fprintf(tw, "stored:\t%s in %d packs, %d blobs\n", human(st.StoredBytes), st.Packs, st.Blobs)
	fmt.Fprintf(tw, "dedup ratio:\t%.2f\ncompression ratio:\t%.2f\n", st.DedupRatio, st.CompressionRatio)
	fmt.Fprintf(tw, "available:\t%.2f GiB\n", st.AvailableSpaceGB)
	return tw.Flush()
}

func templateCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "template",
			Subcommands: []*cli.Command{
				templateAddCommand(),
				templateRmCommand(),
				templateListCommand(),
			},
		},
		{
			Name: "new",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "template", Required: true, Usage: "template `NAME`"},
				&cli.StringFlag{Name: "type", Usage: "generation or migration"},
				&cli.StringSliceFlag{Name: "tag", Usage: "add a tag (repeatable)"},
			},
			Action: withStore(1, 1, false, false, func(e *env, s *store.Store, a []string) error {
				c := e.c
				res, err := s.NewFromTemplate(c.Context, c.String("template"), store.SaveOptions{Project: a[0], Type: c.String("type"), Tags: c.StringSlice("tag")})
				return e.show(res, err, func() error {
					e.printf("project %s (%s) created from template %s: snapshot %s, %s added\n", res.Name, res.ProjectID, c.String("template"), res.Snapshot, human(res.Stats.BytesAdded))
					return nil
				})
			}),
		},
	}
}

// templateAddCommand is `silo template add`.
func templateAddCommand() *cli.Command {
	return &cli.Command{
		Name: "add",
		Flags: []cli.Flag{&cli.StringFlag{Name: "category", Required: true, Usage: "backend, frontend or fullstack"},
			&cli.BoolFlag{Name: "force", Usage: "replace a template of that name"}},
		Action: withStore(2, 2, false, true, func(e *env, s *store.Store, a []string) error {
			dir, err := localPath(a[1])
			if err != nil {
				return err
			}
			t, err := s.AddTemplate(e.c.Context, a[0], e.c.String("category"), dir, e.c.Bool("force"))
			return e.show(t, err, func() error {
				e.printf("template %s (%s): snapshot %s, %d files, %s\n", t.Name, t.Category, t.Snapshot[:12], t.Files, human(t.Size))
				return nil
			})
		}),
	}
}

// templateRmCommand is `silo template rm`.
func templateRmCommand() *cli.Command {
	return &cli.Command{
		Name: "rm",
		Action: withStore(1, 1, false, false, func(e *env, s *store.Store, a []string) error {
			err := s.RemoveTemplate(e.c.Context, a[0])
			return e.show(map[string]any{"removed": a[0]}, err, func() error {
				e.printf("template %s removed; run `silo gc` to free what only it used\n", a[0])
				return nil
			})
		}),
	}
}

// templateListCommand is `silo template list`.
func templateListCommand() *cli.Command {
	return &cli.Command{
		Name: "list",
		Action: withStore(0, 0, true, false, func(e *env, s *store.Store, _ []string) error {
			list, err := s.Templates()
			return e.show(map[string]any{"templates": list}, err, func() error {
				tw := e.table("NAME\tCATEGORY\tFILES\tSIZE\tSNAPSHOT\tCREATED")
				for _, t := range list {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", t.Name, t.Category, t.Files, human(t.Size), t.Snapshot[:12], t.CreatedAt.Local().Format("2006-01-02 15:04"))
				}
				return tw.Flush()
			})
		}),
	}
}

func cacheCommand() *cli.Command {
	return &cli.Command{
		Name: "cache",
		Subcommands: []*cli.Command{{
			Name: "list",
			Action: withStore(0, 0, true, false, func(e *env, s *store.Store, _ []string) error {
				list, err := s.CacheList()
				return e.show(list, err, func() error {
					tw := e.table("WORKBENCH\tPROJECT\tVERSION\tSIZE\tCREATED")
					for _, cc := range list {
						created := "-"
						if !cc.Created.IsZero() {
							created = cc.Created.Local().Format("2006-01-02 15:04:05")
						}
						fmt.Fprintf(tw, "%s\t%s\t%.12s\t%s\t%s\n", quoteName(cc.Workbench), quoteName(cc.Project), cc.Snapshot, human(cc.Bytes), created)
					}
					return tw.Flush()
				})
			}),
		}, {
			Name: "clean",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "older-than", Usage: "`AGE` such as 7d"},
				&cli.BoolFlag{Name: "dry-run", Usage: "only report"},
			},
			Action: func(c *cli.Context) error {
				e, _, err := envArgs(c, 0, 0)
				if err != nil {
					return err
				}
				var age time.Duration
				if v := c.String("older-than"); v != "" {
					if age, err = config.ParseAge(v); err != nil {
						return usagef("--older-than: %v", err)
					}
				}
				s, err := e.open(true, false)
				if err != nil {
					return err
				}
				defer s.Close()
				res, err := s.CleanCache(age, c.Bool("dry-run"))
				return e.show(res, err, func() error {
					e.printf("removed %d cache copies, %s\n", res.Removed, human(res.FreedBytes))
					return nil
				})
			},
		}},
	}
}

func configCommand() *cli.Command {
	return &cli.Command{
		Name: "config",
		Subcommands: []*cli.Command{{
			Name: "show",
			Action: func(c *cli.Context) error {
				e, _, err := envArgs(c, 0, 0)
				if err != nil {
					return err
				}
				entries := append(e.cfg.Entries(), store.RepositoryEntries(c.Context, e.cfg)...)
				return e.show(entries, nil, func() error {
					tw := e.table("KEY\tVALUE\tSOURCE")
					for _, en := range entries {
						fmt.Fprintf(tw, "%s\t%s\t%s\n", en.Key, strings.ReplaceAll(en.Value, "\n", " "), en.Source)
					}
					return tw.Flush()
				})
			},
		}},
	}
}
