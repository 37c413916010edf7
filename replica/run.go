package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/session"
	"github.com/silo-dev/silo/snapshot"
)

// Replicate copies from src to dst every blob reachable from the snapshots
// (plus the extra blobs) that dst lacks (see Reachable, Copy). Packs dst
// lost while they were copied fail it with session.ErrConflict: nothing
// was recorded, and it can be run again.
func Replicate(ctx context.Context, src *Source, dst *Destination, snaps, extra []object.ID, recode bool, prog snapshot.Progress) (Stats, error) {
	needed, err := Reachable(ctx, src, snaps, extra)
	if err != nil {
		return Stats{}, err
	}
	st, err := Copy(ctx, src, dst, needed, recode, prog)
	if errors.Is(err, ErrPacksLost) {
		err = fmt.Errorf("%w: %w", session.ErrConflict, err)
	}
	return st, err
}

// Run is one backup for Back to carry out.
type Run struct {
	Plan *Plan
	// Now is the clock: the record's time is when the copy ended.
	Now func() time.Time
	// SourceID is the source repository's id (config.json).
	SourceID string
	// Uncompressed copies blobs raw (storage.backup.compression off).
	Uncompressed bool
	Progress     snapshot.Progress
	// Renew renews the destination session's lease when it lapsed, and
	// reports whether it had (session.Session.RenewLapsed).
	Renew func(ctx context.Context) (bool, error)
	// BeforeRecord, when set, runs after the copy, before the last check
	// (tests pause a backup there).
	BeforeRecord func()
}

// Back copies what r.Plan takes from src to dst, each read or written
// within a session, with the newest catalogue records of its projects,
// lists it in dst's own catalogue (so dst is a silo repository like any
// other), and returns the backup's record, still to be written (Write).
//
// A backup paused past its lease's life (a laptop asleep, a long outage)
// may have lost to another machine's collection what it found present:
// when the destination session's lease lapsed, everything the versions
// need is confirmed again in a pack dst has and no plan condemns, or Back
// fails with session.ErrConflict and nothing counts.
func Back(ctx context.Context, src *Source, dst *Destination, r Run) (*Record, error) {
	metas, err := NewestMeta(ctx, src.Index, src.Repo)
	if err != nil {
		return nil, err
	}
	snaps, extra := r.Plan.Roots(metas)
	st, err := Replicate(ctx, src, dst, snaps, extra, r.Uncompressed, r.Progress)
	if err != nil {
		return nil, fmt.Errorf("backup to %s: %w", dst.location(), err)
	}
	now := r.Now().UTC()
	br := &Record{ID: NewID(now), Time: now,
		SourceRepository: r.SourceID, Source: src.Backend.Location(), Destination: dst.location(), Templates: r.Plan.Templates,
		BytesCopied: st.Bytes, PacksCopied: int(st.Packs), BlobsCopied: int(st.Blobs), Projects: r.Plan.Projects(),
		Uncompressed: r.Uncompressed}
	if err := CopyCatalogue(ctx, src, dst, br); err != nil {
		return nil, fmt.Errorf("backup to %s: %w", dst.location(), err)
	}
	if r.BeforeRecord != nil {
		r.BeforeRecord()
	}
	if err := recheck(ctx, src, dst, r.Renew, snaps, extra); err != nil {
		return nil, fmt.Errorf("backup to %s: %w", dst.location(), err)
	}
	return br, nil
}

// recheck, when the destination session's lease lapsed, renews it and
// confirms again that everything the versions need is in a pack the
// destination has and no plan condemns.
func recheck(ctx context.Context, src *Source, dst *Destination, renew func(context.Context) (bool, error), snaps, extra []object.ID) error {
	if lapsed, err := renew(ctx); err != nil || !lapsed {
		return err
	}
	needed, err := Reachable(ctx, src, snaps, extra)
	if err != nil {
		return err
	}
	gone, err := Confirm(ctx, dst, needed)
	if err != nil {
		return err
	}
	if len(gone) > 0 {
		return fmt.Errorf("%w: while this backup was paused past its lease, %d pack(s) it relied on went; no record was written, run it again",
			session.ErrConflict, len(gone))
	}
	return nil
}
