package snapshot

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"

	"github.com/silo-dev/silo/object"
)

// ChunkSource is what a FileReader reads a file's chunks from: their
// lengths (the index) and their bytes, verified.
type ChunkSource interface {
	BlobLoader
	Lookup(id object.ID) (object.Location, bool, error)
}

// OpenFile opens a regular file's node (at path, for messages) for random
// access. Every chunk must be indexed, and their lengths must add up to
// the node's size.
func OpenFile(ctx context.Context, repo ChunkSource, n *Node, path string) (*FileReader, error) {
	f := &FileReader{ctx: ctx, repo: repo, ids: slices.Clone(n.Content), ends: make([]int64, len(n.Content)), cur: -1}
	for i, id := range n.Content {
		loc, ok, err := repo.Lookup(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%s: chunk %s: %w", path, id, object.ErrBlobNotFound)
		}
		f.size += int64(loc.RawLength)
		f.ends[i] = f.size
	}
	if uint64(f.size) != n.Size {
		return nil, fmt.Errorf("%w: %s: size %d, but its chunks hold %d bytes", object.ErrCorrupt, path, n.Size, f.size)
	}
	return f, nil
}

// FileReader reads one file of a version; it is an io.ReadSeeker (so
// http.ServeContent can answer Range requests). Not safe for concurrent use.
type FileReader struct {
	ctx  context.Context
	repo ChunkSource
	ids  []object.ID
	ends []int64 // ends[i]: offset just past chunk i
	size int64
	pos  int64
	buf  []byte // chunk cur, loaded
	cur  int
}

// Size returns the file's length.
func (f *FileReader) Size() int64 { return f.size }

// Chunks returns how many chunks the file is made of.
func (f *FileReader) Chunks() int { return len(f.ids) }

// Read implements io.Reader.
func (f *FileReader) Read(p []byte) (int, error) {
	if f.pos >= f.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	i := sort.Search(len(f.ends), func(i int) bool { return f.ends[i] > f.pos })
	start := int64(0)
	if i > 0 {
		start = f.ends[i-1]
	}
	if i != f.cur {
		// the load decodes into f.buf's array: a failed one leaves no
		// chunk there
		f.cur = -1
		data, err := f.repo.LoadBlob(f.ctx, f.ids[i], f.buf[:0])
		if err != nil {
			return 0, err
		}
		if int64(len(data)) != f.ends[i]-start {
			return 0, fmt.Errorf("%w: chunk %s holds %d bytes, the index says %d", object.ErrCorrupt, f.ids[i], len(data), f.ends[i]-start)
		}
		f.buf, f.cur = data, i
	}
	n := copy(p, f.buf[f.pos-start:])
	f.pos += int64(n)
	return n, nil
}

// Seek implements io.Seeker.
func (f *FileReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = f.pos + offset
	case io.SeekEnd:
		abs = f.size + offset
	default:
		return f.pos, fmt.Errorf("seek: bad whence %d", whence)
	}
	if abs < 0 {
		return f.pos, fmt.Errorf("seek: negative position %d", abs)
	}
	f.pos = abs
	return abs, nil
}
