package main

import (
	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/client"
)

// This file is the client side of `silo serve`: the --remote flag of
// store, restore and projects list, and the HTTP client they share.

// withRemote adds --remote and --token to a command: with --remote, run is
// called instead of the command's local action.
func withRemote(cmd *cli.Command, run cli.ActionFunc) *cli.Command {
	cmd.Flags = append(cmd.Flags,
		&cli.StringFlag{Name: "remote", Usage: "use the `URL` of a `silo serve` (e.g. http://127.0.0.1:8080) instead of a local repository"},
		&cli.StringFlag{Name: "token", Usage: "bearer `TOKEN` for --remote (default: STORAGE_API_TOKEN or api.token)"})
	local := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		if c.String("remote") != "" {
			return run(c)
		}
		if c.IsSet("token") {
			return usagef("--token goes with --remote")
		}
		return local(c)
	}
	return cmd
}

// withRemoteSub applies withRemote to the subcommand name of cmd.
func withRemoteSub(cmd *cli.Command, name string, run cli.ActionFunc) *cli.Command {
	for i, sub := range cmd.Subcommands {
		if sub.Name == name {
			cmd.Subcommands[i] = withRemote(sub, run)
		}
	}
	return cmd
}

func newRemote(e *env) (*client.Client, error) {
	token := e.c.String("token")
	if token == "" {
		token = e.cfg.API.Token // api.token, or STORAGE_API_TOKEN
	}
	rc, err := client.New(e.c.String("remote"), token)
	if err != nil {
		return nil, usagef("--remote %v", err)
	}
	return rc, nil
}
