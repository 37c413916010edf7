package object

import (
	"context"
	"crypto/rand"
	"fmt"
)

// NewPack is a pack written by CopyBlobs: durable, not yet indexed.
type NewPack struct {
	Info  PackInfo
	Blobs []Blob
}

// CopyBlobs reads the blobs at locs (verifying each against its id) and
// writes their stored bytes unchanged into new packs of the given kind. The
// packs are durable when it returns; indexing them is the caller's job (gc
// switches the index from old packs to new ones in one transaction).
func (r *Repository) CopyBlobs(ctx context.Context, locs []Location, data bool) ([]NewPack, error) {
	var out []NewPack
	var cur *openPack
	finish := func() error {
		if cur == nil {
			return nil
		}
		op := cur
		cur = nil
		np, err := r.finishPack(ctx, op)
		if err != nil {
			return err
		}
		out = append(out, np)
		return nil
	}
	var stored, plain []byte
	for _, loc := range locs {
		if err := ctx.Err(); err != nil {
			if cur != nil {
				cur.discard()
			}
			return nil, err
		}
		if cap(stored) < int(loc.Length) {
			stored = make([]byte, loc.Length)
		}
		stored = stored[:loc.Length]
		if err := r.readAt(ctx, loc.Pack, stored, int64(loc.Offset)); err != nil {
			if cur != nil {
				cur.discard()
			}
			return nil, fmt.Errorf("copy blob %s from pack %s: %w", loc.ID, loc.Pack, err)
		}
		var err error
		if plain, err = r.DecodeBlob(loc, stored, plain); err != nil {
			if cur != nil {
				cur.discard()
			}
			return nil, err
		}
		if cur == nil {
			if cur, err = r.newPack("repack-*", data); err != nil {
				return nil, err
			}
		}
		b := loc.Blob
		if err := cur.pw.Add(b, stored); err != nil {
			cur.discard()
			return nil, err
		}
		if cur.pw.Size() >= r.packSz {
			if err := finish(); err != nil {
				return nil, err
			}
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, nil
}

// padding is a small random blob that makes a pack's content, and so its
// name, new; nothing refers to it, so gc drops it in time.
func padding() (Blob, []byte) {
	b := make([]byte, 16)
	rand.Read(b)
	return Blob{ID: Hash(b), Type: DataBlob, Comp: Raw, RawLength: uint32(len(b))}, b
}

// finishPack makes a pack durable in the backend without indexing it.
func (r *Repository) finishPack(ctx context.Context, op *openPack) (NewPack, error) {
	var err error
	if r.condemned != nil && r.seal == nil && r.condemned(op.pw.NextID()) {
		// the same bytes as a pack garbage collection condemned: its name
		// is taken by a file that will go, so make this one differ
		err = op.pw.Add(padding())
	}
	var id ID
	var size int64
	if err == nil {
		id, size, err = op.pw.Finish()
	}
	if err == nil {
		err = op.bw.Flush()
	}
	if _, local := r.be.(tempDirer); err == nil && local {
		// the temp file becomes the pack by a rename: it must be on disk
		// (a remote backend uploads a copy and the temp file is dropped)
		err = op.f.Sync()
	}
	if cerr := op.f.Close(); err == nil {
		err = cerr
	}
	tmp := op.f.Name()
	if err != nil {
		op.fs.Remove(tmp)
		return NewPack{}, fmt.Errorf("object: write pack: %w", err)
	}
	name := PackName(id)
	if fp, ok := r.be.(FilePutter); ok {
		err = fp.PutFile(ctx, name, tmp)
	} else {
		var f File
		f, err = op.fs.Open(tmp)
		if err == nil {
			err = r.be.Put(ctx, name, f, size)
			f.Close()
		}
		op.fs.Remove(tmp)
	}
	if err != nil {
		return NewPack{}, fmt.Errorf("object: store pack %s in %s: %w", id, r.be.Location(), err)
	}
	blobs := op.pw.Blobs()
	return NewPack{Info: PackInfo{ID: id, Size: size, Data: op.data, Count: len(blobs)}, Blobs: blobs}, nil
}
