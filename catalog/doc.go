// Package catalog is silo's project catalogue: the records of projects
// and templates, their forms on disk, the filters of a listing, and the
// rules that merge catalogue changes into index.db.
//
// A Record is a project's entry. index.db keeps it in a compact binary
// form (encoding.go); snapshot blobs (the record as of that version) and
// meta blobs (Meta: a project record, a template record, or the versions
// forget removed) carry it as JSON, so the catalogue can always be
// derived again from the packs. ApplySnapshot and ApplyMeta merge such
// blobs inside an index transaction with rules that do not depend on the
// order the blobs arrive in (see apply.go): every machine that has seen
// the same packs ends with the same catalogue.
//
// The package works on an index transaction and on values; opening a
// repository, sessions, the catalogue lock and writing meta blobs stay
// with package store, which composes them.
package catalog
