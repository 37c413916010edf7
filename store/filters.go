package store

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/silo-dev/silo/hooks"
	"github.com/silo-dev/silo/snapshot"
)

// filters returns storage.filters as snapshot.Filters (nil: none).
func (s *Store) filters() snapshot.Filters {
	if fs := hooks.NewFilters(s.cfg); fs != nil {
		return filters{fs}
	}
	return nil
}

// filters gives a file stored through a filter storage.filters no longer
// defines ErrInvalid, besides hooks.ErrUnknownFilter (as keyErr does for
// keyring's refusals).
type filters struct{ *hooks.Filters }

func (f filters) Clean(ctx context.Context, name, rel string, in io.Reader, out io.Writer) error {
	return invalidFilter(f.Filters.Clean(ctx, name, rel, in, out))
}

func (f filters) Smudge(ctx context.Context, name, rel string, in io.Reader, out io.Writer) error {
	return invalidFilter(f.Filters.Smudge(ctx, name, rel, in, out))
}

func invalidFilter(err error) error {
	if errors.Is(err, hooks.ErrUnknownFilter) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}
