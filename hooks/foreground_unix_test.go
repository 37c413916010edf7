//go:build unix

package hooks

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A foreground command stays in silo's process group (the terminal would
// stop a background one that reads from it) and still dies when its
// context is cancelled (Ctrl-C, SIGTERM): it is not waited out.
func TestForegroundShell(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err == nil {
		out, err := ForegroundShell(context.Background(), "cut -d' ' -f5 /proc/$$/stat").Output()
		if err != nil {
			t.Fatal(err)
		}
		pgid, _ := strconv.Atoi(strings.TrimSpace(string(out)))
		if want := syscall.Getpgrp(); pgid != want {
			t.Errorf("foreground command in process group %d, want silo's %d", pgid, want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := ForegroundShell(ctx, "sleep 20").Run()
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("a cancelled foreground command: %v after %v, want killed at once", err, time.Since(start))
	}
}
