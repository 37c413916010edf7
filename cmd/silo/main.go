// Command silo is the CLI over package store: store and restore projects,
// manage the catalogue, check, garbage-collect, back up and serve.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/store"
	"github.com/silo-dev/silo/store/config"
)

// Exit codes (store.KindOf decides which an error gets).
const (
	exitOK        = store.ExitOK
	exitError     = store.ExitError
	exitUsage     = store.ExitUsage
	exitCheck     = store.ExitCheck
	exitBusy      = store.ExitBusy
	exitNotFound  = store.ExitNotFound
	exitQuota     = store.ExitQuota
	exitConflict  = store.ExitConflict
	exitInterrupt = store.ExitInterrupt
)

func main() {
	// silo's live heap is mostly large reusable buffers: collecting more
	// often keeps peak memory near the live set at little CPU cost; a
	// small heap is left to grow to 64 MiB between collections (tuneGC)
	if os.Getenv("GOGC") == "" {
		tuneGC(30, 64<<20)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// a soft cap: near it the runtime collects and returns memory to
		// the system sooner; the live heap of a store stays well below it
		debug.SetMemoryLimit(128 << 20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp()
	stopProfile := startProfile()
	argv := reorderArgs(app, os.Args)
	err := app.RunContext(ctx, argv)
	stopProfile()
	os.Exit(report(err, ctx, jsonRequested(argv)))
}

// usageError marks a command-line mistake.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// exitCode maps an error to silo's exit codes: a mistake on the command
// line, an interruption, or what store.KindOf says.
func exitCode(err error, ctx context.Context) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case ctx.Err() != nil:
		return exitInterrupt
	}
	return store.KindOf(err).Exit
}

// report prints err and returns the exit status. With --json, unless the
// command printed its result (which reports the failure), the error also
// goes to stdout as the HTTP API words it: {"error": {"code", "message",
// "exit"}}, with the API's codes (a usage mistake is "invalid").
func report(err error, ctx context.Context, asJSON bool) int {
	code := exitCode(err, ctx)
	if err == nil {
		return code
	}
	fmt.Fprintln(os.Stderr, "silo: "+err.Error())
	if asJSON && !resultPrinted.Load() {
		kind := store.KindOf(err).Code
		switch code {
		case exitUsage:
			if errors.As(err, new(usageError)) {
				kind = store.KindInvalid.Code
			}
		case exitInterrupt:
			kind = store.KindCanceled.Code
		}
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": kind, "message": err.Error(), "exit": code}})
		fmt.Fprintln(os.Stdout, string(b))
	}
	return code
}

// jsonRequested tells whether the (reordered) command line asks for JSON:
// --json among the flags, before any "--".
func jsonRequested(argv []string) bool {
	for _, a := range argv[1:] {
		switch a {
		case "--":
			return false
		case "--json", "-json", "--json=true", "-json=true":
			return true
		}
	}
	return false
}

func newApp() *cli.App {
	app := &cli.App{
		Name:            "silo",
		HideHelpCommand: true,
		Version:         version(),
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "repo", Aliases: []string{"r"}, Usage: "repository `PATH` or s3://bucket/prefix (default: base_path, ./storage)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON (JSON lines with progress for long commands)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
			&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "debug, info, warn or error (logs go to stderr)"},
		}, passwordFlags()...),
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: append([]*cli.Command{
			initCommand(), withRemote(storeCommand(), remoteStore), withRemote(restoreCommand(), remoteRestore),
			snapshotsCommand(), lsCommand(), diffCommand(), dumpCommand(), findCommand(), mountCommand(), checkCommand(), indexCommand(), repairCommand(),
			withRemoteSub(projectsCommand(), "list", remoteProjectsList), extractCommand(), importCommand(),
			statsCommand(), cacheCommand(), configCommand(), backupCommand(), serveCommand(), keyCommand(),
		}, append(append(lifecycleCommands(), templateCommands()...), gcCommands()...)...),
	}
	describe(app)
	classifyUsage(app)
	return app
}

// env carries what every command needs.
type env struct {
	c    *cli.Context
	cfg  *config.Config
	log  *slog.Logger
	json bool
	out  io.Writer
	now  func() time.Time
}

// testClock returns the clock silo judges time margins by (leases, gc
// plans, retention): the wall clock, shifted by SILO_TEST_CLOCK_OFFSET (a
// Go duration such as "6m" or "-2h") so that process tests need not sleep
// through a margin. (SILO_TEST_MACHINE, likewise for tests, names the
// machine in leases, so that processes of one machine can play several.)
func testClock(offset string) (func() time.Time, error) {
	if offset == "" {
		return time.Now, nil
	}
	d, err := time.ParseDuration(offset)
	if err != nil {
		return nil, fmt.Errorf("SILO_TEST_CLOCK_OFFSET=%q: %w", offset, err)
	}
	return func() time.Time { return time.Now().Add(d) }, nil
}

