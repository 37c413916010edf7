package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store"
)

// remoteBlobs is the snapshot pipeline's BlobSaver and BlobLoader over the
// API: saved blobs are batched, the server is asked which of a batch it
// lacks (POST /blobs/missing) and only those are uploaded (PUT /blobs/{id}).
// Blob ids seen once are not asked about again. Flush sends what is left.
type remoteBlobs struct {
	rc *remoteClient

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
	remoteBatchBlobs = 256
	remoteBatchBytes = 8 << 20
	remotePutWorkers = 4
)

func newRemoteBlobs(rc *remoteClient) *remoteBlobs {
	return &remoteBlobs{rc: rc, known: map[object.ID]struct{}{}, puts: make(chan struct{}, remotePutWorkers)}
}

func (r *remoteBlobs) fail(err error) error {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	return err
}

// SaveBlob queues a blob. Its return value (bytes added) is always 0: the
// server decides that; see the counts instead.
func (r *remoteBlobs) SaveBlob(ctx context.Context, t object.BlobType, id object.ID, plain []byte) (int64, error) {
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
	if len(r.batch) >= remoteBatchBlobs || r.batchBytes >= remoteBatchBytes {
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
func (r *remoteBlobs) Flush(ctx context.Context) error {
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
func (r *remoteBlobs) sendBatch(ctx context.Context, b []pendingBlob) error {
	ids := make([]object.ID, len(b))
	for i := range b {
		ids[i] = b[i].id
	}
	var ans struct {
		Missing []object.ID `json:"missing"`
	}
	if err := r.rc.postJSON(ctx, apiPath("blobs", "missing"), map[string]any{"ids": ids}, &ans); err != nil {
		return fmt.Errorf("ask for missing blobs: %w", err)
	}
	r.asked.Add(int64(len(ids)))
	r.present.Add(int64(len(ids) - len(ans.Missing)))
	missing := make(map[object.ID]bool, len(ans.Missing))
	for _, id := range ans.Missing {
		missing[id] = true
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(remotePutWorkers)
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
			err := r.rc.request(gctx, http.MethodPut, apiPath("blobs", p.id.String()), q, bytes.NewReader(p.data), "application/octet-stream", nil)
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
func (r *remoteBlobs) LoadBlob(ctx context.Context, id object.ID, dst []byte) ([]byte, error) {
	return r.rc.loadBlob(ctx, id, dst)
}

// loadBlob downloads a blob and verifies it against its id.
func (rc *remoteClient) loadBlob(ctx context.Context, id object.ID, dst []byte) ([]byte, error) {
	resp, err := rc.send(ctx, http.MethodGet, apiPath("blobs", id.String()), nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", id.Short(), err)
	}
	defer resp.Body.Close()
	buf := bytes.NewBuffer(dst[:0])
	if _, err := io.Copy(buf, io.LimitReader(resp.Body, store.MaxTreeBlob+1)); err != nil {
		return nil, fmt.Errorf("blob %s: %w", id.Short(), err)
	}
	data := buf.Bytes()
	if object.Hash(data) != id {
		return nil, fmt.Errorf("blob %s from the server: %w: content does not match its id", id.Short(), object.ErrCorrupt)
	}
	return data, nil
}

// remoteLoader is a BlobLoader over GET /blobs/{id}.
type remoteLoader struct{ rc *remoteClient }

func (l remoteLoader) LoadBlob(ctx context.Context, id object.ID, dst []byte) ([]byte, error) {
	return l.rc.loadBlob(ctx, id, dst)
}
