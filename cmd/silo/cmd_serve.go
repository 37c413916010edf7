package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/server"
	"github.com/silo-dev/silo/store"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name: "serve",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Usage: "listen `HOST:PORT` (default: api.addr from the config)"},
			&cli.DurationFlag{Name: "shutdown-timeout", Value: 30 * time.Second, Usage: "how long to let requests and jobs finish at shutdown"},
		},
		Action: serveAction,
	}
}

func serveAction(c *cli.Context) error {
	// the soft memory limit main sets suits one command; a server running
	// many uploads at once needs more than it
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(math.MaxInt64)
	}
	e, _, err := envArgs(c, 0, 0)
	if err != nil {
		return err
	}
	addr := c.String("addr")
	if addr == "" {
		addr = e.cfg.API.Addr
	}
	token := e.cfg.API.Token
	if err := checkServeAddr(addr, token); err != nil {
		return err
	}
	tasks, err := server.Schedule(e.cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	return e.withOpen(false, true, func(s *store.Store) error {
		api := server.New(s, server.Options{Token: token, Logger: e.log, AllowedHosts: listenHosts(addr)})
		sched, err := api.StartScheduler(tasks)
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		fmt.Fprintf(os.Stderr, "silo: serving %s on http://%s (auth: %v)\n", s.Location(), ln.Addr(), token != "")
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(ln) }()
		select {
		case err = <-errc:
		case <-c.Context.Done():
		}
		fmt.Fprintln(os.Stderr, "silo: shutting down")
		if serr := shutdown(c.Duration("shutdown-timeout"), hs, api, sched); serr != nil {
			return serr
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

// shutdown stops the scheduler, lets short requests finish, then cancels
// what still runs (uploads, jobs) and waits for it, all within timeout.
func shutdown(timeout time.Duration, hs *http.Server, api *server.Server, sched *server.Scheduler) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	sched.Stop(ctx)
	quick, cancelQuick := context.WithTimeout(ctx, 5*time.Second)
	hs.Shutdown(quick)
	cancelQuick()
	hs.Close()
	return api.Shutdown(ctx)
}

// listenHosts returns the Host values the address itself stands for (its
// host, unless a wildcard), which the API answers besides loopback names
// and api.allowed_hosts.
func listenHosts(addr string) []string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return nil
	}
	return []string{host}
}

// checkServeAddr refuses to expose the API beyond loopback without a token.
func checkServeAddr(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usagef("--addr %q: want HOST:PORT", addr)
	}
	if token != "" {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return usagef("refusing to serve on %q without a token: set api.token in config/storage.yaml or STORAGE_API_TOKEN, or bind 127.0.0.1", addr)
}
