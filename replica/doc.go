// Package replica copies versions between silo repositories and checks
// the copies: the mechanics of backups (and of restores from them), below
// the catalogue that decides what a backup covers.
//
// Copy moves every blob a set of versions needs from a Source to a
// Destination: a source pack the destination needs whole is copied as a
// file (streamed and verified against its name; to a local destination
// staged unsynced and made durable together, see object.Stage), the rest
// blob by blob through the destination session's writer. Its guarantee,
// which a backup record relies on (the record is written after Copy
// returns, never before): when Copy returns nil, every needed blob is
// indexed in the destination in a pack that no gc plan the session saw
// condemns and whose file the destination has (Confirm, one Stat per pack).
// A pack is indexed only once its file is in place, so a failed copy never
// leaves the index claiming what the destination lacks; a pack the index
// lists that has gone is dropped and copied again, once.
//
// Verify walks the versions a backup holds (snapshot.Reach) and reports
// each blob that is not indexed, whose pack file is gone, or (reading the
// data) that does not hash right, unless another copy delivers it.
//
// A backup's record (Record, backups/<id>.json) names the projects and
// templates it holds, with their catalogue records (package catalog), and
// is written last (Write); List, Find and Latest read them, Retain
// decides which ones expiry keeps (the newest record holding each project
// stays) and PlanDelete which ones a deletion removes (Remove).
//
// What a backup takes is planned here from the source's catalogue
// (Choose, then Plan.Roots with the catalogue records NewestMeta finds),
// and so is what a restore writes (PlanRestore into a primary, DirTargets
// into directories). A destination is marked as one before anything is
// copied (Mark, which refuses a repository holding versions of its own);
// from then on its records decide which versions it has: its gc keeps
// what they hold (Held) and its catalogue lists exactly that
// (SyncCatalogue), and every copy brings along the catalogue of what it
// copied (CopyCatalogue).
//
// The package opens no repository and takes no lock: store opens both
// sides, begins their sessions and hands them over as Source and
// Destination, whose function fields (Version, Condemned, Refresh, ...)
// are what only store can do.
//
// The destinations file remembers, in the source, which repository each
// local destination held and on which device, so a backup refuses the
// empty mount point of a drive that is not mounted.
package replica
