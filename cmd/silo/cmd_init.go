package main

import (
	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/store"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create a repository (config.json with a random chunker polynomial, packs/, index.db)",
		Description: "Creates the repository at --repo, STORAGE_BASE_PATH or base_path (default ./storage).\n" +
			"`silo store` creates it too when it is missing.",
		Action: func(c *cli.Context) error {
			e, err := newEnv(c)
			if err != nil {
				return err
			}
			if _, err := args(c, 0, 0); err != nil {
				return err
			}
			s, err := store.Init(c.Context, store.Options{Config: e.cfg, Logger: e.log})
			if err != nil {
				return err
			}
			defer s.Close()
			rc := s.RepoConfig()
			if e.json {
				return e.printJSON(map[string]any{"location": s.Location(), "id": rc.ID, "chunker_polynomial": rc.ChunkerPolynomial, "pack_size": rc.PackSize})
			}
			e.printf("created repository %s at %s\n", rc.ID, s.Location())
			return nil
		},
	}
}
