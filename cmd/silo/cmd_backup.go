package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/store"
)

func fromFlag() cli.Flag {
	return &cli.StringFlag{Name: "from", Usage: "backup destination `DEST` (path or s3://bucket/prefix; default: backup.destination)"}
}

func (e *env) openBackups(readOnly bool) (*store.BackupSet, error) {
	from, err := e.pathFlag("from")
	if err != nil {
		return nil, err
	}
	return store.OpenBackupsWith(e.c.Context, e.cfg, from, nil, readOnly, e.passwordSource())
}

// withBackups is withStore for the backup subcommands that read or
// change a destination: the destination (--from) opened instead.
func withBackups(min, max int, readOnly bool, run func(e *env, bs *store.BackupSet, a []string) error) cli.ActionFunc {
	return withOpened(min, max, func(e *env) (*store.BackupSet, error) { return e.openBackups(readOnly) }, run)
}

func backupCommand() *cli.Command {
	return &cli.Command{
		Name: "backup",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "project", Aliases: []string{"p"}, Usage: "back up only this project `ID|NAME` (repeatable; default: all)"},
			&cli.StringFlag{Name: "to", Usage: "destination `DEST` (path or s3://bucket/prefix)"},
			&cli.BoolFlag{Name: "new-destination", Usage: "start a new backup at a local DEST backed up to before that holds none now\n" +
				"\t(without it such a DEST is refused: the drive is probably not mounted)"},
		},
		Action: withStore(0, 0, true, false, func(e *env, s *store.Store, _ []string) error {
			c := e.c
			to, err := e.pathFlag("to")
			if err != nil {
				return err
			}
			rep, prog := e.progress("backup")
			br, err := s.Backup(c.Context, store.BackupOptions{Projects: c.StringSlice("project"), To: to,
				NewDestination: c.Bool("new-destination"), Progress: prog})
			if done, err := e.ended(rep, "backup", br, err); done {
				return err
			}
			e.printf("backup %s to %s: %d projects, %s copied (%d packs, %d blobs) in %.2fs\n", br.ID, br.Destination,
				len(br.Projects), human(br.BytesCopied), br.PacksCopied, br.BlobsCopied, br.Seconds)
			return nil
		}),
		Subcommands: []*cli.Command{
			backupListCommand(),
			backupShowCommand(),
			backupVerifyCommand(),
			backupRestoreCommand(),
			backupExpireCommand(),
			backupDeleteCommand(),
		},
	}
}

// backupListCommand is `silo backup list`.
func backupListCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Flags: []cli.Flag{fromFlag()},
		Action: withBackups(0, 0, true, func(e *env, bs *store.BackupSet, _ []string) error {
			list, err := bs.List(e.c.Context)
			return e.show(map[string]any{"backups": list, "destination": bs.Location()}, err, func() error {
				tw := e.table("ID\tTIME\tPROJECTS\tCOPIED")
				for _, b := range list {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", b.ID, b.Time.Local().Format("2006-01-02 15:04:05"), len(b.Projects), human(b.BytesCopied))
				}
				return tw.Flush()
			})
		}),
	}
}

// backupShowCommand is `silo backup show`.
func backupShowCommand() *cli.Command {
	return &cli.Command{
		Name:  "show",
		Flags: []cli.Flag{fromFlag()},
		Action: withBackups(1, 1, true, func(e *env, bs *store.BackupSet, a []string) error {
			br, err := bs.Show(e.c.Context, a[0])
			return e.show(br, err, func() error { printBackup(e, br); return nil })
		}),
	}
}

func printBackup(e *env, br *store.BackupRecord) {
	if len(br.From) > 0 {
		e.printf("latest: the newest backup of every project, from backups %s\n", strings.Join(br.From, ", "))
	} else {
		e.printf("backup %s at %s\nfrom %s (repository %s)\ncopied %s (%d packs, %d blobs) in %.2fs\n",
			br.ID, br.Time.Local().Format("2006-01-02 15:04:05"), br.Source, br.SourceRepository, human(br.BytesCopied), br.PacksCopied, br.BlobsCopied, br.Seconds)
	}
	for _, p := range br.Projects {
		e.printf("  %s (%s) %s, %d versions, %s\n", p.Name, p.ID, p.Status, len(p.Versions), human(p.SizeBytes))
	}
	for _, t := range br.Templates {
		e.printf("  template %s (%s)\n", t.Name, t.Category)
	}
}

