package main

import (
	"errors"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/mount"
	"github.com/silo-dev/silo/store"
)

func mountCommand() *cli.Command {
	return &cli.Command{
		Name: "mount",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "project", Aliases: []string{"p"}, Usage: "only `PROJECT` (repeatable; default: every project not deleted)"},
			&cli.BoolFlag{Name: "debug-fuse", Usage: "log every FUSE request"},
		},
		Action: withStore(1, 1, true, false, func(e *env, s *store.Store, a []string) error {
			c := e.c
			m, err := mount.Mount(c.Context, s, a[0], mount.Options{Projects: c.StringSlice("project"), Debug: c.Bool("debug-fuse")}, e.log)
			if err != nil {
				if errors.Is(err, mount.ErrUnsupported) {
					return usagef("%v", err)
				}
				return err
			}
			e.log.Info("mounted", "dir", a[0], "repository", s.Location())
			if !e.json {
				e.printf("mounted %s at %s; Ctrl-C unmounts\n", s.Location(), a[0])
			}
			done := make(chan struct{})
			go func() { m.Wait(); close(done) }()
			select {
			case <-done: // unmounted from outside (fusermount -u)
				return nil
			case <-c.Context.Done():
			}
			// a process with a file open keeps the mount busy: try again for a while
			deadline := time.Now().Add(10 * time.Second)
			for {
				err := m.Unmount()
				if err == nil {
					<-done
					if !e.json {
						e.printf("unmounted %s\n", a[0])
					}
					return nil
				}
				if time.Now().After(deadline) {
					return err
				}
				e.log.Warn("unmount: busy, trying again", "dir", a[0], "err", err)
				time.Sleep(500 * time.Millisecond)
			}
		}),
	}
}
