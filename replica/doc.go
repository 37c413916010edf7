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
// is written last; List, Find and Latest read them, and Retain decides
// which ones expiry keeps (the newest record holding each project stays).
//
// The destinations file remembers, in the source, which repository each
// local destination held and on which device, so a backup refuses the
// empty mount point of a drive that is not mounted.
package replica