// backupVerifyCommand is `silo backup verify`.
func backupVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Flags: []cli.Flag{fromFlag(), &cli.BoolFlag{Name: "read-data", Usage: "read and hash every blob"}},
		Action: withBackups(1, 1, true, func(e *env, bs *store.BackupSet, a []string) error {
			c := e.c
			rep, err := bs.Verify(c.Context, a[0], c.Bool("read-data"))
			return e.showAll(rep, rep != nil, err, func() { printVerify(e, rep) })
		}),
	}
}

func printVerify(e *env, rep *store.VerifyReport) {
	for _, p := range rep.Problems {
		fmt.Fprintln(os.Stderr, p.String())
	}
	e.printf("backup %s: %d blobs checked, %d missing, %d corrupt", rep.Backup, rep.Blobs, rep.Missing, rep.Corrupt)
	if e.c.Bool("read-data") {
		e.printf(", read %s", human(rep.ReadBytes))
	}
	e.printf("\n")
	if len(rep.AffectedProjects) > 0 {
		e.printf("projects affected: %s\n", strings.Join(rep.AffectedProjects, ", "))
	}
}

// backupRestoreCommand is `silo backup restore`.
func backupRestoreCommand() *cli.Command {
	return &cli.Command{
		Name: "restore",
		Flags: []cli.Flag{
			fromFlag(),
			&cli.StringSliceFlag{Name: "project", Aliases: []string{"p"}, Usage: "restore only this project (repeatable)"},
			&cli.StringFlag{Name: "dest", Usage: "restore into `DIR`"},
		},
		Action: withBackups(1, 1, true, func(e *env, bs *store.BackupSet, a []string) error {
			c := e.c
			dest, err := e.pathFlag("dest")
			if err != nil {
				return err
			}
			rep, prog := e.progress("restore")
			res, err := bs.Restore(c.Context, a[0], store.RestoreBackupOptions{Projects: c.StringSlice("project"),
				Dest: dest, Primary: e.cfg, Progress: prog, Logger: e.log})
			if done, err := e.ended(rep, "backup restore", res, err); done {
				return err
			}
			e.printf("restored %d projects from backup %s into %s (%s)\n", len(res.Projects), res.Backup, res.Into, human(res.Bytes))
			for _, p := range res.Paths {
				e.printf("  %s\n", p)
			}
			noteSkippedLinks(res.SymlinksSkipped)
			return nil
		}),
	}
}

// backupExpireCommand is `silo backup expire`.
func backupExpireCommand() *cli.Command {
	return &cli.Command{
		Name: "expire",
		Flags: []cli.Flag{
			fromFlag(),
			&cli.IntFlag{Name: "retention-days", Usage: "override backup.retention_days"},
			&cli.BoolFlag{Name: "dry-run", Usage: "only list what would expire"},
		},
		Action: withBackups(0, 0, false, func(e *env, bs *store.BackupSet, _ []string) error {
			c := e.c
			days := e.cfg.Backup.RetentionDays
			if c.IsSet("retention-days") {
				days = c.Int("retention-days")
			}
			res, err := bs.Expire(c.Context, nowFunc(), days, c.Bool("dry-run"))
			return printRemoval(e, res, err, "expired", "would expire", "")
		}),
	}
}

// backupDeleteCommand is `silo backup delete`.
func backupDeleteCommand() *cli.Command {
	return &cli.Command{
		Name: "delete",
		Flags: []cli.Flag{
			fromFlag(),
			&cli.BoolFlag{Name: "dry-run", Usage: "only list what would be removed"},
		},
		Action: withBackups(1, -1, false, func(e *env, bs *store.BackupSet, a []string) error {
			c := e.c
			res, err := bs.Delete(c.Context, a, c.Bool("dry-run"))
			if err == nil {
				err = printRemoval(e, res, nil, "deleted", "would delete", " ("+strings.Join(res.Expired, ", ")+")")
			}
			return err
		}),
	}
}

// printRemoval prints what backup expire or delete removed (ids, when
// given, follow the count) and the destination's gc.
func printRemoval(e *env, res *store.ExpireResult, err error, done, dry, ids string) error {
	return e.show(res, err, func() error {
		verb := done
		if res.DryRun {
			verb = dry
		}
		e.printf("%s %d backups%s, kept %d\n", verb, len(res.Expired), ids, res.Kept)
		if res.GC != nil {
			printGC(e, res.GC)
		}
		return nil
	})
}
