// Package upload is the blob side of the dedup upload protocol (the HTTP
// API's, which `silo store --remote` and the Python client speak): a
// client asks which blobs are missing, uploads only those, then commits a
// tree (store's Uploads.Commit). The blobs it is told are present, and
// those it uploads, stay in the repository for at least the TTL (at most
// twice that) whatever collects garbage meanwhile, on this machine or
// another: they are reported and stored by a session of kind upload (a
// generation, see gc.Generations) that lives that long.
package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/session"
	"github.com/silo-dev/silo/snapshot"
)

// ErrDigestMismatch means uploaded bytes do not hash to the id they were
// sent under; nothing was stored.
var ErrDigestMismatch = errors.New("store: blob content does not match its id")

// Size limits of uploaded blobs.
const (
	// MaxDataBlob is the largest data blob (a chunk) an upload may carry.
	MaxDataBlob = chunk.MaxSize
	// MaxTreeBlob is the largest tree blob an upload may carry (a
	// directory of several hundred thousand entries).
	MaxTreeBlob = 64 << 20
)

// Options configure New.
type Options struct {
	Repo *object.Repository
	// TTL is how long what a generation reports lasts at least (default
	// 30 minutes); Now is the clock (default time.Now).
	TTL time.Duration
	Now func() time.Time
	// Begin starts a session of kind upload.
	Begin func(ctx context.Context) (*session.Session, error)
	// Writable refuses Missing and Put up front (a read-only repository);
	// Quota refuses a Put whose blob was read and checked (a repository
	// over total_quota). Either may be nil.
	Writable, Quota func() error
	// Closed is the error a closed Blobs answers with.
	Closed error
}

// Blobs answers which blobs are missing and stores uploaded ones. Safe
// for concurrent use. Close ends the generations.
type Blobs struct {
	o    Options
	gens *gc.Generations[*generation]
}

// generation is a session answering and storing uploads.
type generation struct {
	se *session.Session
	w  *object.Writer
}

// New starts the blob side of an upload service.
func New(o Options) *Blobs {
	if o.TTL <= 0 {
		o.TTL = 30 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Blobs{o: o, gens: &gc.Generations[*generation]{TTL: o.TTL, Now: o.Now,
		Start: func(ctx context.Context) (*generation, error) {
			se, err := o.Begin(context.WithoutCancel(ctx))
			if err != nil {
				return nil, err
			}
			return &generation{se: se, w: se.Writer()}, nil
		},
		End: func(g *generation) { g.se.End() }}}
}

// gen returns the current generation, starting one when there is none.
func (u *Blobs) gen(ctx context.Context) (*generation, error) {
	g, err := u.gens.Current(ctx)
	if errors.Is(err, gc.ErrClosed) && u.o.Closed != nil {
		return nil, u.o.Closed
	}
	return g, err
}

// Close ends the generations.
func (u *Blobs) Close() { u.gens.Close() }

func (u *Blobs) writable() error {
	if u.o.Writable == nil {
		return nil
	}
	return u.o.Writable()
}

// Missing returns the ids the repository lacks, in the order given
// (duplicates once). A blob whose every copy garbage collection condemned
// counts as missing.
func (u *Blobs) Missing(ctx context.Context, ids []object.ID) ([]object.ID, error) {
	if err := u.writable(); err != nil {
		return nil, err
	}
	g, err := u.gen(ctx)
	if err != nil {
		return nil, err
	}
	out := []object.ID{}
	seen := make(map[object.ID]bool, len(ids))
	for i, id := range ids {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		ok, err := g.w.Has(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = append(out, id)
		}
	}
	return out, nil
}

// PutResult reports one uploaded blob.
type PutResult struct {
	ID     object.ID `json:"id"`
	Type   string    `json:"type"`
	Size   int64     `json:"size"`   // plain bytes
	Stored int64     `json:"stored"` // bytes added to packs (0: the repository had it)
	Exists bool      `json:"exists"` // the repository had it already
}

// Put reads one blob of type t (data or tree) from r, at most MaxDataBlob
// or MaxTreeBlob bytes, checks that it hashes to id and that a tree blob
// decodes, and stores it unless the repository has it. A blob that does not
// match is refused with ErrDigestMismatch and nothing is stored. The blob is
// durable once a commit (or any other store) flushes.
func (u *Blobs) Put(ctx context.Context, t object.BlobType, id object.ID, r io.Reader) (*PutResult, error) {
	if err := u.writable(); err != nil {
		return nil, err
	}
	limit := int64(MaxDataBlob)
	switch t {
	case object.DataBlob:
	case object.TreeBlob:
		limit = MaxTreeBlob
	default:
		return nil, fmt.Errorf("%w: blob type %s cannot be uploaded (use data or tree)", catalog.ErrInvalid, t)
	}
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", id.Short(), err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: %s blob larger than %d bytes", catalog.ErrInvalid, t, limit)
	}
	data := buf.Bytes()
	if got := u.o.Repo.ID(data); got != id {
		return nil, fmt.Errorf("%w: %d bytes sent as %s hash to %s", ErrDigestMismatch, len(data), id, got)
	}
	if t == object.TreeBlob {
		if _, err := snapshot.DecodeTree(data); err != nil {
			return nil, fmt.Errorf("%w: tree blob %s: %w", catalog.ErrInvalid, id.Short(), err)
		}
	}
	if u.o.Quota != nil {
		if err := u.o.Quota(); err != nil {
			return nil, err
		}
	}
	g, err := u.gen(ctx)
	if err != nil {
		return nil, err
	}
	added, err := g.w.SaveBlob(ctx, t, id, data)
	if err != nil {
		return nil, err
	}
	return &PutResult{ID: id, Type: t.String(), Size: int64(len(data)), Stored: added, Exists: added == 0}, nil
}

// Blob returns a blob's plain bytes, verified (for a remote client's
// parent trees and restores).
func (u *Blobs) Blob(ctx context.Context, id object.ID) ([]byte, error) {
	repo := u.o.Repo
	if _, ok, err := repo.Lookup(id); err == nil && !ok {
		// uploaded but still in an open pack: make it readable
		if has, _ := repo.Has(id); has {
			if err := repo.Flush(ctx); err != nil {
				return nil, err
			}
		}
	}
	return repo.LoadBlob(ctx, id, nil)
}
