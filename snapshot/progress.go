package snapshot

import "sync/atomic"

// Progress receives counts from long operations; it must be safe for
// concurrent use. A nil Progress means none.
type Progress interface {
	// AddTotal grows the expected totals (files and bytes) as they become known.
	AddTotal(files, bytes int64)
	// AddDone counts finished work.
	AddDone(files, bytes int64)
}

// Counter is a Progress that keeps atomic totals for a reporter to poll.
type Counter struct {
	Files, Bytes, TotalFiles, TotalBytes atomic.Int64
}

// AddTotal implements Progress.
func (c *Counter) AddTotal(files, bytes int64) {
	c.TotalFiles.Add(files)
	c.TotalBytes.Add(bytes)
}

// AddDone implements Progress.
func (c *Counter) AddDone(files, bytes int64) {
	c.Files.Add(files)
	c.Bytes.Add(bytes)
}

type noProgress struct{}

func (noProgress) AddTotal(int64, int64) {}
func (noProgress) AddDone(int64, int64)  {}

func orNone(p Progress) Progress {
	if p == nil {
		return noProgress{}
	}
	return p
}
