package replica

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// ErrPacksLost means the destination lost packs while they were copied,
// twice running: nothing was recorded, and the copy can be run again.
// Copy returns it as a *PacksLostError.
var ErrPacksLost = errors.New("replica: the destination lost packs while they were copied")

// PacksLostError names the destination and the packs it lost.
type PacksLostError struct {
	Destination string
	Packs       []string // short ids
}

func (e *PacksLostError) Error() string {
	return fmt.Sprintf("%s lost %d packs while they were copied (%s); they are no longer indexed there, run it again",
		e.Destination, len(e.Packs), strings.Join(e.Packs, ", "))
}

// Is makes errors.Is(err, ErrPacksLost) hold.
func (e *PacksLostError) Is(target error) bool { return target == ErrPacksLost }

// Source is the repository a copy reads, within a read session of it.
type Source struct {
	Repo    *object.Repository
	Backend object.Backend
	Index   *index.DB
	// Condemned reports a pack a gc plan the session saw condemns: it may
	// be deleted while it is read, so its blobs go one by one.
	Condemned func(pack object.ID) bool
	// Refresh brings Index up to date with the packs, after a pack went
	// (a collection moved its live blobs to new packs).
	Refresh func(ctx context.Context) error
	// Version reads a version (Reachable, CopyCatalogue).
	Version VersionFunc
}

// Destination is the repository a copy writes, within a store session.
type Destination struct {
	Repo    *object.Repository
	Backend object.Backend
	Index   *index.DB
	// NewWriter returns a writer of the session (one that does not reuse
	// condemned copies); each round of a copy takes a new one.
	NewWriter func() *object.Writer
	// Condemned reports a pack a gc plan the session saw condemns: no copy
	// there counts.
	Condemned func(pack object.ID) bool
	// TempDir receives staged packs when Backend is an object.Stager: it
	// must be on the backend's filesystem.
	TempDir string
	// DropGone removes from Index the packs it lists that Backend lacks.
	DropGone func(ctx context.Context, gone []object.ID) error
	Log      *slog.Logger
}

func (d *Destination) location() string { return d.Backend.Location() }

// Stats counts a copy.
type Stats struct {
	Bytes, Blobs, Packs int64
}

// Copy copies every needed blob that dst lacks from src: whole packs when
// dst needs all of a pack, single blobs otherwise. With recode every blob
// is decoded and stored again by dst's codec (one side keeps blobs raw: a
// backup with backup.compression false, or a restore from one). Every byte
// is verified on the way. Then it flushes dst and confirms (Confirm) that
// every needed blob is indexed in dst in a pack whose file dst has: when it
// returns nil, dst can deliver them. A pack dst's index lists but dst lacks
// (it vanished, or an older silo indexed a copy that never landed) is
// dropped from dst's index and copied again, once; lost again, Copy fails
// with ErrPacksLost.
func Copy(ctx context.Context, src *Source, dst *Destination, needed map[object.ID]struct{}, recode bool, prog snapshot.Progress) (Stats, error) {
	var st Stats
	for attempt := 1; ; attempt++ {
		if err := copyMissing(ctx, src, dst, needed, recode, prog, &st); err != nil {
			return st, err
		}
		gone, err := Confirm(ctx, dst, needed)
		if err != nil {
			return st, err
		}
		if len(gone) == 0 {
			return st, nil
		}
		names := make([]string, len(gone))
		for i, id := range gone {
			names[i] = id.Short()
		}
		dst.Log.Warn("the index lists packs the repository lacks; they are dropped and copied again",
			"repository", dst.location(), "packs", strings.Join(names, ","))
		if err := dst.DropGone(ctx, gone); err != nil {
			return st, err
		}
		for _, id := range gone {
			dst.Repo.Forget(id)
		}
		if attempt == 2 {
			return st, &PacksLostError{Destination: dst.location(), Packs: names}
		}
	}
}

