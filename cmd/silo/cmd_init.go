package main

import (
	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/store"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name: "init",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "encrypt", Usage: "create an encrypted repository (asks for its password)"},
		},
		Action: func(c *cli.Context) error {
			e, _, err := envArgs(c, 0, 0)
			if err != nil {
				return err
			}
			s, err := store.Init(c.Context, e.options(func(o *store.Options) { o.Encrypt = c.Bool("encrypt") }))
			if err != nil {
				return err
			}
			defer s.Close()
			rc := s.RepoConfig()
			if e.json {
				out := map[string]any{"location": s.Location(), "id": rc.ID, "pack_size": rc.PackSize, "encrypted": s.Encrypted()}
				if !s.Encrypted() {
					out["chunker_polynomial"] = rc.ChunkerPolynomial
				}
				return e.printJSON(out)
			}
			if s.Encrypted() {
				e.printf("created encrypted repository %s at %s (its index and caches live in %s)\n", rc.ID, s.Location(), s.BaseDir())
				return nil
			}
			e.printf("created repository %s at %s\n", rc.ID, s.Location())
			return nil
		},
	}
}
