package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/store"
)

func newPasswordFlag() cli.Flag {
	return &cli.StringFlag{Name: "new-password-file", Usage: "read the new password from `FILE` (default: STORAGE_NEW_PASSWORD, or a prompt)"}
}

// printKey reports a key added or removed.
func printKey(e *env, verb string, k store.KeyInfo) error {
	if e.json {
		return e.printJSON(k)
	}
	e.printf("%s key %s\n", verb, k.ID)
	return nil
}

func keyCommand() *cli.Command {
	return &cli.Command{
		Name:  "key",
		Usage: "manage the passwords of an encrypted repository",
		Description: "Every password wraps the one master key in a key file under keys/. Removing a key\n" +
			"does not revoke the master key: whoever opened the repository with it before can\n" +
			"still read it, and backups keep the key files they were made with.",
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
		Name:  "list",
		Usage: "list the key files (the one this command opened with is marked)",
		Action: func(c *cli.Context) error {
			e, s, _, err := setup(c, 0, 0, true, false)
			if err != nil {
				return err
			}
			defer s.Close()
			keys, err := s.Keys(c.Context)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(keys)
			}
			tw := tabwriter.NewWriter(e.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, " \tID\tCREATED\tHOST\tUSER")
			for _, k := range keys {
				cur := " "
				if k.Current {
					cur = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cur, k.ID, k.Created.Local().Format("2006-01-02 15:04:05"), k.Host, k.User)
			}
			return tw.Flush()
		},
	}
}

// keyAddCommand is `silo key add`.
func keyAddCommand() *cli.Command {
	return &cli.Command{
		Name:  "add",
		Usage: "add a password (opened with an existing one)",
		Flags: []cli.Flag{newPasswordFlag()},
		Action: withNewPassword(func(c *cli.Context, e *env, s *store.Store, pw []byte) error {
			k, err := s.AddKey(c.Context, pw)
			if err != nil {
				return err
			}
			return printKey(e, "added", k)
		}),
	}
}

// keyRemoveCommand is `silo key remove`.
func keyRemoveCommand() *cli.Command {
	return &cli.Command{
		Name:      "remove",
		Usage:     "remove a key file (not the one in use, not the last)",
		ArgsUsage: "ID",
		Action: func(c *cli.Context) error {
			e, s, a, err := setup(c, 1, 1, false, false)
			if err != nil {
				return err
			}
			defer s.Close()
			k, err := s.RemoveKey(c.Context, a[0])
			if err != nil {
				return err
			}
			return printKey(e, "removed", k)
		},
	}
}

// keyPasswdCommand is `silo key passwd`.
func keyPasswdCommand() *cli.Command {
	return &cli.Command{
		Name:  "passwd",
		Usage: "change the password in use (a new key file, then the old one removed)",
		Flags: []cli.Flag{newPasswordFlag()},
		Action: withNewPassword(func(c *cli.Context, e *env, s *store.Store, pw []byte) error {
			added, removed, err := s.ChangePassword(c.Context, pw)
			if err != nil {
				return err
			}
			if e.json {
				return e.printJSON(map[string]any{"added": added, "removed": removed.ID})
			}
			e.printf("added key %s, removed key %s\n", added.ID, removed.ID)
			return nil
		}),
	}
}

// withNewPassword is the action of a key command that needs a new
// password: the repository opened for writing (with the current
// password), then the new one asked for.
func withNewPassword(fn func(c *cli.Context, e *env, s *store.Store, pw []byte) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		e, s, _, err := setup(c, 0, 0, false, false)
		if err != nil {
			return err
		}
		defer s.Close()
		pw, err := e.newPassword(s.Location())
		if err != nil {
			return err
		}
		return fn(c, e, s, pw)
	}
}
