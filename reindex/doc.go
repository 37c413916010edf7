// Package reindex keeps index.db a faithful cache of the packs.
//
// The packs in the backend are the truth; index.db (package index) is
// derived from them. Refresh lists the packs and compares the listing with
// the index: packs it does not know are read (Index: eight tables at a
// time, a damaged table read blob by blob with the old index's hints) and
// indexed in batches, packs that are gone are dropped (DropGone: a blob
// they held moves to another copy, or is recorded lost unless a gc plan
// explains the going), and the catalogue blobs of the new packs are merged
// (Source.Apply). A pack listed before it was indexed by another process
// is indexed twice, harmlessly; the index is read before the listing, so a
// pack is never known and not listed. A listing is no snapshot of the
// backend (S3 pages it, a disk lists a directory at a time), so a
// listing that finds new packs with catalogue blobs is followed by a
// second, and a pack's catalogue blobs are merged only once a listing
// begun after it was listed has been indexed: a version is never listed before the blobs it refers to (the
// argument is in pending.go). RecordLost names the blobs versions
// refer to that no pack holds, after a rebuild.
//
// It takes no sessions and no locks of its own beyond index.db's
// transactions: package store's refresh, catch-up at open and `silo index
// rebuild` call it.
package reindex
