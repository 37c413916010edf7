package main

import (
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

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

// backupSetup is setup for the backup subcommands that read or change a
// destination: configuration, the argument count, and the destination
// (--from) opened. The caller closes the set.
func backupSetup(c *cli.Context, min, max int, readOnly bool) (*env, *store.BackupSet, []string, error) {
	e, a, err := envArgs(c, min, max)
	if err != nil {
		return nil, nil, nil, err
	}
	bs, err := e.openBackups(readOnly)
	if err != nil {
		return nil, nil, nil, err
	}
	return e, bs, a, nil
}

func backupCommand() *cli.Command {
	return &cli.Command{
		Name:  "backup",
		Usage: "back up projects incrementally to a second silo repository (a drive or s3://)",
		Description: "Copies only the blobs the destination lacks, then writes a backup record. The\n" +
			"destination defaults to backup.destination and is created on first use. A local\n" +
			"destination backed up to before that now holds no repository (an empty mount point)\n" +
			"is refused (exit 1) unless --new-destination is given. The list, show, verify,\n" +
			"restore and expire subcommands need no primary repository.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "project", Aliases: []string{"p"}, Usage: "back up only this project `ID|NAME` (repeatable; default: all)"},
			&cli.StringFlag{Name: "to", Usage: "destination `DEST` (path or s3://bucket/prefix)"},
			&cli.BoolFlag{Name: "new-destination", Usage: "start a new backup at a local DEST backed up to before that holds none now\n" +
				"\t(without it such a DEST is refused: the drive is probably not mounted)"},
		},
		Action: func(c *cli.Context) error {
			e, s, _, err := setup(c, 0, 0, true, false)
			if err != nil {
				return err
			}
			defer s.Close()
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
		},
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
		Usage: "list backups at the destination",
		Flags: []cli.Flag{fromFlag()},
		Action: func(c *cli.Context) error {
			e, bs, _, err := backupSetup(c, 0, 0, true)
			if err != nil {
				return err
			}
			defer bs.Close()
			list, err := bs.List(c.Context)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"backups": list, "destination": bs.Location()})
			}
			tw := tabwriter.NewWriter(e.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tPROJECTS\tCOPIED")
			for _, b := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", b.ID, b.Time.Local().Format("2006-01-02 15:04:05"), len(b.Projects), human(b.BytesCopied))
			}
			return tw.Flush()
		},
	}
}

// backupShowCommand is `silo backup show`.
func backupShowCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "show one backup record",
		ArgsUsage: "ID",
		Flags:     []cli.Flag{fromFlag()},
		Action: func(c *cli.Context) error {
			e, bs, a, err := backupSetup(c, 1, 1, true)
			if err != nil {
				return err
			}
			defer bs.Close()
			br, err := bs.Show(c.Context, a[0])
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(br)
			}
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
			return nil
		},
	}
}

// backupVerifyCommand is `silo backup verify`.
func backupVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "check every blob a backup needs is present (and with --read-data hashes right)",
		ArgsUsage: "ID",
		Flags:     []cli.Flag{fromFlag(), &cli.BoolFlag{Name: "read-data", Usage: "read and hash every blob"}},
		Action: func(c *cli.Context) error {
			e, bs, a, err := backupSetup(c, 1, 1, true)
			if err != nil {
				return err
			}
			defer bs.Close()
			rep, err := bs.Verify(c.Context, a[0], c.Bool("read-data"))
			if rep == nil {
				return err
			}
			if e.json {
				if perr := e.printJSON(rep); perr != nil {
					return perr
				}
				return err
			}
			for _, p := range rep.Problems {
				fmt.Fprintln(os.Stderr, p.String())
			}
			e.printf("backup %s: %d blobs checked, %d missing, %d corrupt", rep.Backup, rep.Blobs, rep.Missing, rep.Corrupt)
			if c.Bool("read-data") {
				e.printf(", read %s", human(rep.ReadBytes))
			}
			e.printf("\n")
			if len(rep.AffectedProjects) > 0 {
				e.printf("projects affected: %s\n", strings.Join(rep.AffectedProjects, ", "))
			}
			return err
		},
	}
}

// backupRestoreCommand is `silo backup restore`.
func backupRestoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "restore projects of a backup into a directory or back into the primary repository",
		ArgsUsage: "ID|latest",
		Description: "'latest' is the newest backup of every project on the destination, whichever\n" +
			"backup holds it. With --dest, each project's newest backed-up version goes to DEST/<name>/. Without it,\n" +
			"the projects (every backed-up version, with their metadata) go back into the primary\n" +
			"repository, which is created when it is gone.",
		Flags: []cli.Flag{
			fromFlag(),
			&cli.StringSliceFlag{Name: "project", Aliases: []string{"p"}, Usage: "restore only this project (repeatable)"},
			&cli.StringFlag{Name: "dest", Usage: "restore into `DIR`"},
		},
		Action: func(c *cli.Context) error {
			e, bs, a, err := backupSetup(c, 1, 1, true)
			if err != nil {
				return err
			}
			defer bs.Close()
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
		},
	}
}

// backupExpireCommand is `silo backup expire`.
func backupExpireCommand() *cli.Command {
	return &cli.Command{
		Name:  "expire",
		Usage: "remove backups older than retention_days and gc the destination",
		Description: "A backup older than retention_days stays while it is the newest backup of some\n" +
			"project or template (so per-project backups never take another project's only\n" +
			"copy), and the newest backup always stays. Use 'backup delete ID' to remove one.",
		Flags: []cli.Flag{
			fromFlag(),
			&cli.IntFlag{Name: "retention-days", Usage: "override backup.retention_days"},
			&cli.BoolFlag{Name: "dry-run", Usage: "only list what would expire"},
		},
		Action: func(c *cli.Context) error {
			e, bs, _, err := backupSetup(c, 0, 0, false)
			if err != nil {
				return err
			}
			defer bs.Close()
			days := e.cfg.Backup.RetentionDays
			if c.IsSet("retention-days") {
				days = c.Int("retention-days")
			}
			res, err := bs.Expire(c.Context, nowFunc(), days, c.Bool("dry-run"))
			return printRemoval(e, res, err, "expired", "would expire", "")
		},
	}
}

// backupDeleteCommand is `silo backup delete`.
func backupDeleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "remove backups by id and gc the destination",
		ArgsUsage: "ID...",
		Description: "Removes the named backup records and frees the data no other backup needs (a\n" +
			"backup running meanwhile keeps what it copies). A project whose only backup goes is\n" +
			"no longer restorable from the destination.",
		Flags: []cli.Flag{
			fromFlag(),
			&cli.BoolFlag{Name: "dry-run", Usage: "only list what would be removed"},
		},
		Action: func(c *cli.Context) error {
			e, bs, a, err := backupSetup(c, 1, -1, false)
			if err != nil {
				return err
			}
			defer bs.Close()
			res, err := bs.Delete(c.Context, a, c.Bool("dry-run"))
			if err == nil {
				err = printRemoval(e, res, nil, "deleted", "would delete", " ("+strings.Join(res.Expired, ", ")+")")
			}
			return err
		},
	}
}

// printRemoval prints what backup expire or delete removed (ids, when
// given, follow the count) and the destination's gc.
func printRemoval(e *env, res *store.ExpireResult, err error, done, dry, ids string) error {
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(res)
	}
	verb := done
	if res.DryRun {
		verb = dry
	}
	e.printf("%s %d backups%s, kept %d\n", verb, len(res.Expired), ids, res.Kept)
	if res.GC != nil {
		printGC(e, res.GC)
	}
	return nil
}
