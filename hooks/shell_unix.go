//go:build unix

package hooks

import (
	"context"
	"os/exec"
	"syscall"
)

// shellCommand runs command through /bin/sh in its own process group,
// which the timeout kills whole.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	return cmd
}
