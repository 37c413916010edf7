package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/store"
)

func repairCommand() *cli.Command {
	return &cli.Command{
		Name:  "repair",
		Usage: "salvage what is readable from damaged packs and record what is lost",
		Description: "Reads every pack. Of a damaged one (a table that does not check, or blobs that do not\n" +
			"hash to their ids) it copies every good blob that has no good copy elsewhere into a new\n" +
			"pack, takes damaged blobs out of the index (recording those with no good copy as lost, so\n" +
			"no store refers to them again and the next store of the same files writes them back),\n" +
			"and condemns the damaged pack for the next gc. It names the versions and files that lost\n" +
			"data; exit code 3 when any did. --dry-run reports without changing anything.",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "dry-run", Usage: "report only"}},
		Action: func(c *cli.Context) error {
			e, s, _, err := setup(c, 0, 0, false, false)
			if err != nil {
				return err
			}
			defer s.Close()
			rep, prog := e.progress("repair")
			res, err := s.Repair(c.Context, store.RepairOptions{DryRun: c.Bool("dry-run"), Progress: prog})
			rep.Finish()
			if res == nil {
				return err
			}
			if e.json {
				if jerr := e.printJSON(res); jerr != nil {
					return jerr
				}
				return err
			}
			for _, d := range res.Damaged {
				what := "blobs damaged"
				if d.Table {
					what = "table damaged"
				}
				e.printf("pack %s: %s (%s): %d good, %d bad\n", d.Pack[:12], what, d.Why, d.Good, d.Bad)
			}
			verb := "copied"
			if res.DryRun {
				verb = "would copy"
			}
			e.printf("repair: %d packs read, %d damaged, %s %d good blobs to new packs, %d damaged snapshot blobs rewritten from the index, %d blobs lost (%.1fs)\n",
				res.Packs, len(res.Damaged), verb, res.Copied, res.Rewritten, res.Lost, res.Seconds)
			if len(res.Damaged) > 0 && !res.DryRun {
				e.printf("the damaged packs are condemned: the next `silo gc` deletes them\n")
			}
			for _, a := range res.Affected {
				fmt.Fprintf(os.Stderr, "lost data in %s@%s: %s\n", a.Project, a.Snapshot[:12], strings.Join(a.Paths, ", "))
			}
			return err
		},
	}
}
