// Package index is silo's bbolt database (index.db): the blob index (blob id
// -> pack, offset, lengths, with duplicate locations), the pack table, the
// blobs known to be lost, the snapshot list with each project's versions,
// the project catalogue and the templates.
//
// The blob index and pack table are a cache: the packs in the backend are
// the truth they are rebuilt from. Snapshot and catalogue records are
// rebuilt by the caller from snapshot and meta blobs.
//
// Only this package imports bbolt. Byte slices returned by a Tx are copied,
// so they stay valid after the transaction ends. DB.Update rolls back when
// fn returns an error or panics.
//
// # Sharing
//
// Any number of processes use one index.db at once. A DB holds no lock
// between transactions: each write transaction opens the file, commits and
// closes it, and reads share a handle for at most Options.Slice, so a
// process waits for another only for the length of a transaction (see
// handle.go). One View sees one consistent state; two Views may see
// different ones.
//
// # Damage
//
// Open and every later open check the file's meta pages and length before
// bbolt maps it; a fault or bbolt panic on damaged pages inside a
// transaction is recovered. Both surface as ErrDamaged, naming the file
// and the remedy (`silo index rebuild`), instead of a crash. The layout
// carries a schema version (Schema) in the info bucket.
package index
