package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// ResolveVersion finds a version from "PROJECT" (its newest version),
// "PROJECT@TAG" (the newest version with that version tag),
// "PROJECT@ID-PREFIX", "PROJECT@latest", or a snapshot id or unique prefix.
// A tag wins over an id prefix that reads the same.
func ResolveVersion(tx *index.Tx, ref string) (object.ID, *snapshot.Snapshot, error) {
	proj, ver, hasAt := strings.Cut(ref, "@")
	if ref == "" {
		return object.ID{}, nil, fmt.Errorf("%w: empty snapshot reference", ErrInvalid)
	}
	r, perr := FindRecord(tx, proj)
	if perr != nil && !errors.Is(perr, ErrProjectNotFound) {
		return object.ID{}, nil, perr
	}
	if r != nil {
		var match []object.ID
		if hasAt && ver != "" && ver != "latest" {
			// a version tag names the newest version carrying it
			var terr error
			tx.Versions(r.ID, func(id object.ID, _ time.Time) bool {
				// most versions have no tags: skip decoding those
				_, data, ok, err := tx.Snapshot(id)
				if err != nil || !ok {
					terr = err
					return err == nil
				}
				if !bytes.Contains(data, []byte(`"version_tags"`)) {
					return true
				}
				sn, err := snapshot.DecodeSnapshot(data)
				if err != nil {
					terr = err
					return false
				}
				if slices.Contains(sn.VersionTags, ver) {
					match = append(match, id)
					return false
				}
				return true
			})
			if terr != nil {
				return object.ID{}, nil, terr
			}
		}
		tx.Versions(r.ID, func(id object.ID, _ time.Time) bool {
			if len(match) > 0 {
				return false // named by its tag
			}
			if !hasAt || ver == "latest" || ver == "" {
				match = append(match, id)
				return false
			}
			if strings.HasPrefix(id.String(), strings.ToLower(ver)) {
				match = append(match, id)
			}
			return true
		})
		switch {
		case len(match) == 0 && (!hasAt || ver == "latest" || ver == ""):
			return object.ID{}, nil, fmt.Errorf("%w: project %q has no versions", ErrSnapshotNotFound, r.Name)
		case len(match) == 0:
			return object.ID{}, nil, fmt.Errorf("%w: project %q has no version %q", ErrSnapshotNotFound, r.Name, ver)
		case len(match) > 1:
			return object.ID{}, nil, fmt.Errorf("%w: %q matches %d versions of %q", ErrAmbiguous, ver, len(match), r.Name)
		}
		sn, err := LoadSnapshot(tx, match[0])
		return match[0], sn, err
	}
	if hasAt {
		return object.ID{}, nil, perr
	}
	prefix := strings.ToLower(ref)
	if len(prefix) < 4 || strings.Trim(prefix, "0123456789abcdef") != "" {
		return object.ID{}, nil, fmt.Errorf("%w: no project or snapshot %q", ErrSnapshotNotFound, ref)
	}
	ids := tx.SnapshotsByPrefix(prefix)
	switch len(ids) {
	case 0:
		return object.ID{}, nil, fmt.Errorf("%w: no project or snapshot %q", ErrSnapshotNotFound, ref)
	case 1:
	default:
		return object.ID{}, nil, fmt.Errorf("%w: %q matches %d snapshots", ErrAmbiguous, ref, len(ids))
	}
	sn, err := LoadSnapshot(tx, ids[0])
	return ids[0], sn, err
}

// LoadSnapshot reads a version the catalogue lists.
func LoadSnapshot(tx *index.Tx, id object.ID) (*snapshot.Snapshot, error) {
	_, data, ok, err := tx.Snapshot(id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrSnapshotNotFound, id)
	}
	return snapshot.DecodeSnapshot(data)
}
