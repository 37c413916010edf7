package client

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/silo-dev/silo/object"
)

// Blobs is the snapshot pipeline's BlobSaver and BlobLoader over the
// API: saved blobs are batched, the server is asked which of a batch it
// lacks (POST /blobs/missing) and only those are uploaded (PUT /blobs/{id}).
// Blob ids seen once are not asked about again. Flush sends what is left.
type Blobs struct {
	c *Client

	mu         sync.Mutex
	known      map[object.ID]struct{} // on the server, or on the way
	batch      []pendingBlob
	batchBytes int
	err        error

	// puts bounds the uploads running at once across every batch: the
	// store pipeline sends batches from several workers, and the server
	// answers a client's ninth concurrent upload with 429
	puts chan struct{}

	// counts
	asked, present, uploaded atomic.Int64
	uploadedBytes            atomic.Int64
}

type pendingBlob struct {
	t    object.BlobType
	id   object.ID
	data []byte
}

// batch limits: a worker that fills a batch sends it (which also bounds
// the memory of queued blobs).
const (
	batchBlobs    = 256
	batchBytesMax = 8 << 20
	putWorkers    = 4
)

// NewBlobs returns the dedup upload protocol over c.
func NewBlobs(c *Client) *Blobs {
	return &Blobs{c: c, known: map[object.ID]struct{}{}, puts: make(chan struct{}, putWorkers)}
}

func (r *Blobs) fail(err error) error {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	return err
}

// ID returns the id of plain bytes on the server: keyed BLAKE3 when the
// server gave an id key (an encrypted repository), plain BLAKE3 otherwise.
func (r *Blobs) ID(plain []byte) object.ID { return r.c.ID(plain) }

// SaveBlob queues a blob. Its return value (bytes added) is always 0: the
// server decides that; see the counts instead.
func (r *Blobs) SaveBlob(ctx context.Context, t object.BlobType, id object.ID, plain []byte) (int64, error) {
	r.mu.Lock()
	if r.err != nil {
		err := r.err
		r.mu.Unlock()
		return 0, err
	}
	if _, ok := r.known[id]; ok {
		r.mu.Unlock()
		return 0, nil
	}
	r.known[id] = struct{}{}
	r.batch = append(r.batch, pendingBlob{t: t, id: id, data: slices.Clone(plain)})
	r.batchBytes += len(plain)
	var full []pendingBlob
	if len(r.batch) >= batchBlobs || r.batchBytes >= batchBytesMax {
		full, r.batch, r.batchBytes = r.batch, nil, 0
	}
	r.mu.Unlock()
	if full != nil {
		if err := r.sendBatch(ctx, full); err != nil {
			return 0, r.fail(err)
		}
	}
	return 0, nil
}

// Flush sends the last batch.
func (r *Blobs) Flush(ctx context.Context) error {
	r.mu.Lock()
	b := r.batch
	r.batch, r.batchBytes = nil, 0
	err := r.err
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return nil
	}
	if err := r.sendBatch(ctx, b); err != nil {
		return r.fail(err)
	}
	return nil
}

// sendBatch asks which blobs of b the server lacks and uploads those.
func (r *Blobs) sendBatch(ctx context.Context, b []pendingBlob) error {
	ids := make([]object.ID, len(b))
	for i := range b {
		ids[i] = b[i].id
	}
	var ans MissingAnswer
	if err := r.c.PostJSON(ctx, Path("blobs", "missing"), MissingRequest{IDs: ids}, &ans); err != nil {
		return fmt.Errorf("ask for missing blobs: %w", err)
	}
	r.asked.Add(int64(len(ids)))
	r.present.Add(int64(len(ids) - len(ans.Missing)))
	missing := make(map[object.ID]bool, len(ans.Missing))
	for _, id := range ans.Missing {
		missing[id] = true
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(putWorkers)
	for i := range b {
		if !missing[b[i].id] {
			continue
		}
		p := &b[i]
		select {
		case r.puts <- struct{}{}:
		case <-gctx.Done():
			return g.Wait()
		}
		g.Go(func() error {
			defer func() { <-r.puts }()
			q := url.Values{"type": {p.t.String()}}
			err := r.c.Request(gctx, http.MethodPut, Path("blobs", p.id.String()), q, bytes.NewReader(p.data), "application/octet-stream", nil)
			if err != nil {
				return fmt.Errorf("upload blob %s: %w", p.id.Short(), err)
			}
			r.uploaded.Add(1)
			r.uploadedBytes.Add(int64(len(p.data)))
			return nil
		})
	}
	return g.Wait()
}

// LoadBlob downloads a blob and verifies it against its id.
func (r *Blobs) LoadBlob(ctx context.Context, id object.ID, dst []byte) ([]byte, error) {
	return r.c.LoadBlob(ctx, id, dst)
}

// Counts reports the blobs asked about, found present, uploaded, and the
// bytes uploaded.
func (r *Blobs) Counts() (asked, present, uploaded, uploadedBytes int64) {
	return r.asked.Load(), r.present.Load(), r.uploaded.Load(), r.uploadedBytes.Load()
}
