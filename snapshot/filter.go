package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Filters are content filters, as git's clean and smudge: a file a filter
// claims is stored as what Clean makes of its content, and restored as
// what Smudge makes of the stored bytes. Its tree entry records the
// filter's name (Node.Filter), so a restore knows which filter to undo,
// whatever the configuration says by then about paths.
type Filters interface {
	// For returns the name of the filter for the file at rel (a
	// slash-separated path from the root), "" for none.
	For(rel string) string
	// Clean writes to out the stored form of in, the content of the file
	// at rel, through filter name.
	Clean(ctx context.Context, name, rel string, in io.Reader, out io.Writer) error
	// Smudge writes to out the restored form of in, the stored content of
	// the file at rel, through filter name.
	Smudge(ctx context.Context, name, rel string, in io.Reader, out io.Writer) error
}

// MaxFilterName bounds a filter's name in a tree.
const MaxFilterName = 64

// CheckFilterName refuses a name a tree cannot hold: empty, too long, or
// with other than letters, digits, '-', '_' and '.'.
func CheckFilterName(name string) error {
	if name == "" || len(name) > MaxFilterName {
		return fmt.Errorf("%w: filter name %q (1 to %d characters)", ErrBadTree, name, MaxFilterName)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("%w: filter name %q (letters, digits, '-', '_' and '.')", ErrBadTree, name)
		}
	}
	return nil
}

// errFilterStopped is what a producer gets when the filter ended before
// reading all of its input.
var errFilterStopped = errors.New("the filter stopped reading its input")

// through runs filter fn over the bytes that produce writes to w, and
// copies what fn writes to out: produce runs in its own goroutine, and
// whichever side fails first stops the other. The first failure is the
// error: the other side's is its consequence (a damaged blob breaks the
// smudge command's input; a quota stop while chunking breaks the clean
// command's output pipe).
func through(produce func(w io.Writer) error, fn func(in io.Reader, out io.Writer) error, out io.Writer) error {
	var mu sync.Mutex
	var first error
	record := func(err error) {
		mu.Lock()
		if first == nil && err != nil && !errors.Is(err, errFilterStopped) {
			first = err
		}
		mu.Unlock()
	}
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := produce(pw)
		record(err) // before the reader sees it
		pw.CloseWithError(err)
	}()
	ferr := fn(pr, out)
	record(ferr)
	pr.CloseWithError(errFilterStopped)
	<-done
	return first
}
