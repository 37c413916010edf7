package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/store"
)

func gcCommands() []*cli.Command {
	return []*cli.Command{
		gcCommand(),
		forgetCommand(),
		cleanupCommand(),
	}
}

// gcCommand is `silo gc`.
func gcCommand() *cli.Command {
	return &cli.Command{
		Name: "gc",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan only"},
			&cli.Float64Flag{Name: "threshold", Usage: "dead `SHARE` (0..1) that triggers a rewrite (default: repack_threshold)"},
			&cli.DurationFlag{Name: "wait", Usage: "wait up to `DURATION` for running sessions, then delete what this run condemned"},
		},
		Action: withStore(0, 0, false, false, func(e *env, s *store.Store, _ []string) error {
			c := e.c
			rep, err := s.GC(c.Context, store.GCOptions{DryRun: c.Bool("dry-run"), Threshold: c.Float64("threshold"), Wait: c.Duration("wait")})
			return e.show(rep, err, func() error { printGC(e, rep); return nil })
		}),
	}
}

// keepFlags are forget's --keep-last and its --keep-<period> flags.
func keepFlags() []cli.Flag {
	flags := []cli.Flag{&cli.IntFlag{Name: "keep-last", Usage: "keep the `N` newest versions"}}
	for _, p := range [][2]string{{"hourly", "hours"}, {"daily", "days"}, {"weekly", "ISO weeks"}, {"monthly", "months"}, {"yearly", "years"}} {
		flags = append(flags, &cli.IntFlag{Name: "keep-" + p[0], Usage: "keep the newest version of each of the last `N` " + p[1]})
	}
	return flags
}

// forgetCommand is `silo forget`.
func forgetCommand() *cli.Command {
	return &cli.Command{
		Name: "forget",
		Flags: append(keepFlags(),
			&cli.StringSliceFlag{Name: "keep-tag", Usage: "keep every version tagged `TAG` (store --tag; repeatable)"},
			&cli.BoolFlag{Name: "dry-run", Usage: "only show what would be removed"}),
		Action: func(c *cli.Context) error {
			e, a, err := envArgs(c, 1, 1)
			if err != nil {
				return err
			}
			pol := gc.Policy{Last: c.Int("keep-last"), Hourly: c.Int("keep-hourly"), Daily: c.Int("keep-daily"),
				Weekly: c.Int("keep-weekly"), Monthly: c.Int("keep-monthly"), Yearly: c.Int("keep-yearly"),
				Tags: c.StringSlice("keep-tag")}
			if pol.Empty() {
				return usagef("forget: give at least one --keep-* rule")
			}
			s, err := e.open(c.Bool("dry-run"), false)
			if err != nil {
				return err
			}
			defer s.Close()
			res, err := s.Forget(c.Context, a[0], pol, c.Bool("dry-run"))
			return e.show(res, err, func() error { printForget(e, res); return nil })
		},
	}
}

func printForget(e *env, res *store.ForgetResult) {
	for _, d := range res.Decisions {
		verdict := "remove"
		if d.Keep {
			verdict = "keep   (" + strings.Join(d.Reasons, ", ") + ")"
		}
		e.printf("%s  %s  %s\n", d.ID[:12], d.Time.Local().Format("2006-01-02 15:04:05"), verdict)
	}
	verb := "removed"
	if res.DryRun {
		verb = "would remove"
	}
	e.printf("%s: %s %d versions, kept %d; run `silo gc` to free their space\n", res.Project, verb, res.Removed, res.Kept)
}

// cleanupCommand is `silo cleanup`.
func cleanupCommand() *cli.Command {
	return &cli.Command{
		Name:  "cleanup",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "dry-run", Usage: "report what would happen"}},
		Action: withStore(0, 0, false, false, func(e *env, s *store.Store, _ []string) error {
			rep, err := s.Cleanup(e.c.Context, store.CleanupOptions{DryRun: e.c.Bool("dry-run")})
			return e.show(rep, err, func() error { printCleanup(e, rep); return nil })
		}),
	}
}

func printCleanup(e *env, rep *store.CleanupReport) {
	e.printf("archived %d, purged %d, backups expired %d, cache copies removed %d (%s)\n",
		rep.Archived, rep.Purged, rep.BackupsExpired, rep.CacheRemoved, human(rep.CacheFreed))
	if rep.GC != nil {
		printGC(e, rep.GC)
	}
	e.printf("freed_bytes: %d (%s)\n", rep.FreedBytes, human(rep.FreedBytes))
}

func printGC(e *env, rep *store.GCReport) {
	p := rep.Plan
	e.printf("mark: %d of %d blobs live in %d packs (%.2fs, mark set %s, %.1f bytes per blob)\n",
		p.LiveBlobs, p.Blobs, p.Packs, p.MarkTime, human(p.MarkSetBytes), p.MarkBytesPer)
	if rep.DryRun || rep.Result == nil {
		e.printf("plan: delete %d packs, repack %d packs (rewriting %s); would free about %s\n",
			len(p.Delete), len(p.Repack), human(p.RewriteBytes), human(p.FreedBytes))
		for _, pp := range p.Delete {
			e.printf("  delete %s (%s)\n", pp.ID.Short(), human(pp.Size))
		}
		for _, pp := range p.Repack {
			e.printf("  repack %s (%s, %s live)\n", pp.ID.Short(), human(pp.Size), human(pp.LiveBytes))
		}
		return
	}
	r := rep.Result
	e.printf("%s\n", fmt.Sprintf("gc: %d packs deleted, %d repacked into %d, %d blobs removed, %s freed in %.2fs",
		r.PacksDeleted, r.PacksRepacked, r.PacksWritten, r.BlobsRemoved, human(r.FreedBytes), r.Seconds))
	if r.PacksKept > 0 {
		e.printf("gc: %d condemned packs kept: versions stored meanwhile use them\n", r.PacksKept)
	}
	if r.DeferredPacks > 0 {
		e.printf("gc: %d packs (%s) condemned, to be deleted by a later gc once these end:\n", r.DeferredPacks, human(r.DeferredBytes))
		for _, w := range r.Waiting {
			e.printf("  %s\n", w)
		}
	}
}
