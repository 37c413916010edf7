package reindex

import (
	"context"
	"slices"
	"strings"

	"github.com/silo-dev/silo/check"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// Built reports what Build read.
type Built struct {
	Packs int // listed
	Blobs int
	// BadPacks are packs of which nothing could be read; Salvaged, packs
	// whose table is damaged, read blob by blob.
	BadPacks, Salvaged []string
	// Skipped are snapshot and meta blobs that could not be read.
	Skipped []string
	// Lost counts the blobs versions refer to that no pack holds
	// readably; Broken lists those versions.
	Lost   int
	Broken []string
}

// Build fills src.DB, a new index, from the packs alone: first the
// catalogue of old (when it can be read: a record whose blobs cannot be
// read is then kept, not dropped), then every pack's blobs (a pack whose
// table is damaged is read blob by blob, with old's locations as hints),
// the catalogue merged from the packs' snapshot and meta blobs, and the
// blobs versions refer to that no pack holds, recorded lost. It marks the
// index complete. src.Repo must index into src.DB.
func Build(ctx context.Context, src Source, old *index.DB) (*Built, error) {
	b := &Built{}
	if err := old.CopyCatalogueTo(src.DB); err != nil {
		src.logger().Warn("the old index's catalogue cannot be read; the catalogue comes from the packs alone", "err", err)
	}
	if err := continueListings(old, src.DB); err != nil {
		return b, err
	}
	rep := &Report{Packs: map[object.ID]bool{}}
	if err := listPacks(ctx, src, rep.Packs); err != nil {
		return b, err
	}
	for id := range rep.Packs {
		rep.Added = append(rep.Added, id)
	}
	slices.SortFunc(rep.Added, func(a, b object.ID) int { return strings.Compare(a.String(), b.String()) })
	rep.Salvage = func(id object.ID) []object.Blob { return check.SalvageHints(old, id) }
	if err := Index(ctx, src, rep); err != nil {
		return b, err
	}
	// packs written while the first listing ran: indexed, their catalogue
	// blobs left to the next refresh (see pending.go)
	if err := listAgain(ctx, src, rep); err != nil {
		return b, err
	}
	b.Packs = len(rep.Packs)
	b.Blobs, b.BadPacks, b.Salvaged = rep.Blobs, rep.Unreadable, rep.Salvaged
	st, err := Apply(ctx, src, nil, false)
	if err != nil {
		return b, err
	}
	b.Skipped = st.Skipped
	if b.Lost, b.Broken, err = RecordLost(ctx, src.Repo, src.DB); err != nil {
		return b, err
	}
	return b, src.DB.Update(func(tx *index.Tx) error { return tx.SetInfo(InfoComplete, []byte("1")) })
}
