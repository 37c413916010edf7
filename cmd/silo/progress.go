package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/silo-dev/silo/snapshot"
)

// reporter shows a long operation's progress: a live bar on a terminal,
// JSON lines with --json, nothing when piped or with --quiet.
type reporter struct {
	counter *snapshot.Counter
	stop    chan struct{}
	done    sync.WaitGroup
	bar     *progressbar.ProgressBar
}

// progress starts a reporter for an operation named op; Finish stops it.
// It returns a nil Progress when nothing is shown, so the library skips the
// counting work.
func (e *env) progress(op string) (*reporter, snapshot.Progress) {
	r := &reporter{counter: &snapshot.Counter{}, stop: make(chan struct{})}
	tty := term.IsTerminal(int(os.Stderr.Fd()))
	switch {
	case e.json:
		r.done.Add(1)
		go r.jsonLoop(e, op)
	case tty && !e.c.Bool("quiet"):
		r.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionUseIECUnits(true),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionFullWidth(),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetDescription(op))
		r.done.Add(1)
		go r.barLoop(op)
	default:
		return r, nil
	}
	return r, r.counter
}

func (r *reporter) barLoop(op string) {
	defer r.done.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			r.bar.Finish()
			return
		case <-t.C:
			c := r.counter
			if tb := c.TotalBytes.Load(); tb > 0 {
				r.bar.ChangeMax64(max(tb, c.Bytes.Load()))
			}
			r.bar.Describe(fmt.Sprintf("%s: %d/%d files", op, c.Files.Load(), c.TotalFiles.Load()))
			r.bar.Set64(c.Bytes.Load())
		}
	}
}

// progressEvent is one JSON line of --json progress.
type progressEvent struct {
	Type       string  `json:"type"`
	Op         string  `json:"op"`
	Files      int64   `json:"files"`
	TotalFiles int64   `json:"total_files"`
	Bytes      int64   `json:"bytes"`
	TotalBytes int64   `json:"total_bytes"`
	Percent    float64 `json:"percent"`
	Elapsed    float64 `json:"elapsed_s"`
}

func (r *reporter) jsonLoop(e *env, op string) {
	defer r.done.Done()
	start := time.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	enc := json.NewEncoder(e.out)
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			c := r.counter
			ev := progressEvent{Type: "progress", Op: op, Files: c.Files.Load(), TotalFiles: c.TotalFiles.Load(),
				Bytes: c.Bytes.Load(), TotalBytes: c.TotalBytes.Load(), Elapsed: time.Since(start).Seconds()}
			if ev.TotalBytes > 0 {
				ev.Percent = min(100, 100*float64(ev.Bytes)/float64(ev.TotalBytes))
			}
			enc.Encode(ev)
		}
	}
}

// Finish stops the reporter.
func (r *reporter) Finish() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.done.Wait()
}

// summary wraps a command's final result in --json mode.
type summary struct {
	Type string `json:"type"`
	Op   string `json:"op"`
	Data any    `json:"result"`
}

// ended finishes an operation's progress report. When the operation failed,
// or --json printed its summary, done is true and err is what the command
// returns; otherwise the command prints its own lines.
func (e *env) ended(rep *reporter, op string, data any, err error) (done bool, _ error) {
	rep.Finish()
	if err != nil {
		return true, err
	}
	if e.json {
		return true, e.printJSON(summary{Type: "summary", Op: op, Data: data})
	}
	return false, nil
}
