package main

import (
	"bytes"
	"context"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/silo-dev/silo/store"
)

// passwordFlags are the global flags that give an encrypted repository's
// password (STORAGE_PASSWORD and a prompt are the other two ways).
func passwordFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "password-file", Usage: "read an encrypted repository's password from `FILE` (its first line)"},
		&cli.StringFlag{Name: "password-command", Usage: "run `COMMAND` through the shell and take its output as the password"},
	}
}

// passwordSource returns how this command gets a password, in order:
// --password-file, --password-command, STORAGE_PASSWORD, a prompt on a
// terminal. It is asked only when a repository is encrypted.
func (e *env) passwordSource() store.PasswordFunc {
	file, command := e.c.String("password-file"), e.c.String("password-command")
	return func(ctx context.Context, location string, confirm bool) ([]byte, error) {
		switch {
		case file != "":
			b, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("%w: --password-file: %v", store.ErrPassword, err)
			}
			line, _, _ := bytes.Cut(b, []byte("\n"))
			return bytes.TrimSuffix(line, []byte("\r")), nil
		case command != "":
			return store.PasswordFromCommand(ctx, command)
		}
		if v, ok := os.LookupEnv("STORAGE_PASSWORD"); ok {
			return []byte(v), nil
		}
		return promptPassword(location, confirm)
	}
}

// promptPassword asks on the terminal, without echo (twice for a new one).
func promptPassword(location string, confirm bool) ([]byte, error) {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil, fmt.Errorf("%w: %s is encrypted and no password was given (set STORAGE_PASSWORD, or give --password-file or --password-command, or run on a terminal)",
			store.ErrPassword, location)
	}
	fmt.Fprintf(os.Stderr, "password for %s: ", location)
	pw, err := term.ReadPassword(fd)
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return nil, fmt.Errorf("%w: read the password: %v", store.ErrPassword, err)
	}
	if confirm {
		fmt.Fprintf(os.Stderr, "the same password again: ")
		again, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return nil, fmt.Errorf("%w: read the password: %v", store.ErrPassword, err)
		}
		if !bytes.Equal(pw, again) {
			return nil, fmt.Errorf("%w: the two passwords differ", store.ErrPassword)
		}
	}
	return pw, nil
}

// newPassword asks for a new password (key add, key passwd): from
// --new-password-file, or the terminal twice.
func (e *env) newPassword(location string) ([]byte, error) {
	if f := e.c.String("new-password-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("%w: --new-password-file: %v", store.ErrPassword, err)
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		return bytes.TrimSuffix(line, []byte("\r")), nil
	}
	if v, ok := os.LookupEnv("STORAGE_NEW_PASSWORD"); ok {
		return []byte(v), nil
	}
	return promptPassword("the new key of "+location, true)
}
