package reindex

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// A listing of the packs is no snapshot of the backend: S3 returns 1,000
// keys a page, a local backend one directory at a time. A pack written
// while a listing runs is listed or not depending on where the listing
// is. A store uploads its data and tree packs before the pack with its
// snapshot, so a listing can miss a data pack (its key sorts before the
// point the listing had reached when it was written) and list the
// snapshot's pack (written a moment later, its key sorting after).
// Merging that snapshot would list a version whose blobs the index lacks:
// gc's mark would stop on "referenced blob missing", a backup would call
// the version damaged.
//
// The invariant: a pack's catalogue blobs are merged only by a refresh
// that has indexed every pack a listing begun after that pack was listed
// holds.
//
// Why it holds: a pack P listed by a listing L was complete before L
// ended; every pack the writer of a snapshot in P uploaded before it was
// complete before P began. A listing begun after L ended therefore lists
// each of them that still exists. So a refresh whose first listing finds
// new packs that hold catalogue blobs lists again (the second listing
// begins after the first ended; new data packs alone need no second
// listing, nothing is merged from them), indexes what only the second found, and merges the catalogue
// blobs of the first listing's packs alone. The packs only the second
// listing found wait in the pending list with the number of the last
// listing begun when the second one ended; a refresh whose own first
// listing is numbered above that began after it ended, and merges them.
// The listings are numbered in index.db (infoListings), so the rule needs
// no clock. Packs a refresh found wait in the pending list from before it
// indexes them until it has merged them, so a refresh cut short (killed,
// or an error) leaves them to the next one; packs whose catalogue blobs
// could not be read wait there, marked unreadable, for every refresh to
// try again.
//
// gc's mark (RefreshForMark, MarkRoots) merges instead the catalogue
// blobs of every pack its own first listing held, and always lists twice:
// each such pack's predecessors are in its second listing, which it
// indexed, and a version whose pack that listing missed was written
// after it began, by a session gc's own protocol waits for (gc/doc.go).
// So the mark never misses a version that was complete when it began,
// even one another refresh left waiting.

// infoListings numbers the refreshes' listings (big-endian uint64, the
// number of the last one begun).
const infoListings = "listings"

// infoPending holds the packs whose catalogue blobs wait to be merged
// (JSON: pack id to pendingPack).
const infoPending = "pending"

// infoUnapplied is the list (JSON ids) of packs whose catalogue blobs
// could not be read, written by silo before the pending list: it is read
// into the pending list once.
const infoUnapplied = "unapplied"

type pendingPack struct {
	// After: merged only by a refresh whose first listing is numbered
	// above (0: by any).
	After uint64 `json:"after,omitempty"`
	// Unreadable: its catalogue blobs could not be read; every refresh
	// tries again, and gc's strict merge stops on it.
	Unreadable bool `json:"unreadable,omitempty"`
}

// nextListing numbers a listing about to begin.
func nextListing(tx *index.Tx) (uint64, error) {
	n := listings(tx) + 1
	return n, tx.SetInfo(infoListings, binary.BigEndian.AppendUint64(nil, n))
}

// listingsMargin is how far a new index.db's listings are numbered past
// the old one's: more than can begin in other processes, on the old
// file, while a rebuild runs (they compare their numbers with the new
// file's once it is in place).
const listingsMargin = 1 << 32

// continueListings numbers the listings of a new index.db (a rebuild's,
// about to list) on from old's, and begins one.
func continueListings(old, db *index.DB) error {
	var n uint64 // 0 when the old file cannot be read: the margin is left
	old.View(func(tx *index.Tx) error { n = listings(tx); return nil })
	return db.Update(func(tx *index.Tx) error {
		return tx.SetInfo(infoListings, binary.BigEndian.AppendUint64(nil, n+listingsMargin+1))
	})
}

