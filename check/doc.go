// Package check finds damage in a repository and says what it breaks.
//
//   - Run checks a whole repository: every index entry points into an
//     existing pack whose table agrees, every blob a snapshot refers to is
//     indexed, every tree decodes, and with ReadData every blob hashes to
//     its id. Each Problem names the pack, the blob, the versions it breaks
//     and (within bounds) the paths that use it, found by walking only the
//     trees that hold damage.
//   - Tree checks one tree a client uploaded before it becomes a version:
//     every blob indexed with its type, file sizes, names, path bounds and
//     max_entries, each distinct tree once however many paths reach it.
//   - FindDamage, CopyGood, DropDamaged and ReportLost are the steps of a
//     repair: which packs are damaged, the good blobs without a good copy
//     elsewhere copied out, the index pointed away from the damaged packs
//     (what has no copy left is recorded lost), and the versions and files
//     that lost data.
//
// It reads through object.Repository and index.DB and takes no sessions:
// package store's Check, Repair and upload commit hold the session and
// the gc lease around these walks, and condemn the damaged packs.
package check
