//go:build !linux

package index

// trim is a no-op where MADV_DONTNEED may discard a shared mapping's pages
// differently; see trim_linux.go.
func (d *DB) trim() {}