// listings is the number of the last listing begun.
func listings(tx *index.Tx) uint64 {
	if b := tx.Info(infoListings); len(b) == 8 {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// pendingOf reads the pending list. A list that cannot be decoded (a
// damaged index.db) is read as empty and the index marked incomplete, so
// that the next refresh merges the catalogue blobs of every pack instead
// of every command failing, or the waiting packs being forgotten; in a
// read-only transaction the mark is left to the next writing one.
func pendingOf(tx *index.Tx) (map[object.ID]pendingPack, error) {
	p := map[object.ID]pendingPack{}
	damaged := false
	if b := tx.Info(infoPending); len(b) > 0 {
		var raw map[string]pendingPack
		if json.Unmarshal(b, &raw) != nil {
			damaged = true
		}
		for s, pp := range raw {
			if id, err := object.ParseID(s); err == nil {
				p[id] = pp
			} else {
				damaged = true
			}
		}
	}
	if damaged && tx.Writable() {
		if err := tx.Delete("info", InfoComplete); err != nil {
			return nil, err
		}
	}
	var old []object.ID
	if json.Unmarshal(tx.Info(infoUnapplied), &old) == nil {
		for _, id := range old {
			p[id] = pendingPack{Unreadable: true}
		}
	}
	return p, nil
}

func setPending(tx *index.Tx, p map[object.ID]pendingPack) error {
	raw := make(map[string]pendingPack, len(p))
	for id, pp := range p {
		raw[id.String()] = pp
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	if tx.Info(infoUnapplied) != nil {
		if err := tx.Delete("info", infoUnapplied); err != nil {
			return err
		}
	}
	return tx.SetInfo(infoPending, b)
}

// addPending puts packs into the pending list, to be merged only by a
// refresh whose first listing begins after now.
func addPending(db *index.DB, packs []object.ID) error {
	if len(packs) == 0 {
		return nil
	}
	return db.Update(func(tx *index.Tx) error {
		p, err := pendingOf(tx)
		if err != nil {
			return err
		}
		after := listings(tx)
		for _, id := range packs {
			if old, ok := p[id]; !ok || old.After < after {
				p[id] = pendingPack{After: after}
			}
		}
		return setPending(tx, p)
	})
}

// pending reads the pending list.
func pending(db *index.DB) (map[object.ID]pendingPack, error) {
	var p map[object.ID]pendingPack
	err := db.View(func(tx *index.Tx) error {
		var err error
		p, err = pendingOf(tx)
		return err
	})
	return p, err
}

// listPacks lists the packs of the backend into packs.
func listPacks(ctx context.Context, src Source, packs map[object.ID]bool) error {
	err := src.Backend.List(ctx, "packs/", func(fi object.FileInfo) error {
		if id, ok := object.ParsePackName(fi.Name); ok {
			packs[id] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list packs in %s: %w", src.Backend.Location(), err)
	}
	return nil
}

// listAgain lists the packs a second time, after a first listing found
// new ones with catalogue blobs (rep.Added, indexed), and indexes the packs only the second
// listing holds, into rep.Late and rep.Packs; they wait in the pending
// list for a later refresh to merge.
func listAgain(ctx context.Context, src Source, rep *Report) error {
	second := map[object.ID]bool{}
	if err := listPacks(ctx, src, second); err != nil {
		return err
	}
	if err := src.DB.View(func(tx *index.Tx) error {
		for id := range second {
			if rep.Packs[id] {
				continue
			}
			if _, ok, err := tx.Pack(id); err != nil {
				return err
			} else if !ok && !tx.Removed(id, rep.ListedAt) {
				rep.Late = append(rep.Late, id)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if len(rep.Late) == 0 {
		return nil
	}
	slices.SortFunc(rep.Late, func(a, b object.ID) int { return strings.Compare(a.String(), b.String()) })
	for _, id := range rep.Late {
		rep.Packs[id] = true
	}
	src.logger().Info("packs written during the listing; their catalogue blobs wait for the next refresh", "late_packs", len(rep.Late))
	if err := addPending(src.DB, rep.Late); err != nil {
		return err
	}
	late := &Report{Added: rep.Late, ListedAt: rep.ListedAt, Salvage: rep.Salvage}
	err := Index(ctx, src, late)
	rep.Blobs += late.Blobs
	rep.Unreadable = append(rep.Unreadable, late.Unreadable...)
	rep.Salvaged = append(rep.Salvaged, late.Salvaged...)
	slices.Sort(rep.Unreadable)
	return err
}