// Needed returns every blob the trees under roots refer to (the trees and
// their data blobs), plus the extra blobs (snapshots, catalogue records).
func Needed(ctx context.Context, repo snapshot.BlobLoader, roots []snapshot.ReachRoot, extra []object.ID) (map[object.ID]struct{}, error) {
	needed := map[object.ID]struct{}{}
	for _, id := range extra {
		needed[id] = struct{}{}
	}
	err := snapshot.Reach(ctx, repo, roots, func(tv snapshot.TreeVisit) error {
		if tv.Err != nil {
			return fmt.Errorf("read version %s: %w", tv.Root, tv.Err)
		}
		needed[tv.ID] = struct{}{}
		for i := range tv.Nodes {
			for _, d := range tv.Nodes[i].Content {
				needed[d] = struct{}{}
			}
		}
		return nil
	})
	return needed, err
}

// copyMissing copies the needed blobs dst lacks and adds what it copied to
// st. It indexes a pack copied whole only once its file is in place in dst
// (also when the copy fails later, so the next one need not copy it again),
// and never one whose copy did not land.
func copyMissing(ctx context.Context, src *Source, dst *Destination, needed map[object.ID]struct{}, recode bool, prog snapshot.Progress, st *Stats) error {
	w := dst.NewWriter()
	byPack, err := missingByPack(src, w, needed)
	if err != nil || len(byPack) == 0 {
		return err
	}
	whole, partial, err := planCopy(src, dst, byPack, recode, prog)
	if err != nil {
		return err
	}
	pc := &packCopier{src: src, dst: dst, prog: prog}
	pc.stager, _ = dst.Backend.(object.Stager)
	defer func() { object.DiscardStaged(pc.staged) }() // those not committed
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(3)
	for _, id := range whole {
		g.Go(func() error { return pc.copyWhole(gctx, id) })
	}
	g.Go(func() error {
		n, b, err := copyBlobs(gctx, src, dst, w, byPack, partial, recode, prog)
		pc.bytes.Add(n)
		pc.blobs.Add(b)
		return err
	})
	werr := g.Wait()
	if werr == nil && len(pc.staged) > 0 {
		n, err := object.CommitStaged(ctx, dst.Backend.(object.FilePutter), pc.staged)
		pc.inPlace = append(pc.inPlace, pc.stagedPacks[:n]...)
		if err != nil {
			werr = fmt.Errorf("backup destination %s: %w", dst.location(), err)
		}
	}
	// the packs whose files are in place are durable: index them in one
	// transaction (also after an error, so the next copy does not copy
	// them again); a staged pack that was not committed is removed above
	// and never indexed
	if len(pc.inPlace) > 0 {
		ierr := dst.Index.Update(func(tx *index.Tx) error { return tx.AddPacks(pc.inPlace) })
		if werr == nil {
			werr = ierr
		}
	}
	if werr != nil {
		return werr
	}
	if err := w.Flush(ctx); err != nil {
		return fmt.Errorf("write to %s: %w", dst.location(), err)
	}
	st.Bytes += pc.bytes.Load()
	st.Blobs += pc.blobs.Load()
	st.Packs += pc.packs.Load()
	return nil
}

// packCopier copies whole packs to a destination, at most a few at once:
// straight into place, or staged in its temporary directory when its
// backend can commit staged files (object.Stager).
type packCopier struct {
	src                 *Source
	dst                 *Destination
	prog                snapshot.Progress
	stager              object.Stager
	bytes, blobs, packs atomic.Int64
	mu                  sync.Mutex
	inPlace             []object.NewPack // whole packs whose files dst has
	staged              []object.Staged  // whole packs waiting in dst's temp directory
	stagedPacks         []object.NewPack
}

// copyWhole copies the pack id, unless dst has its file already.
func (pc *packCopier) copyWhole(ctx context.Context, id object.ID) error {
	np, rc, err := packSource(ctx, pc.src, pc.dst, id)
	if err != nil {
		return err
	}
	if rc == nil { // dst has the file already
		pc.mu.Lock()
		pc.inPlace = append(pc.inPlace, np)
		pc.mu.Unlock()
	} else {
		defer rc.Close()
		if err := pc.put(ctx, id, np, rc); err != nil {
			return fmt.Errorf("copy pack %s to %s: %w", id.Short(), pc.dst.location(), err)
		}
		pc.bytes.Add(np.Info.Size)
		pc.blobs.Add(int64(len(np.Blobs)))
		pc.packs.Add(1)
	}
	if pc.prog != nil {
		pc.prog.AddDone(1, np.Info.Size)
	}
	return nil
}

