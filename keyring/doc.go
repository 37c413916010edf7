// Package keyring holds the keys of an encrypted silo repository
// (docs/encryption-design.md, README "Encryption at rest"): the key files
// under keys/, each wrapping the repository's one master key under a
// password, and the sealed section of config.json, which binds the
// master key to the repository and carries its chunker polynomial.
//
// Init makes a new repository's keys: its master key, its key files
// (written before config.json, so a refused password leaves nothing
// behind) and the sealed section. Open opens them again, with a master
// key or with a password tried against the key files; a wrong password
// fails before anything is written. Open of a plain repository refuses
// what looks like a downgrade: config.json is not authenticated, so a
// repository with key files, or one this machine opened encrypted before,
// is not opened as plain.
//
// A Ring is an open repository's master key and sealer, and the key file
// it was opened with. Its List, Add, Remove and ChangePassword manage
// the key files; Remove (and ChangePassword) never leave the repository
// without one, even when another process removes keys at the same time.
//
// The package knows nothing of sessions, the index or the catalogue:
// package store opens a Ring with the repository and gives its errors
// store's sentinels (see errors.go). On this machine it keeps two small
// files in the cache directory, cache_dir/<repository id>/key (the key
// that opened the repository last, tried first) and .../encrypted (the
// memory that the repository is encrypted).
package keyring
