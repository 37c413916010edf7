package object

import (
	"context"
	"fmt"
	"io"
	"os"

	"golang.org/x/sync/errgroup"
)

// Staged is a file written by Stage into a temporary directory beside a
// Stager backend, waiting for CommitStaged to put it in place as Name.
type Staged struct {
	Name string // the name it takes in the backend
	Path string // the temporary file; "" once CommitStaged consumed it
}

// Stage copies r (size bytes) into a new temporary file in dir, which must
// be on the filesystem of the Stager backend the file goes to, without
// syncing it: many staged files are made durable together by
// CommitStaged, as cp followed by one sync, but a crash before the sync
// leaves only temporary files, never a named file with lost data. A copy
// of another length, or a read error, removes the file.
func Stage(dir, name string, r io.Reader, size int64) (Staged, error) {
	f, err := os.CreateTemp(dir, "stage-*")
	if err != nil {
		return Staged{}, err
	}
	n, err := io.CopyBuffer(f, r, make([]byte, 1<<20))
	if err == nil && n != size {
		err = fmt.Errorf("%s: copied %d bytes, want %d", name, n, size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return Staged{}, err
	}
	return Staged{Name: name, Path: f.Name()}, nil
}

// syncWorkers is how many staged files CommitStaged syncs at once: enough
// to keep a drive's queue busy, few enough not to hold many files open.
const syncWorkers = 8

// CommitStaged makes the staged files durable, each with its own fsync
// (syncWorkers at a time), then puts them in place in order through the
// backend's PutFile, which syncs the directory. It returns n: files[:n]
// are in place, also when it fails part of the way. Every file is
// consumed: files[i].Path is "" afterwards, whether it was put in place or
// removed.
func CommitStaged(ctx context.Context, be FilePutter, files []Staged) (n int, err error) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(syncWorkers)
	for _, sf := range files {
		g.Go(func() error {
			if err := gctx.Err(); err != nil {
				return err
			}
			return SyncFile(sf.Path)
		})
	}
	err = g.Wait()
	for i := range files {
		path := files[i].Path
		files[i].Path = ""
		if err != nil {
			os.Remove(path)
			continue
		}
		// PutFile consumes the file, put in place or not
		if err = be.PutFile(ctx, files[i].Name, path); err == nil {
			n++
		}
	}
	return n, err
}

// SyncFile makes a closed file's content durable. The file is opened for
// writing: Windows' FlushFileBuffers needs that (on macOS, Sync is
// F_FULLFSYNC).
func SyncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// DiscardStaged removes the staged files CommitStaged has not consumed.
func DiscardStaged(files []Staged) {
	for i := range files {
		if files[i].Path != "" {
			os.Remove(files[i].Path)
			files[i].Path = ""
		}
	}
}
