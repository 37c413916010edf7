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

func projectsCommand() *cli.Command {
	return &cli.Command{
		Name: "projects",
		Subcommands: []*cli.Command{
			{
				Name:   "list",
				Flags:  filterFlags(),
				Action: projectsList,
			},
			{
				Name:   "show",
				Action: withStore(1, 1, true, false, projectsShow),
			},
			{
				Name: "set",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "name", Usage: "rename to `NAME`"},
					&cli.StringSliceFlag{Name: "tag", Usage: "+T adds tag T, -T removes it (repeatable)"},
					&cli.StringFlag{Name: "type", Usage: "generation or migration"},
					&cli.StringFlag{Name: "git-repository", Usage: "git repository `URL` (empty to clear)"},
					&cli.StringSliceFlag{Name: "language", Usage: "user-given languages (replace earlier ones)"},
					&cli.StringSliceFlag{Name: "framework", Usage: "user-given frameworks (replace earlier ones)"},
					&cli.StringSliceFlag{Name: "exclude", Usage: "default exclude `PATTERN` (gitignore syntax) every store of the project applies (repeatable; replaces earlier ones)"},
					&cli.BoolFlag{Name: "clear-excludes", Usage: "remove the project's default excludes"},
				},
				Action: projectsSet,
			},
		},
	}
}

// listFilters are the filters of projects list: each flag's name and
// usage. All but min-size are also the API's query parameters of the
// same names (remoteProjectsList).
var listFilters = [][2]string{
	{"status", "active, archived, deleted or all (default: active and archived)"},
	{"language", "only projects using `LANG`"},
	{"framework", "only projects using `FW`"},
	{"tag", "only projects tagged `T`"},
	{"name", "only names matching `GLOB`"},
	{"min-size", "only projects of at least `SIZE` (e.g. 1GiB; a bare number means GB)"},
}

func filterFlags() []cli.Flag {
	var flags []cli.Flag
	for _, f := range listFilters {
		flags = append(flags, &cli.StringFlag{Name: f[0], Usage: f[1]})
	}
	return flags
}

func projectsList(c *cli.Context) error {
	e, _, err := envArgs(c, 0, 0)
	if err != nil {
		return err
	}
	f := store.Filter{Status: c.String("status"), Language: c.String("language"), Framework: c.String("framework"),
		Tag: c.String("tag"), Name: c.String("name")}
	if v := c.String("min-size"); v != "" {
		n, err := config.ParseSize(v)
		if err != nil {
			return usagef("--min-size: %v", err)
		}
		f.MinSize = n
	}
	if err := f.Validate(); err != nil {
		return usagef("%v", err)
	}
	return e.withOpen(true, false, func(s *store.Store) error {
		return e.showProjects(s.List(f))
	})
}

func projectsShow(e *env, s *store.Store, a []string) error {
	return e.showProject(s.Get(a[0]))
}

func (e *env) showProject(p *store.Project, err error) error {
	return e.show(p, err, func() error { return printProject(e, p) })
}

func printProject(e *env, p *store.Project) error {
	tw := e.table("")
	fmt.Fprintf(tw, "project_id:\t%s\nname:\t%s\ntype:\t%s\nstatus:\t%s\ncreated_at:\t%s\nupdated_at:\t%s\nsize:\t%s (%d bytes)\nlanguages:\t%s\nframeworks:\t%s\ntags:\t%s\ngit_repository:\t%s\nversions:\t%d\n",
		p.ID, p.Name, p.Type, p.Status, p.CreatedAt.Local().Format("2006-01-02 15:04:05"), p.UpdatedAt.Local().Format("2006-01-02 15:04:05"),
		human(p.SizeBytes), p.SizeBytes, strings.Join(quoteNames(p.Languages), ", "), strings.Join(quoteNames(p.Frameworks), ", "),
		strings.Join(quoteNames(p.Tags), ", "), quoteName(p.GitRepository), len(p.Versions))
	for _, v := range p.Versions {
		fmt.Fprintf(tw, "  %s\t%s\n", v.ID[:12], v.Time.Local().Format("2006-01-02 15:04:05"))
	}
	if len(p.Excludes) > 0 {
		fmt.Fprintf(tw, "excludes:\t%s\n", strings.Join(quoteNames(p.Excludes), ", "))
	}
	return tw.Flush()
}

func projectsSet(c *cli.Context) error {
	e, a, err := envArgs(c, 1, 1)
	if err != nil {
		return err
	}
	o := store.SetOptions{Name: c.String("name"), Type: c.String("type")}
	if c.IsSet("git-repository") {
		v := c.String("git-repository")
		o.GitRepository = &v
	}
	for _, t := range c.StringSlice("tag") {
		switch {
		case strings.HasPrefix(t, "+") && len(t) > 1:
			o.AddTags = append(o.AddTags, t[1:])
		case strings.HasPrefix(t, "-") && len(t) > 1:
			o.RemoveTags = append(o.RemoveTags, t[1:])
		default:
			return usagef("--tag %q: write +TAG to add or -TAG to remove (e.g. --tag=-old)", t)
		}
	}
	if c.IsSet("language") {
		o.Languages = c.StringSlice("language")
	}
	if c.IsSet("framework") {
		o.Frameworks = c.StringSlice("framework")
	}
	switch {
	case c.IsSet("exclude") && c.Bool("clear-excludes"):
		return usagef("--exclude and --clear-excludes exclude each other")
	case c.IsSet("exclude"):
		o.Excludes = c.StringSlice("exclude")
	case c.Bool("clear-excludes"):
		o.Excludes = []string{}
	}
	return e.withOpen(false, false, func(s *store.Store) error { return e.showProject(s.Set(c.Context, a[0], o)) })
}

func lifecycleCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name: "archive",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "older-than", Usage: "`AGE` such as 90d, 2w, 12h"},
				&cli.BoolFlag{Name: "export", Usage: "also write archives/YYYY/MM/<project-id>.tar.gz (default: archive_export, true; --export=false not to)"},
				&cli.BoolFlag{Name: "dry-run", Usage: "list what --older-than would archive"},
			},
			Action: archiveAction,
		},
		simpleProjectCommand("unarchive", func(e *env, s *store.Store, ref string) (*store.Project, error) {
			return s.Unarchive(e.c.Context, ref)
		}),
		{
			Name:  "delete",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "hard", Usage: "remove from the catalogue"}},
			Action: withStore(1, 1, false, false, func(e *env, s *store.Store, a []string) error {
				hard := e.c.Bool("hard")
				p, err := s.Delete(e.c.Context, a[0], hard)
				return e.show(p, err, func() error {
					if hard {
						e.printf("project %s (%s) removed; run `silo gc` to free its space\n", p.Name, p.ID)
					} else {
						e.printf("project %s (%s) deleted (restore with `silo undelete %s`)\n", p.Name, p.ID, p.ID)
					}
					return nil
				})
			}),
		},
		simpleProjectCommand("undelete", func(e *env, s *store.Store, ref string) (*store.Project, error) {
			return s.Undelete(e.c.Context, ref)
		}),
	}
}

func simpleProjectCommand(name string, fn func(*env, *store.Store, string) (*store.Project, error)) *cli.Command {
	return &cli.Command{
		Name: name,
		Action: withStore(1, 1, false, false, func(e *env, s *store.Store, a []string) error {
			p, err := fn(e, s, a[0])
			return e.show(p, err, func() error {
				e.printf("project %s (%s) is %s\n", p.Name, p.ID, p.Status)
				return nil
			})
		}),
	}
}

func archiveAction(c *cli.Context) error {
	e, a, err := envArgs(c, 0, 1)
	if err != nil {
		return err
	}
	if len(a) == 1 && c.IsSet("older-than") {
		return usagef("archive: give ID|NAME or --older-than, not both")
	}
	return e.withOpen(false, false, func(s *store.Store) error { return archive(e, s, a) })
}

func archive(e *env, s *store.Store, a []string) error {
	c := e.c
	opts := store.ArchiveOptions{Export: e.cfg.ArchiveExport}
	if c.IsSet("export") {
		opts.Export = c.Bool("export")
	}
	var results []store.ArchiveResult
	if len(a) == 1 {
		r, err := s.Archive(c.Context, a[0], opts)
		if err != nil {
			return err
		}
		results = append(results, *r)
	} else {
		var err error
		var age time.Duration
		if v := c.String("older-than"); v != "" {
			d, err := config.ParseAge(v)
			if err != nil {
				return usagef("--older-than: %v", err)
			}
			age = d
		}
		results, err = s.ArchiveOlder(c.Context, age, opts, c.Bool("dry-run"))
		if err != nil {
			return err
		}
	}
	return e.show(map[string]any{"archived": results, "count": len(results)}, nil, func() error { printArchived(e, results); return nil })
}

func printArchived(e *env, results []store.ArchiveResult) {
	for _, r := range results {
		line := fmt.Sprintf("archived %s (%s)", r.Name, r.ProjectID)
		if e.c.Bool("dry-run") {
			line = fmt.Sprintf("would archive %s (%s)", r.Name, r.ProjectID)
		}
		if r.CacheRemoved > 0 {
			line += fmt.Sprintf(", %d cache copies removed", r.CacheRemoved)
		}
		if r.ExportPath != "" {
			line += ", exported to " + r.ExportPath
		}
		e.printf("%s\n", line)
	}
	if len(results) == 0 {
		fmt.Fprintln(os.Stderr, "no project to archive")
	}
}

// showProjects prints a project listing: JSON, or a table.
func (e *env) showProjects(list []store.ListItem, err error) error {
	return e.show(map[string]any{"projects": list, "count": len(list)}, err, func() error {
		tw := e.table("NAME\tID\tSTATUS\tSIZE\tVERSIONS\tUPDATED\tLANGUAGES")
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", p.Name, p.ID, p.Status, human(p.SizeBytes), p.VersionCount,
				p.UpdatedAt.Local().Format("2006-01-02 15:04"), strings.Join(quoteNames(p.Languages), ","))
		}
		return tw.Flush()
	})
}
