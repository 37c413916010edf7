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
		Name:  "check",
		Usage: "verify the repository: index, pack tables, snapshots (and with --read-data every blob)",
		Description: "Every blob a snapshot refers to must be indexed and every index entry must point into\n" +
			"an existing pack whose table agrees. With --read-data every pack is read and every\n" +
			"blob hashed. Problems name the pack, the blob, every version it breaks and the paths\n" +
			"that use it (the text shows 20 paths of each problem and says how many more; --json\n" +
			"lists up to 1000 per version and counts all); exit code 3.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "read-data", Usage: "read and hash every blob"},
		},
		Action: func(c *cli.Context) error {
			e, s, _, err := setup(c, 0, 0, true, false)
			if err != nil {
				return err
			}
			defer s.Close()
			rep, prog := e.progress("check")
			res, err := s.Check(c.Context, store.CheckOptions{ReadData: c.Bool("read-data"), Progress: prog})
			rep.Finish()
			if e.json {
				if perr := e.printJSON(summary{Type: "summary", Op: "check", Data: res}); perr != nil {
					return perr
				}
				return err
			}
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
			if c.Bool("read-data") {
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
			return err
		},
	}
}

func indexCommand() *cli.Command {
	return &cli.Command{
		Name:  "index",
		Usage: "manage index.db",
		Subcommands: []*cli.Command{{
			Name:  "rebuild",
			Usage: "rebuild index.db (blob index, snapshots, catalogue) from the packs alone",
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
				if st == nil {
					return err
				}
				if e.json {
					if jerr := e.printJSON(st); jerr != nil {
						return jerr
					}
					return err
				}
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
				return err
			},
		}},
	}
}
