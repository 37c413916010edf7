// Package repotest is for tests only: a Repository over a local backend
// and its own index.db in a temporary directory, wired as package store
// wires them, for the packages below store (gc, replica, reindex) to test
// against the real filesystem and the real bbolt file.
package repotest

import (
	"path/filepath"
	"testing"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// Repo is a repository in a temporary directory.
type Repo struct {
	Dir  string        // the repository's directory (packs/, tmp/, index.db)
	BE   *object.Local // the backend over Dir
	DB   *index.DB
	Repo *object.Repository
}

// New makes a repository in t.TempDir(). At the end of the test the
// repository is closed and index.db must pass its own check. Each option
// may change the repository's options (Backend, Index and TempDir are
// set).
func New(t testing.TB, options ...func(*object.RepositoryOptions)) *Repo {
	t.Helper()
	dir := t.TempDir()
	be := object.NewLocal(dir)
	db, err := index.Open(filepath.Join(dir, "index.db"), index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ro := object.RepositoryOptions{Backend: be, Index: db, TempDir: filepath.Join(dir, "tmp")}
	for _, o := range options {
		o(&ro)
	}
	r, err := object.NewRepository(ro)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		if err := db.Check(); err != nil {
			t.Errorf("index.db: %v", err)
		}
		db.Close()
	})
	return &Repo{Dir: dir, BE: be, DB: db, Repo: r}
}
