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
		Flags: []cli.Flag{&cli.BoolFlag{Name: "dry-run", Usage: "report only"}},
		Action: withStore(0, 0, false, false, func(e *env, s *store.Store, _ []string) error {
			rep, prog := e.progress("repair")
			res, err := s.Repair(e.c.Context, store.RepairOptions{DryRun: e.c.Bool("dry-run"), Progress: prog})
			rep.Finish()
			return e.showAll(res, res != nil, err, func() { printRepair(e, res) })
		}),
	}
}

func printRepair(e *env, res *store.RepairReport) {
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
}
