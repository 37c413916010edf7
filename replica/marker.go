package replica

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// DestinationMarker marks a repository as a backup destination, whose
// live versions are those its backup records hold (Held); backup writes
// it (Mark) before it copies anything.
const DestinationMarker = Prefix + "destination"

// MarkerText is the content of DestinationMarker.
const MarkerText = "silo backup destination\n"

// ErrNotADestination means a backup was pointed at a repository that is
// not a backup destination (it holds versions of its own, or is the source).
var ErrNotADestination = errors.New("store: not a backup destination")

// Mark writes the destination marker to the repository on be (indexed in
// db; id is its config.json id) unless it is there. The source itself
// (sourceID) is refused, and so is a repository without marker or records
// that holds versions: it is someone's primary (or a mistyped --to), and
// in a destination the records decide which versions exist, so marking it
// would let its own versions be collected.
func Mark(ctx context.Context, be object.Backend, db *index.DB, id, sourceID string) error {
	if id == sourceID {
		return fmt.Errorf("%w: %s is the repository being backed up", ErrNotADestination, be.Location())
	}
	if _, err := be.Stat(ctx, DestinationMarker); err == nil {
		return nil
	}
	held := 0
	err := be.List(ctx, Prefix, func(fi object.FileInfo) error {
		if strings.HasSuffix(fi.Name, ".json") {
			held++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("backup to %s: %w", be.Location(), err)
	}
	if held == 0 {
		versions, err := countVersions(db)
		if err != nil {
			// an unreadable count is no proof the repository holds none
			return fmt.Errorf("backup to %s: count its versions: %w", be.Location(), err)
		}
		if versions > 0 {
			return fmt.Errorf("%w: %s holds %d version(s) of its own and no backups; give an empty directory or prefix",
				ErrNotADestination, be.Location(), versions)
		}
	}
	if err := putMarker(ctx, be); err != nil {
		return fmt.Errorf("backup to %s: %w", be.Location(), err)
	}
	return nil
}

// countVersions counts the snapshot blobs in the blob index: a
// destination's catalogue lists only what records hold, so it would show
// none.
func countVersions(db *index.DB) (int, error) {
	versions := 0
	err := db.View(func(tx *index.Tx) error {
		return tx.Blobs(func(l object.Location) error {
			if l.Type == object.SnapshotBlob {
				versions++
			}
			return nil
		})
	})
	return versions, err
}

func putMarker(ctx context.Context, be object.Backend) error {
	return be.Put(ctx, DestinationMarker, strings.NewReader(MarkerText), int64(len(MarkerText)))
}

// Remove deletes the records gone from the destination on be (one
// already gone is no error). A destination an older silo left without
// its marker gets it first, so that every machine keeps taking it for a
// destination once its last record is gone. What only the removed
// records held is left to the destination's gc, whose mark reads the
// records that are left (Held).
func Remove(ctx context.Context, be object.Backend, gone []Record) error {
	if _, err := be.Stat(ctx, DestinationMarker); err != nil {
		if err := putMarker(ctx, be); err != nil {
			return fmt.Errorf("mark %s as a backup destination: %w", be.Location(), err)
		}
	}
	for _, br := range gone {
		if err := be.Delete(ctx, RecordName(br.ID)); err != nil && !errors.Is(err, object.ErrNotFound) {
			return fmt.Errorf("remove backup %s in %s: %w", br.ID, be.Location(), err)
		}
	}
	return nil
}
