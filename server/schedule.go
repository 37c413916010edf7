package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/silo-dev/silo/store/config"
)

// Backup frequencies as cron expressions (server local time): hourly on
// the hour, daily at 01:00, weekly on Sunday at 01:00 and monthly on the
// first day of the month at 01:00, ahead of the default cleanup at 03:00.
var frequencies = map[string]string{
	"hourly":  "0 * * * *",
	"daily":   "0 1 * * *",
	"weekly":  "0 1 * * 0",
	"monthly": "0 1 1 * *",
}

// ScheduledTask is one periodic operation.
type ScheduledTask struct {
	Kind string // cleanup or backup
	Spec string // 5-field cron expression
}

// Schedule returns the tasks the configuration asks for: cleanup on
// cleanup_schedule when cleanup_enabled, backup at backup.frequency when
// backup.enabled.
func Schedule(cfg *config.Config) ([]ScheduledTask, error) {
	var out []ScheduledTask
	if cfg.CleanupEnabled {
		out = append(out, ScheduledTask{Kind: "cleanup", Spec: cfg.CleanupSchedule})
	}
	if cfg.Backup.Enabled {
		spec := cfg.Backup.Frequency
		if f, ok := frequencies[spec]; ok {
			spec = f
		}
		out = append(out, ScheduledTask{Kind: "backup", Spec: spec})
	}
	for _, t := range out {
		if _, err := cron.ParseStandard(t.Spec); err != nil {
			return nil, fmt.Errorf("schedule of %s %q: %w", t.Kind, t.Spec, err)
		}
	}
	return out, nil
}

// Scheduler runs scheduled tasks as jobs (trigger "schedule"), so they show
// under /api/storage/jobs, are canceled by Shutdown, and never overlap an
// API-started run of the same kind (that run is skipped and logged).
type Scheduler struct {
	s *Server
	c *cron.Cron
}

// StartScheduler starts the tasks; Stop ends the schedule (running jobs are
// the server's to cancel).
func (s *Server) StartScheduler(tasks []ScheduledTask) (*Scheduler, error) {
	c := cron.New()
	sc := &Scheduler{s: s, c: c}
	for _, t := range tasks {
		t := t
		id, err := c.AddFunc(t.Spec, func() { sc.Run(t.Kind) })
		if err != nil {
			return nil, fmt.Errorf("schedule of %s %q: %w", t.Kind, t.Spec, err)
		}
		s.log.Info("scheduled", "task", t.Kind, "cron", t.Spec, "next", c.Entry(id).Schedule.Next(time.Now()))
	}
	c.Start()
	return sc, nil
}

// Run starts one scheduled task now.
func (sc *Scheduler) Run(kind string) (string, error) {
	var j *job
	var err error
	switch kind {
	case "cleanup":
		j, err = sc.s.startCleanup("schedule", false)
	case "backup":
		j, err = sc.s.startBackup("schedule", nil, "")
	default:
		err = fmt.Errorf("unknown scheduled task %q", kind)
	}
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.code == "job_running":
		sc.s.log.Warn("scheduled run skipped: one is running", "task", kind, "err", err)
		return "", err
	case err != nil:
		sc.s.log.Error("scheduled run failed to start", "task", kind, "err", err)
		return "", err
	}
	sc.s.log.Info("scheduled run started", "task", kind, "job", j.id)
	return j.id, nil
}

// Stop ends the schedule and waits for cron's own goroutines (not for the
// jobs it started).
func (sc *Scheduler) Stop(ctx context.Context) {
	select {
	case <-sc.c.Stop().Done():
	case <-ctx.Done():
	}
}
