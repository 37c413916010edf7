package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	ignore "github.com/sabhiram/go-gitignore"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/store/config"
)

// ErrUnknownFilter means a file was stored through a filter that
// storage.filters no longer defines, so it cannot be restored as it was
// (invalid input: it wraps catalog.ErrInvalid too).
var ErrUnknownFilter = errors.New("hooks: filter not defined")

// Filters runs storage.filters (it is a snapshot.Filters): the first
// filter whose patterns match a file's path claims it. Its commands run
// through the shell with the content on stdin, SILO_PATH (the file's path
// in the project) and SILO_FILTER set, and silo's secrets removed from the
// environment; a command that exits non-zero fails the store or the
// restore, naming the file, the filter and the command's last words.
type Filters struct {
	order   []string
	match   map[string]*ignore.GitIgnore
	filters map[string]config.Filter
}

// NewFilters returns the configured filters (nil: none).
func NewFilters(cfg *config.Config) *Filters {
	if len(cfg.Filters) == 0 {
		return nil
	}
	fs := &Filters{match: map[string]*ignore.GitIgnore{}, filters: map[string]config.Filter{}}
	for _, f := range cfg.Filters {
		fs.order = append(fs.order, f.Name)
		fs.match[f.Name] = ignore.CompileIgnoreLines(f.Patterns...)
		fs.filters[f.Name] = f
	}
	return fs
}

// For returns the name of the filter that claims a path ("" for none).
func (fs *Filters) For(rel string) string {
	for _, name := range fs.order {
		if fs.match[name].MatchesPath(rel) {
			return name
		}
	}
	return ""
}

// Clean runs filter name's clean command (content on its way in).
func (fs *Filters) Clean(ctx context.Context, name, rel string, in io.Reader, out io.Writer) error {
	return fs.run(ctx, name, "clean", rel, in, out)
}

// Smudge runs filter name's smudge command (content on its way out).
func (fs *Filters) Smudge(ctx context.Context, name, rel string, in io.Reader, out io.Writer) error {
	return fs.run(ctx, name, "smudge", rel, in, out)
}

func (fs *Filters) run(ctx context.Context, name, which, rel string, in io.Reader, out io.Writer) error {
	f, ok := fs.filters[name]
	if !ok {
		return fmt.Errorf("%w: %w: %s was stored through filter %q, which storage.filters does not define (define it again to restore the file)", catalog.ErrInvalid, ErrUnknownFilter, rel, name)
	}
	command := f.Clean
	if which == "smudge" {
		command = f.Smudge
	}
	cmd := Shell(ctx, command)
	cmd.Env = Env("SILO_PATH="+rel, "SILO_FILTER="+name)
	var stderr TailBuffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		msg := strings.TrimSpace(string(stderr.Bytes()))
		if msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("filter %s's %s command (%s) on %s: %w%s", name, which, command, rel, err, msg)
	}
	return nil
}
