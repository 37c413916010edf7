// Package index is silo's bbolt database (index.db): the blob index (blob id
// -> pack, offset, lengths), the pack table, the snapshot list with each
// project's versions, the project catalogue and a few small named buckets
// (templates, pins, meta).
//
// The blob index and pack table are a cache: Rebuild recreates them from the
// pack tables alone. Snapshot records and catalogue records are rebuilt by the
// caller from snapshot and meta blobs.
//
// Only this package imports bbolt. Byte slices returned by a Tx are copied,
// so they stay valid after the transaction ends. DB.Update rolls back when fn
// returns an error or panics.
//
// Opening for writing takes an exclusive lock on the file; a second writer
// fails after Options.Timeout with ErrLocked, naming the holder recorded in
// index.db.owner.
package index
