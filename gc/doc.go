// Package gc frees space: it marks every blob reachable from the roots it is
// given, then deletes packs with no live blob and rewrites packs whose dead
// share passes a threshold. It is shaped as NewPlan (mark, read-only) then
// Plan.Execute (sweep).
//
// # Safety rules
//
//   - Mark reads tree blobs and the index only, never file data. A root,
//     tree or blob that is referenced but missing from the index stops the
//     plan with ErrMissing: nothing is deleted.
//   - Only packs in the index when the plan was made are rewritten or
//     deleted, so packs written by stores running meanwhile (younger than
//     the collection's start) are never touched. Unindexed packs (leftovers
//     of crashed writers) are deleted only when older than OrphanGrace.
//   - Stores running in the same process pin every blob they save or find
//     (object.Writer). Execute holds the repository's sweep lock while it
//     checks pins and switches index entries, and treats pinned blobs as live.
//   - A rewritten blob's new pack is durable and indexed before its old pack
//     is deleted; a crash in between leaves an unindexed old pack (garbage).
//
// The mark set is compact: one 8-byte id prefix per indexed blob plus one
// bit, sorted for binary search (a prefix shared by two blobs marks both,
// which only ever keeps a dead blob).
package gc
