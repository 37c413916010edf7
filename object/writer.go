package object

import "context"

// Writer is one store in progress: what it saves goes through the
// repository's packers, and Flush reports only the pack writes that failed
// since it started. A blob the writer's Exclude rejects counts as absent,
// so the writer stores it again rather than refer to a copy that garbage
// collection has condemned (see package gc).
type Writer struct {
	r       *Repository
	seq     uint64 // the repository's FailSeq when the writer started
	exclude func(Location) bool
}

// WriterOptions configure NewWriter.
type WriterOptions struct {
	// Exclude, when set, reports indexed blobs the writer must not reuse.
	Exclude func(Location) bool
}

// NewWriter starts a store session.
func (r *Repository) NewWriter(opts WriterOptions) *Writer {
	return &Writer{r: r, seq: r.FailSeq(), exclude: opts.Exclude}
}

// Flush makes everything saved so far durable and indexed; it fails when a
// pack write failed since the writer started (some of its blobs may be lost).
func (w *Writer) Flush(ctx context.Context) error { return w.r.FlushSince(ctx, w.seq) }

// ID returns the blob id of plain data (Repository.ID).
func (w *Writer) ID(plain []byte) ID { return w.r.ID(plain) }

// SaveBlob saves a blob like Repository.SaveBlob, unless the repository
// has a copy the writer may reuse.
func (w *Writer) SaveBlob(ctx context.Context, t BlobType, id ID, plain []byte) (int64, error) {
	return w.r.saveBlob(ctx, w, t, id, plain)
}

// SaveStored saves a blob in its stored form like Repository.SaveStored,
// unless the repository has a copy the writer may reuse.
func (w *Writer) SaveStored(ctx context.Context, b Blob, stored []byte) (int64, error) {
	return w.r.saveStored(ctx, w, b, stored)
}

// Has reports whether the repository holds a blob the writer may reuse
// (indexed and not excluded, or waiting in a pack being written).
func (w *Writer) Has(id ID) (bool, error) { return w.r.has(w, id) }

// Locate looks up blobs like Repository.Locate.
func (w *Writer) Locate(ids []ID) ([]Location, []bool, error) { return w.r.Locate(ids) }

// LoadAt reads the blob at loc like Repository.LoadAt.
func (w *Writer) LoadAt(ctx context.Context, loc Location, dst []byte) ([]byte, error) {
	return w.r.LoadAt(ctx, loc, dst)
}

// LoadBlob loads a blob like Repository.LoadBlob.
func (w *Writer) LoadBlob(ctx context.Context, id ID, dst []byte) ([]byte, error) {
	return w.r.LoadBlob(ctx, id, dst)
}
