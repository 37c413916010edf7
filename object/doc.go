// Package object holds silo's lowest layer: blob ids, the pack file format,
// the compression policy, the Backend interface for named immutable files,
// the local filesystem backend, and the Repository that writes blobs into
// packs and reads them back, verified.
//
// The local backend does all its file operations (and a Repository over
// it writes its packs' temporary files) through an FS, the operating
// system's by default (NewLocal); tests pass one from object/errorfs to
// fail a chosen operation (NewLocalFS).
//
// # Pack format
//
// A pack is an immutable file named by the BLAKE3-256 of its whole content and
// stored as packs/<first byte hex>/<pack id hex>. It is laid out as
//
//	blob 0 | blob 1 | ... | blob n-1 | table | checksum | trailer
//
// Each blob is its stored bytes (zstd-compressed or raw). The table has one
// 46-byte entry per blob, in blob order:
//
//	id [32] | type [1] | compression [1] | offset u32 | stored length u32 | raw length u32
//
// (integers little-endian). The checksum is the BLAKE3-256 of the table. The
// 12-byte trailer is the entry count (u32) followed by the magic "SILOPAK1".
// A pack is therefore self-describing: the blob index can be rebuilt from the
// packs alone by reading each pack's tail.
//
// A blob id is the BLAKE3-256 of the blob's plain (uncompressed) bytes; every
// read decompresses and re-hashes the blob and fails with ErrCorrupt when the
// hash does not match.
package object
