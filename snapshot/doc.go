// Package snapshot encodes trees and snapshots and runs the store pipeline,
// restore, ls, diff and check over an object.Repository.
//
// # Tree format
//
// A tree blob encodes one directory: the magic "SLT1", the entry count
// (uvarint), then per entry, sorted by name (byte order, strictly
// increasing):
//
//	name length (uvarint) | name | type (1 byte: 1 file, 2 dir, 3 symlink)
//	mode (uvarint, permission and setuid/setgid/sticky bits)
//	mtime ns (varint) | ctime ns (varint) | inode (uvarint)
//	uid (uvarint) | gid (uvarint) | size (uvarint)
//	file:    chunk count (uvarint) | chunk ids (32 bytes each)
//	dir:     subtree id (32 bytes)
//	symlink: target length (uvarint) | target
//
// Names are never empty, ".", "..", and never hold "/" or NUL; DecodeTree
// rejects a tree that breaks any rule, so a hostile repository cannot make
// restore write outside its destination.
//
// # Snapshot format
//
// A snapshot blob is JSON (see Snapshot): time, root tree, parent, project id
// and name, tags, source path, stats, and the project's catalogue record as of
// that version, so the catalogue can be rebuilt from the packs. Its
// "detection" field, when present, holds the store's language counts for
// the tree (opaque here), from which the next version's are counted.
package snapshot
