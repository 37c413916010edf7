package object

import (
	"context"
	"io"
	"time"
)

// FileInfo describes a file in a Backend.
type FileInfo struct {
	Name    string // slash-separated, relative to the backend's root
	Size    int64
	ModTime time.Time
}

// Backend stores named immutable files (packs, config.json, backup records).
// Names are slash-separated relative paths such as "packs/ab/ab12...".
//
// Guarantees every implementation gives:
//   - Put is atomic and durable: once it returns nil the whole file survives
//     a crash, and no reader ever sees a partial file. Putting a name that
//     already exists is a no-op that returns nil.
//   - Reads after a successful Put see the file (read-after-write).
//   - Get of a missing name, Stat of a missing name and Delete of a missing
//     name return an error wrapping ErrNotFound.
//   - All methods are safe for concurrent use.
type Backend interface {
	// Put stores exactly size bytes read from r under name.
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// Get opens name for reading from offset; length < 0 reads to the end.
	// The caller closes the reader.
	Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error)
	// Stat returns the size and modification time of name.
	Stat(ctx context.Context, name string) (FileInfo, error)
	// List calls fn for every file whose name starts with prefix, in no
	// particular order. An error from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(FileInfo) error) error
	// Delete removes name.
	Delete(ctx context.Context, name string) error
	// Location names the backend for messages: a path or an s3:// URL.
	Location() string
}

// FilePutter is an optional Backend ability: store the local file at path
// under name, consuming the file (the local backend renames it into place).
type FilePutter interface {
	PutFile(ctx context.Context, name, path string) error
}

// NewPutter is an optional Backend ability: store a file under a name
// that no other writer uses (a lease, a gc record), without first asking
// whether it exists, and return what the backend holds after the write
// (its time is the backend's clock). The function PutNew falls back to
// Put and Stat.
type NewPutter interface {
	PutNew(ctx context.Context, name string, r io.Reader, size int64) (FileInfo, error)
}

// PutNew stores a file under a name only its writer uses, through the
// backend's NewPutter when it has one (one request fewer on S3), and
// returns the file's info as the backend holds it.
func PutNew(ctx context.Context, be Backend, name string, r io.Reader, size int64) (FileInfo, error) {
	if np, ok := be.(NewPutter); ok {
		return np.PutNew(ctx, name, r, size)
	}
	if err := be.Put(ctx, name, r, size); err != nil {
		return FileInfo{}, err
	}
	return be.Stat(ctx, name)
}

// Creator is an optional Backend ability: store a file under name only
// when no file has that name, atomically against every other writer, and
// report whether this call created it (false: a file was there, left
// unchanged; usually another writer's, but it may be this call's own
// first attempt whose reply was lost and was sent again). Two inits of
// one repository at once write config.json with it and read it back, so
// that exactly one of them wins.
type Creator interface {
	Create(ctx context.Context, name string, r io.Reader, size int64) (bool, error)
}

// ReaderAtOpener is an optional Backend ability: open a file for random
// access reads (the local backend returns the *os.File).
type ReaderAtOpener interface {
	OpenReaderAt(ctx context.Context, name string) (ReaderAtCloser, error)
}

// Rooted is an optional Backend ability: the backend lives in a local
// directory (Local, or a wrapper around it), where the repository's
// index.db, cache/ and logs/ go too.
type Rooted interface {
	Root() string
}

// Stager is an optional Backend ability: a local backend files can be
// staged beside (Stage, into a temporary directory under its root), made
// durable together and put in place by PutFile (CommitStaged), so a
// backup copies many packs with one wait for the drive.
type Stager interface {
	FilePutter
	Rooted
}

// TemporaryRemover is an optional Backend ability: remove the temporary
// files interrupted Puts left behind that are older than olderThan.
type TemporaryRemover interface {
	RemoveTemporary(olderThan time.Duration)
}

// ReaderAtCloser is a random-access reader that must be closed.
type ReaderAtCloser interface {
	io.ReaderAt
	io.Closer
}
