package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/store"
)

type storeEntry = store.Entry

func checkCommand() *cli.Command {
	return &cli.Command{
		Name: "check",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "read-data", Usage: "read and hash every blob"},
		},
		Action: withStore(0, 0, true, false, func(e *env, s *store.Store, _ []string) error {
			rep, prog := e.progress("check")
			res, err := s.Check(e.c.Context, store.CheckOptions{ReadData: e.c.Bool("read-data"), Progress: prog})
			rep.Finish()
			return e.showAll(summary{Type: "summary", Op: "check", Data: res}, true, err, func() { printCheck(e, res, err) })
		}),
	}
}

func printCheck(e *env, res *store.CheckReport, err error) {
	versions, projects := map[string]bool{}, map[string]bool{}
	for _, p := range res.Problems {
		fmt.Fprintln(os.Stderr, p.String())
		for _, v := range p.Snapshots {
			versions[v.Snapshot], projects[v.Project] = true, true
		}
	}
	if len(versions) > 0 {
		fmt.Fprintf(os.Stderr, "the damage breaks %d version(s) of %d project(s); restore --continue-on-error restores the rest of each\n",
			len(versions), len(projects))
	}
	e.printf("checked %d packs, %d blobs, %d snapshots, %d trees", res.Packs, res.Blobs, res.Snapshots, res.Trees)
	if e.c.Bool("read-data") {
		e.printf(", read %s", human(res.ReadBytes))
	}
	e.printf("\n")
	if n := len(res.Unreferenced); n > 0 {
		e.printf("%d unreferenced pack(s): garbage that `silo gc` removes, not damage\n", n)
	}
	if n := len(res.Condemned); n > 0 {
		e.printf("%d pack(s) condemned by a gc plan and not referred to (repair condemns damaged packs): the next `silo gc` deletes them\n", n)
	}
	if err == nil {
		e.printf("no problems found\n")
	}
}

func indexCommand() *cli.Command {
	return &cli.Command{
		Name: "index",
		Subcommands: []*cli.Command{{
			Name: "rebuild",
			Action: func(c *cli.Context) error {
				e, _, err := envArgs(c, 0, 0)
				if err != nil {
					return err
				}
				s, err := store.Open(c.Context, e.options(func(o *store.Options) { o.Rebuild = true }))
				if err != nil {
					return err
				}
				defer s.Close()
				st, err := s.RebuildIndex(c.Context, nil)
				return e.showAll(st, st != nil, err, func() { printRebuild(e, st) })
			},
		}},
	}
}

func printRebuild(e *env, st *store.RebuildStats) {
	e.printf("index rebuilt from %d packs: %d blobs, %d snapshots, %d projects, %d templates in %.2fs\n",
		st.Packs, st.Blobs, st.Snapshots, st.Projects, st.Templates, st.Duration.Seconds())
	for _, b := range st.BadPacks {
		fmt.Fprintln(os.Stderr, "unreadable pack: "+b)
	}
	for _, b := range st.Salvaged {
		fmt.Fprintln(os.Stderr, "damaged pack table, read blob by blob: "+b)
	}
	for _, b := range st.Skipped {
		fmt.Fprintln(os.Stderr, "unreadable catalogue blob (its record was kept): "+b)
	}
	if st.Lost > 0 {
		fmt.Fprintf(os.Stderr, "%d blob(s) lost; versions that refer to them: %s\n", st.Lost, strings.Join(st.Broken, ", "))
	}
}
