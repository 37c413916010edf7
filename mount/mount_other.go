//go:build !linux && !darwin

package mount

import (
	"context"
	"log/slog"

	"github.com/silo-dev/silo/store"
)

// Mounted is a mounted view (never, on this platform).
type Mounted struct{}

// Mount returns ErrUnsupported: this platform has no FUSE.
func Mount(context.Context, *store.Store, string, Options, *slog.Logger) (*Mounted, error) {
	return nil, ErrUnsupported
}

// Wait returns at once.
func (m *Mounted) Wait() {}

// Unmount returns ErrUnsupported.
func (m *Mounted) Unmount() error { return ErrUnsupported }