// put stages the pack's file or puts it in place, and notes which.
func (pc *packCopier) put(ctx context.Context, id object.ID, np object.NewPack, rc io.Reader) error {
	if pc.stager != nil {
		sf, err := object.Stage(pc.dst.TempDir, object.PackName(id), rc, np.Info.Size)
		if err != nil {
			return err
		}
		pc.mu.Lock()
		pc.staged, pc.stagedPacks = append(pc.staged, sf), append(pc.stagedPacks, np)
		pc.mu.Unlock()
		return nil
	}
	if err := pc.dst.Backend.Put(ctx, object.PackName(id), bufio.NewReaderSize(rc, 1<<20), np.Info.Size); err != nil {
		return err
	}
	pc.mu.Lock()
	pc.inPlace = append(pc.inPlace, np)
	pc.mu.Unlock()
	return nil
}

// missingByPack groups the needed blobs dst lacks by the source pack that
// holds them.
func missingByPack(src *Source, w *object.Writer, needed map[object.ID]struct{}) (map[object.ID][]object.Location, error) {
	byPack := map[object.ID][]object.Location{}
	for id := range needed {
		if ok, err := w.Has(id); err != nil {
			return nil, err
		} else if ok {
			continue
		}
		loc, ok, err := src.Repo.Lookup(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("blob %s is referenced but missing from %s; run `silo check`", id, src.Backend.Location())
		}
		byPack[loc.Pack] = append(byPack[loc.Pack], loc)
	}
	return byPack, nil
}

