package store

import (
	"context"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/session"
)

// sessions is what package session needs of this store.
func (s *Store) sessions() *session.Env {
	return &session.Env{
		Leases: s.leases, DB: s.db, Repo: s.repo, Log: s.log, Cmd: s.cmd, Location: s.Location(),
		Shared:    s.sharedIndex(),
		Refresh:   func(ctx context.Context) error { _, err := s.refresh(ctx, false); return err },
		ListedAt:  s.listedAt,
		Condemned: s.condemn,
	}
}

// condemn adds packs to those this process's packers avoid the names of
// (see object.RepositoryOptions.Condemned) and its readers skip.
func (s *Store) condemn(ids map[object.ID]bool) {
	s.condMu.Lock()
	defer s.condMu.Unlock()
	if s.condemned == nil {
		s.condemned = map[object.ID]bool{}
	}
	for id := range ids {
		s.condemned[id] = true
	}
}

// begin starts a session of the given kind (gc.KindStore, ...).
func (s *Store) begin(ctx context.Context, kind string) (*session.Session, error) {
	return session.Begin(ctx, s.sessions(), kind)
}

// beginExclusive starts a gc session that no other collection (or repair)
// runs beside, on any machine.
func (s *Store) beginExclusive(ctx context.Context) (*session.Session, error) {
	return session.BeginExclusive(ctx, s.sessions())
}

// reading runs fn within a read session: no collection deletes a pack it
// reads.
func (s *Store) reading(ctx context.Context, fn func() error) error {
	se, err := s.begin(ctx, gc.KindRead)
	if err != nil {
		return err
	}
	defer se.End()
	return fn()
}
