package main

import (
	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store"
	"github.com/silo-dev/silo/store/config"
)

func storeCommand() *cli.Command {
	return &cli.Command{
		Name: "store",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "project", Aliases: []string{"p"}, Required: true, Usage: "project `NAME` (or id)"},
			&cli.StringSliceFlag{Name: "tag", Aliases: []string{"t"}, Usage: "tag this version (PROJECT@TAG names it) and the project (repeatable)"},
			&cli.StringFlag{Name: "type", Usage: "project type of a new project: generation or migration"},
			&cli.StringFlag{Name: "git-repository", Usage: "git repository `URL` to record"},
			&cli.StringSliceFlag{Name: "language", Usage: "a language to record beside the detected ones (repeatable)"},
			&cli.StringSliceFlag{Name: "framework", Usage: "a framework to record beside the detected ones (repeatable)"},
			&cli.StringSliceFlag{Name: "exclude", Aliases: []string{"e"}, Usage: "leave out what `PATTERN` matches (gitignore syntax, repeatable; DIR/.siloignore is read too)"},
			&cli.StringSliceFlag{Name: "exclude-file", Usage: "leave out what the patterns in `FILE` match (one per line, gitignore syntax; repeatable)"},
			&cli.StringFlag{Name: "exclude-larger-than", Usage: "leave out files larger than `SIZE` (such as 100MiB)"},
			&cli.BoolFlag{Name: "exclude-caches", Usage: "leave out directories holding a CACHEDIR.TAG"},
		},
		Action: withStore(1, 1, false, true, func(e *env, s *store.Store, a []string) error {
			c := e.c
			dir, err := localPath(a[0])
			if err != nil {
				return err
			}
			var excludeFiles []string
			for _, f := range c.StringSlice("exclude-file") {
				p, err := localPath(f)
				if err != nil {
					return err
				}
				excludeFiles = append(excludeFiles, p)
			}
			var larger int64
			if v := c.String("exclude-larger-than"); v != "" {
				if larger, err = config.ParseSize(v); err != nil || larger <= 0 {
					return usagef("--exclude-larger-than %q: give a size such as 100MiB", v)
				}
			}
			rep, prog := e.progress("store")
			res, err := s.Save(c.Context, dir, store.SaveOptions{Excludes: c.StringSlice("exclude"), ExcludeFiles: excludeFiles,
				ExcludeLargerThan: larger, ExcludeCaches: c.Bool("exclude-caches"),
				Project: c.String("project"), Type: c.String("type"), Tags: c.StringSlice("tag"),
				GitRepository: c.String("git-repository"), Languages: c.StringSlice("language"),
				Frameworks: c.StringSlice("framework"), Progress: prog,
			})
			if done, err := e.ended(rep, "store", res, err); done {
				return err
			}
			st := res.Stats
			e.printf("snapshot %s of project %s (%s) saved\n", res.Snapshot, res.Name, res.ProjectID)
			printStoreRead(e, st)
			e.printf("added:  %s in %d new blobs (after dedup and compression)\n", human(st.BytesAdded), st.BlobsAdded)
			if st.Excluded > 0 {
				e.printf("excluded: %d entries (%s in files; excluded directories are not walked)\n", st.Excluded, human(st.ExcludedBytes))
			}
			e.printf("time:   %.2fs\n", st.Duration.Seconds())
			return nil
		}),
	}
}

// printStoreRead prints what a store found and read.
func printStoreRead(e *env, st snapshot.StoreStats) {
	e.printf("files:  %d new, %d changed, %d unchanged; %d dirs, %d symlinks\n",
		st.FilesNew, st.FilesChanged, st.FilesUnchanged, st.Dirs, st.Symlinks)
	e.printf("read:   %s of %s (%s)\n", human(st.BytesRead), human(st.Size), rate(st.BytesRead, st.Duration))
}