// planCopy splits the source packs into those copied whole (dst needs all
// of their blobs) and those whose blobs are copied one by one, and tells
// prog the total.
func planCopy(src *Source, dst *Destination, byPack map[object.ID][]object.Location, recode bool, prog snapshot.Progress) (whole, partial []object.ID, err error) {
	// how many indexed blobs each source pack holds
	inPack := map[object.ID]int{}
	packSize := map[object.ID]int64{}
	err = src.Index.View(func(tx *index.Tx) error {
		for id := range byPack {
			p, ok, err := tx.Pack(id)
			if err != nil {
				return err
			}
			if ok {
				inPack[id] = p.Count
				packSize[id] = p.Size
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	var total int64
	for id, locs := range byPack {
		// a pack of that name that dst's gc condemned is no copy to keep,
		// and one src's gc condemned may go while it is read: the blobs go
		// into new packs one by one
		if !recode && len(locs) >= inPack[id] && !dst.Condemned(id) && !src.Condemned(id) {
			whole = append(whole, id)
			total += packSize[id]
			continue
		}
		partial = append(partial, id)
		for _, l := range locs {
			total += int64(l.Length)
		}
	}
	if prog != nil {
		prog.AddTotal(int64(len(byPack)), total)
	}
	slices.SortFunc(whole, func(a, b object.ID) int { return strings.Compare(a.String(), b.String()) })
	return whole, partial, nil
}

// copyBlobs copies the blobs of the partial packs one by one into dst's
// writer, and returns the bytes and blobs it added.
func copyBlobs(ctx context.Context, src *Source, dst *Destination, w *object.Writer, byPack map[object.ID][]object.Location, partial []object.ID, recode bool, prog snapshot.Progress) (bytes, blobs int64, err error) {
	var buf []byte
	for _, id := range partial {
		for _, loc := range byPack[id] {
			stored, b, err := readSource(ctx, src, loc, buf)
			if err != nil {
				return bytes, blobs, err
			}
			buf = stored
			var n int64
			if recode {
				var plain []byte
				if plain, err = src.Repo.DecodeBlob(object.Location{Pack: loc.Pack, Blob: b}, stored, nil); err == nil {
					n, err = w.SaveBlob(ctx, b.Type, b.ID, plain)
				}
			} else {
				n, err = w.SaveStored(ctx, b, stored)
			}
			if err != nil {
				return bytes, blobs, fmt.Errorf("copy blob %s to %s: %w", loc.ID.Short(), dst.location(), err)
			}
			bytes += n
			if n > 0 {
				blobs++
			}
			if prog != nil {
				prog.AddDone(0, int64(loc.Length))
			}
		}
		if prog != nil {
			prog.AddDone(1, 0)
		}
	}
	return bytes, blobs, nil
}

// readSource reads the stored form of a blob of src at loc or, when that
// pack is gone, at another copy src's index knows after a refresh: a
// collection whose plan was made before this session began may carry it
// out meanwhile, moving the pack's live blobs to new packs and deleting
// it.
func readSource(ctx context.Context, src *Source, loc object.Location, buf []byte) ([]byte, object.Blob, error) {
	stored, err := src.Repo.ReadStored(ctx, loc, buf)
	if err == nil || !errors.Is(err, object.ErrNotFound) {
		return stored, loc.Blob, err
	}
	if rerr := src.Refresh(ctx); rerr != nil {
		return nil, loc.Blob, err
	}
	nl, ok, lerr := src.Repo.Lookup(loc.ID)
	if lerr != nil || !ok || nl.Pack == loc.Pack {
		return nil, loc.Blob, err
	}
	stored, err = src.Repo.ReadStored(ctx, nl, buf)
	return stored, nl.Blob, err
}

// Confirm checks that every needed blob is indexed in dst in a pack the
// session may rely on (not condemned by a gc plan) whose file dst has: one
// Stat per pack. It returns the packs dst's index lists for those blobs
// that dst lacks; a blob not indexed at all is an error.
func Confirm(ctx context.Context, dst *Destination, needed map[object.ID]struct{}) ([]object.ID, error) {
	packs := map[object.ID]bool{}
	for id := range needed {
		loc, ok, err := dst.Repo.Lookup(id)
		if err != nil {
			return nil, err
		}
		if ok && dst.Condemned(loc.Pack) {
			// the copy made this session is in another pack
			locs, err := dst.Index.Locations(id)
			if err != nil {
				return nil, err
			}
			i := slices.IndexFunc(locs, func(l object.Location) bool { return !dst.Condemned(l.Pack) })
			if ok = i >= 0; ok {
				loc = locs[i]
			}
		}
		if !ok {
			return nil, fmt.Errorf("blob %s was copied to %s but is not indexed there", id, dst.location())
		}
		packs[loc.Pack] = true
	}
	ids := make(chan object.ID)
	var mu sync.Mutex
	var gone []object.ID
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(ids)
		for id := range packs {
			select {
			case ids <- id:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	for range 8 {
		g.Go(func() error {
			for id := range ids {
				_, err := dst.Backend.Stat(gctx, object.PackName(id))
				if errors.Is(err, object.ErrNotFound) {
					mu.Lock()
					gone = append(gone, id)
					mu.Unlock()
					continue
				}
				if err != nil {
					return fmt.Errorf("backup destination %s: pack %s: %w", dst.location(), id.Short(), err)
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	slices.SortFunc(gone, func(a, b object.ID) int { return strings.Compare(a.String(), b.String()) })
	return gone, nil
}

// packSource opens a source pack for copying: its description, and a reader
// that fails at EOF unless the content hashes to the pack's name; the
// reader is nil when dst has the pack file already.
func packSource(ctx context.Context, src *Source, dst *Destination, id object.ID) (object.NewPack, io.ReadCloser, error) {
	np, err := src.Repo.ReadPack(ctx, id)
	if err != nil {
		return np, nil, err
	}
	name := object.PackName(id)
	if _, err := dst.Backend.Stat(ctx, name); err == nil {
		return np, nil, nil
	}
	rc, err := src.Backend.Get(ctx, name, 0, -1)
	if err != nil {
		return np, nil, fmt.Errorf("read pack %s from %s: %w", id, src.Backend.Location(), err)
	}
	return np, verifyingReader{rc: rc, h: blake3.New(), want: id, where: src.Backend.Location()}, nil
}

// verifyingReader hashes what it reads and, at the end, returns
// object.ErrCorrupt instead of io.EOF when the content does not hash to want.
type verifyingReader struct {
	rc    io.ReadCloser
	h     *blake3.Hasher
	want  object.ID
	where string
}

func (v verifyingReader) Close() error { return v.rc.Close() }

func (v verifyingReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		var got object.ID
		copy(got[:], v.h.Sum(nil))
		if got != v.want {
			return n, fmt.Errorf("pack %s in %s: %w: content hashes to %s", v.want, v.where, object.ErrCorrupt, got.Short())
		}
	}
	return n, err
}
