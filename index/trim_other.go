//go:build !linux

package index

// trim is a no-op where MADV_DONTNEED may discard a shared mapping's pages
// differently; see trim_linux.go.
func (d *DB) trim() {}

// PackBlobLimit implements object.PackLimiter: no limit, as nothing is
// trimmed.
func (d *DB) PackBlobLimit() int { return 0 }
