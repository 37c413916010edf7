package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/store"
)

func newPasswordFlag() cli.Flag {
	return &cli.StringFlag{Name: "new-password-file", Usage: "read the new password from `FILE` (default: STORAGE_NEW_PASSWORD, or a prompt)"}
}

// showKey reports a key added or removed.
func (e *env) showKey(verb string, k store.KeyInfo, err error) error {
	return e.show(k, err, func() error {
		e.printf("%s key %s\n", verb, k.ID)
		return nil
	})
}

func keyCommand() *cli.Command {
	return &cli.Command{
		Name: "key",
		Subcommands: []*cli.Command{
			keyListCommand(),
			keyAddCommand(),
			keyRemoveCommand(),
			keyPasswdCommand(),
		},
	}
}

// keyListCommand is `silo key list`.
func keyListCommand() *cli.Command {
	return &cli.Command{
		Name: "list",
		Action: withStore(0, 0, true, false, func(e *env, s *store.Store, _ []string) error {
			keys, err := s.Keys(e.c.Context)
			return e.show(keys, err, func() error {
				tw := e.table(" \tID\tCREATED\tHOST\tUSER")
				for _, k := range keys {
					cur := " "
					if k.Current {
						cur = "*"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cur, k.ID, k.Created.Local().Format("2006-01-02 15:04:05"), k.Host, k.User)
				}
				return tw.Flush()
			})
		}),
	}
}

// keyAddCommand is `silo key add`.
func keyAddCommand() *cli.Command {
	return &cli.Command{
		Name:  "add",
		Flags: []cli.Flag{newPasswordFlag()},
		Action: withNewPassword(func(c *cli.Context, e *env, s *store.Store, pw []byte) error {
			k, err := s.AddKey(c.Context, pw)
			return e.showKey("added", k, err)
		}),
	}
}

// keyRemoveCommand is `silo key remove`.
func keyRemoveCommand() *cli.Command {
	return &cli.Command{
		Name: "remove",
		Action: withStore(1, 1, false, false, func(e *env, s *store.Store, a []string) error {
			k, err := s.RemoveKey(e.c.Context, a[0])
			return e.showKey("removed", k, err)
		}),
	}
}

// keyPasswdCommand is `silo key passwd`.
func keyPasswdCommand() *cli.Command {
	return &cli.Command{
		Name:  "passwd",
		Flags: []cli.Flag{newPasswordFlag()},
		Action: withNewPassword(func(c *cli.Context, e *env, s *store.Store, pw []byte) error {
			added, removed, err := s.ChangePassword(c.Context, pw)
			return e.show(map[string]any{"added": added, "removed": removed.ID}, err, func() error {
				e.printf("added key %s, removed key %s\n", added.ID, removed.ID)
				return nil
			})
		}),
	}
}

// withNewPassword is the action of a key command that needs a new
// password: the repository opened for writing (with the current
// password), then the new one asked for.
func withNewPassword(fn func(c *cli.Context, e *env, s *store.Store, pw []byte) error) cli.ActionFunc {
	return withStore(0, 0, false, false, func(e *env, s *store.Store, _ []string) error {
		pw, err := e.newPassword(s.Location())
		if err != nil {
			return err
		}
		return fn(e.c, e, s, pw)
	})
}
