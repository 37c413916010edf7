package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorderArgs moves flags typed after positional arguments in front of them,
// so `silo store DIR --project x` means the same as `silo store --project x
// DIR` (urfave/cli stops parsing flags at the first argument). Everything
// after "--" stays an argument.
func reorderArgs(app *cli.App, argv []string) []string {
	if len(argv) < 2 {
		return argv
	}
	head, flags, rest := commandPrefix(app, argv[1:])
	global, fl, pos := splitTail(app.Flags, flags, rest)
	out := []string{argv[0]}
	out = append(out, global...)
	out = append(out, head...)
	out = append(out, fl...)
	if len(pos) > 0 && pos[0] != "--" {
		out = append(out, "--")
	}
	return append(out, pos...)
}

// commandPrefix takes the global flags and the (sub)command names from the
// front of args, returning them, the flags of the command they name, and
// what follows.
func commandPrefix(app *cli.App, args []string) (head []string, flags []cli.Flag, rest []string) {
	rest, flags = args, app.Flags
	cmds := app.Commands
	for len(rest) > 0 {
		tok := rest[0]
		if tok == "--" {
			break
		}
		if strings.HasPrefix(tok, "-") && tok != "-" {
			take := min(1+flagArity(flags, tok), len(rest))
			head = append(head, rest[:take]...)
			rest = rest[take:]
			continue
		}
		var next *cli.Command
		for _, c := range cmds {
			if c.HasName(tok) {
				next = c
				break
			}
		}
		if next == nil {
			break
		}
		head = append(head, tok)
		rest = rest[1:]
		flags, cmds = next.Flags, next.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	return head, flags, rest
}

// splitTail sorts what follows the command into global flags typed after
// it (they go back in front of it), the command's flags with their values,
// and the positional arguments (everything from "--" on among them).
func splitTail(globalFlags, flags []cli.Flag, rest []string) (global, fl, pos []string) {
	for i := 0; i < len(rest); i++ {
		tok := rest[i]
		if tok == "--" {
			pos = append(pos, rest[i:]...)
			break
		}
		if !strings.HasPrefix(tok, "-") || tok == "-" {
			pos = append(pos, tok)
			continue
		}
		dst, n := &fl, flagArity(flags, tok)
		if !isFlag(flags, tok) && isFlag(globalFlags, tok) {
			dst, n = &global, flagArity(globalFlags, tok)
		}
		*dst = append(*dst, tok)
		if n == 1 && i+1 < len(rest) {
			*dst = append(*dst, rest[i+1])
			i++
		}
	}
	return global, fl, pos
}

// flagArity returns 1 when tok is a known flag that takes a separate value.
func flagArity(flags []cli.Flag, tok string) int {
	name := strings.TrimLeft(tok, "-")
	if strings.Contains(name, "=") {
		return 0
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if _, ok := f.(*cli.BoolFlag); ok {
				return 0
			}
			return 1
		}
	}
	return 0
}

// isFlag reports whether tok names one of flags.
func isFlag(flags []cli.Flag, tok string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(tok, "-"), "=")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// classifyUsage makes every mistake urfave/cli finds on the command line
// (an unknown flag, a bad value, a required flag left out) a usageError,
// so that it exits 2 without matching urfave's messages: flag errors go
// through OnUsageError, and required flags are checked by silo itself.
func classifyUsage(app *cli.App) {
	onUsage := func(_ *cli.Context, err error, _ bool) error { return usageError{err.Error()} }
	app.OnUsageError = onUsage
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			c.OnUsageError = onUsage
			var required []string
			for _, f := range c.Flags {
				if sf, ok := f.(*cli.StringFlag); ok && sf.Required {
					sf.Required = false
					required = append(required, sf.Name)
				}
			}
			if len(required) > 0 && c.Action != nil {
				action := c.Action
				c.Action = func(ctx *cli.Context) error {
					for _, name := range required {
						if !ctx.IsSet(name) {
							return usagef("required flag --%s not given (see silo %s --help)", name, c.FullName())
						}
					}
					return action(ctx)
				}
			}
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
}
