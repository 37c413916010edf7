// Package gc frees space while other processes and machines keep storing,
// reading and collecting in the same repository. It marks every blob
// reachable from the roots it is given, condemns packs that hold no live
// blob (or rewrites the live blobs of packs that are mostly dead, then
// condemns them), and deletes condemned packs once no session that might
// still refer to them is alive. The protocol lives in the backend itself, as
// small records any machine can list, so it holds for every process on
// every machine sharing the repository, with nothing but the backend in
// common.
//
// # Records
//
//   - locks/<session>-<seq>.json: a lease. Every operation that reads or
//     writes blobs (store, upload, restore, check, backup, gc, ...) runs as
//     a session: it writes a lease first, refreshes it every TTL/4 (a new
//     file with seq+1, then the old one goes) and deletes it when done. A
//     lease whose last refresh is older than TTL (default 5 min) is
//     expired: its process crashed or lost the backend.
//   - gc/<plan>.plan.json: a plan. The packs a collection condemned, and
//     the packs it wrote the survivors of rewritten packs into. Written
//     once, never changed.
//   - gc/<plan>.armed.json: the sessions that were alive right after the
//     plan became visible (the collection lists leases after writing the
//     plan).
//   - gc/<plan>.done.json: what a plan deleted, kept 30 days so that a
//     machine whose cache is older can tell a pack gc deleted from one that
//     went missing.
//
// # The invariant
//
// A pack is deleted only if every blob in it that any acknowledged version
// refers to has another copy that is not being deleted.
//
// # Why every interleaving keeps it
//
// A session starts by writing its lease and only then lists the plans; a
// collection writes its plan and only then lists the leases (in the armed
// record). The backend orders the two writes (S3 lists are strongly
// consistent, a local directory too), so for every session S and plan C
// at least one of these holds:
//
//  1. S's lease is in C's armed record. C is not carried out while S's
//     lease lives: it waits until S has ended (or its lease expired, see
//     below). A store deletes its lease only after its version's snapshot
//     is durable in the backend.
//  2. S listed the plans after C was written. S then knows C's packs are
//     condemned, and treats a blob as absent when every copy it knows of
//     is in a condemned pack: it writes the blob again instead of referring
//     to the doomed copy (object.Writer's Exclude). Readers prefer the
//     copies outside condemned packs.
//
// Sessions that ended before C's armed record was written are in neither
// case, but they have ended: their versions are durable in the backend
// before C is carried out. Carrying out C therefore starts with a fresh
// mark, made after every session of case 1 has ended, and from the packs'
// own snapshot and meta blobs (never from index.db's catalogue alone): a
// condemned pack holding a blob that this mark finds live, with no copy
// outside the packs being deleted, is kept, and the plan drops it.
//
// A version stored by a session of case 2 refers only to blobs with a
// copy outside C's packs, so C may go ahead beside it. A version stored
// by a session of case 1 is seen by the fresh mark. A version stored
// before C was armed is seen by the fresh mark too. Hence no acknowledged
// version loses a blob.
//
// # Crashes and paused processes
//
//   - A session that crashes leaves its lease, which expires after TTL:
//     it delays the deletions of plans armed while it lived by at most
//     that long, and never blocks any store, read or other collection.
//   - A session that cannot refresh its lease for TTL/2 (the process was
//     stopped, the machine slept, the backend was unreachable) may have
//     been taken for dead. Before it records a version it then checks,
//     against a fresh listing, that every blob the version refers to is
//     still indexed in a pack that exists and is not condemned; if not,
//     the store fails with a message that says it can be run again, and
//     nothing is recorded.
//   - A collection killed at any point leaves plans that the next one
//     arms (when the armed record is missing) and carries out. Rewritten
//     packs are durable and indexed before the plan that condemns their
//     sources is written.
//
// # Exclusion and clocks
//
// One collection runs at a time: a collection writes its lease, lists the
// leases, and gives up (ErrBusy) when another collection's unexpired lease
// is there; when two start at the same instant, both give up. Lease times
// come from the writers' clocks, and a collection refuses to judge leases
// when its clock and the backend's differ by more than a minute.
//
// # Mark set
//
// The mark set is compact: one 8-byte id prefix per indexed blob plus one
// bit, sorted for binary search (a prefix shared by two blobs marks both,
// which only ever keeps a dead blob).
package gc
