//go:build !linux

package snapshot_test

import "testing"

// openWatch records which regular files under a tree are opened; it needs
// inotify, so elsewhere the tests that watch skip.
type openWatch struct{}

func watchOpens(t testing.TB, _ string) *openWatch {
	t.Helper()
	t.Skip("watching file opens needs inotify (Linux)")
	return nil
}

func (w *openWatch) opened(testing.TB) []string { return nil }