func newEnv(c *cli.Context) (*env, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(wd, os.Getenv)
	if err != nil {
		return nil, err
	}
	if r := c.String("repo"); r != "" {
		if err := cfg.Set("base_path", r, "flag --repo"); err != nil {
			return nil, err
		}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, usagef("--log-level %q: use debug, info, warn or error", c.String("log-level"))
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	now, err := testClock(os.Getenv("SILO_TEST_CLOCK_OFFSET"))
	if err != nil {
		return nil, err
	}
	return &env{c: c, cfg: cfg, log: log, json: c.Bool("json"), out: os.Stdout, now: now}, nil
}

// open opens the repository (creating it if asked).
func (e *env) open(readOnly, create bool) (*store.Store, error) {
	return store.Open(e.c.Context, e.options(func(o *store.Options) { o.ReadOnly, o.Create = readOnly, create }))
}

// options are the store options of this command, changed by mod.
func (e *env) options(mod func(*store.Options)) store.Options {
	o := store.Options{Config: e.cfg, Logger: e.log, Now: e.now, Machine: os.Getenv("SILO_TEST_MACHINE"),
		Command: fmt.Sprintf("silo %s (pid %d)", e.c.Command.FullName(), os.Getpid()), Password: e.passwordSource()}
	if mod != nil {
		mod(&o)
	}
	return o
}

// printJSON writes v as one JSON document (or one JSON line).
func (e *env) printJSON(v any) error {
	resultPrinted.Store(true)
	enc := json.NewEncoder(e.out)
	return enc.Encode(v)
}

// resultPrinted tells report that the command printed its JSON result: a
// failure reported in it (check's problems, repair's losses, a restore's
// skipped files) gets no second document.
var resultPrinted atomic.Bool

func (e *env) printf(format string, a ...any) {
	fmt.Fprintf(e.out, format, a...)
}

// args checks the positional argument count.
func args(c *cli.Context, min, max int) ([]string, error) {
	a := c.Args().Slice()
	if len(a) < min || (max >= 0 && len(a) > max) {
		name := commandPath(c)
		return nil, usagef("%s: wrong number of arguments\nusage: silo %s %s", name, name, c.Command.ArgsUsage)
	}
	return a, nil
}

// commandPath is the command's name with its parents' ("config show"):
// a subcommand's FullName is its own name alone here.
func commandPath(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" && (len(names) == 0 || names[len(names)-1] != ctx.Command.Name) {
			names = append(names, ctx.Command.Name)
		}
	}
	slices.Reverse(names)
	if len(names) > 1 && names[0] == c.App.Name {
		names = names[1:] // the app's own root command
	}
	return strings.Join(names, " ")
}

// envArgs is every command's first step: the configuration and the
// positional argument count.
func envArgs(c *cli.Context, min, max int) (*env, []string, error) {
	e, err := newEnv(c)
	if err != nil {
		return nil, nil, err
	}
	a, err := args(c, min, max)
	if err != nil {
		return nil, nil, err
	}
	return e, a, nil
}

// withStore is the Action of a command on the repository: the
// configuration and the argument count checked, the repository opened
// (read-only, or created when missing), run, the store closed.
func withStore(min, max int, readOnly, create bool, run func(e *env, s *store.Store, a []string) error) cli.ActionFunc {
	return withOpened(min, max, func(e *env) (*store.Store, error) { return e.open(readOnly, create) }, run)
}

// withOpened is the Action of a command on something it opens (a
// repository, a backup destination): envArgs, open, run, Close.
func withOpened[T io.Closer](min, max int, open func(*env) (T, error), run func(e *env, x T, a []string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		e, a, err := envArgs(c, min, max)
		if err != nil {
			return err
		}
		x, err := open(e)
		if err != nil {
			return err
		}
		defer x.Close()
		return run(e, x, a)
	}
}

// withOpen opens the repository (read-only, or created when missing),
// runs fn, and closes it: for commands that check their flags first.
func (e *env) withOpen(readOnly, create bool, fn func(s *store.Store) error) error {
	s, err := e.open(readOnly, create)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(s)
}

// show ends a command with one result: err when it failed, else v as
// JSON with --json, else what text prints.
func (e *env) show(v any, err error, text func() error) error {
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(v)
	}
	return text()
}

// showAll ends a command whose result tells of failures too (check,
// repair, index rebuild, backup verify): err alone when it has no result
// (have false), else the result as JSON or through text, then err.
func (e *env) showAll(v any, have bool, err error, text func()) error {
	if !have {
		return err
	}
	if e.json {
		if perr := e.printJSON(v); perr != nil {
			return perr
		}
		return err
	}
	text()
	return err
}

// table is a tab-aligned writer on the command's output, its header
// line written.
func (e *env) table(header string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(e.out, 2, 4, 2, ' ', 0)
	if header != "" {
		fmt.Fprintln(tw, header)
	}
	return tw
}
