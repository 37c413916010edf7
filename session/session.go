// Package session is the client side of gc's protocol (see package gc):
// an operation that reads or writes blobs holds a lease in the backend
// for as long as it runs, and knows the packs that pending gc plans
// condemned when it started. Blobs whose every copy is condemned, and
// blobs the index records lost, are not reused: a store writes them
// again, and a version that takes over a tree it did not store adopts it
// first (Adopt). Before a session records what it relied on, CheckLease
// makes sure a lapsed lease did not let a collection take any of it.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// ErrConflict means another process or machine changed the repository
// under an operation in a way it cannot recover from by itself (a
// garbage collection took what a paused store relied on, a project was
// deleted while a version of it was stored); nothing was recorded and
// the operation can be run again.
var ErrConflict = errors.New("store: conflict with another process")

// Env is what a session needs of an open repository.
type Env struct {
	Leases *gc.Leases
	DB     *index.DB
	Repo   *object.Repository
	Log    *slog.Logger
	// Cmd names the command in the lease (for `silo sessions`).
	Cmd string
	// Location names the repository in log lines.
	Location string
	// Shared is true when the index is shared by every writer (a local
	// plain repository's index.db): it never needs a refresh.
	Shared bool
	// Refresh brings the index up to date with the packs in the backend;
	// ListedAt is when it last listed them.
	Refresh  func(ctx context.Context) error
	ListedAt func() time.Time
	// Condemned is given the packs pending plans condemned, each time a
	// session begins (the repository's readers skip them).
	Condemned func(map[object.ID]bool)
}

// Session is one operation that reads or writes blobs.
type Session struct {
	env       *Env
	lease     *gc.Lease
	condemned map[object.ID]bool
	lost      map[object.ID]bool
}

// Begin starts a session of the given kind (gc.KindStore, ...): the lease
// first, then the plans (the order the protocol rests on).
func Begin(ctx context.Context, env *Env, kind string) (*Session, error) {
	lease, err := env.Leases.Start(ctx, kind, env.Cmd)
	if err != nil {
		return nil, err
	}
	se := &Session{env: env, lease: lease}
	plans, err := gc.LoadPlans(ctx, env.Leases.Backend())
	if err != nil {
		lease.End(context.WithoutCancel(ctx))
		return nil, err
	}
	// a plan carried out after this machine last listed the packs deleted
	// some the index may still hold: list again, or a blob in one of them
	// would look present (a plan carried out later is pending now, and
	// its packs condemned)
	if !env.Shared && !plans.NewestDone().Before(env.ListedAt().Add(-2*time.Second)) {
		if err := env.Refresh(ctx); err != nil {
			lease.End(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	se.condemned = plans.Condemned()
	if env.Condemned != nil {
		env.Condemned(se.condemned)
	}
	if len(se.condemned) > 0 && !env.Shared {
		// the packs the plans' survivors were copied to may be new here
		if err := env.Refresh(ctx); err != nil {
			lease.End(context.WithoutCancel(ctx))
			return nil, err
		}
	}
	err = env.DB.View(func(tx *index.Tx) error {
		if tx.LostCount() == 0 {
			return nil
		}
		se.lost = map[object.ID]bool{}
		return tx.Lost(func(id object.ID, _ string) error { se.lost[id] = true; return nil })
	})
	if err != nil {
		lease.End(context.WithoutCancel(ctx))
		return nil, err
	}
	return se, nil
}

// End deletes the lease.
func (se *Session) End() { se.lease.End(context.Background()) }

// Lease is the session's lease.
func (se *Session) Lease() *gc.Lease { return se.lease }

// Condemned is the set of packs pending plans condemned (as of the
// session's begin, or its last renewal); the caller must not change it.
func (se *Session) Condemned() map[object.ID]bool { return se.condemned }

// Writer returns an object.Writer that does not reuse condemned copies.
func (se *Session) Writer() *object.Writer {
	return se.env.Repo.NewWriter(object.WriterOptions{Exclude: se.Exclude})
}

// Exclude reports whether a blob found at loc must not be reused: every
// copy the index knows is in a condemned pack.
func (se *Session) Exclude(loc object.Location) bool {
	if se.lost[loc.ID] {
		return true
	}
	if !se.condemned[loc.Pack] {
		return false
	}
	locs, err := se.env.DB.Locations(loc.ID)
	if err != nil {
		return true
	}
	return !slices.ContainsFunc(locs, func(l object.Location) bool { return !se.condemned[l.Pack] })
}

// Reusable reports, for a file of the parent version that did not change,
// whether its chunks may be referred to again; nil when every blob may
// (no plan pending, nothing lost), so an unchanged re-store costs nothing
// more.
func (se *Session) Reusable() func([]object.ID) bool {
	if len(se.condemned) == 0 && len(se.lost) == 0 {
		return nil
	}
	return func(ids []object.ID) bool {
		for _, id := range ids {
			if se.lost[id] {
				return false
			}
			if len(se.condemned) == 0 {
				continue
			}
			loc, ok, err := se.env.DB.Lookup(id)
			if err != nil || !ok || se.Exclude(loc) {
				return false
			}
		}
		return true
	}
}

// BeginExclusive starts a gc session that no other collection (or
// repair) runs beside, on any machine (gc.Exclusive).
func BeginExclusive(ctx context.Context, env *Env) (*Session, error) {
	se, err := Begin(ctx, env, gc.KindGC)
	if err != nil {
		return nil, err
	}
	if err := gc.Exclusive(ctx, env.Leases, se.lease); err != nil {
		se.End()
		return nil, err
	}
	return se, nil
}

// RenewLapsed, when the session's lease lapsed (a collection may have
// taken the session for dead), renews it, brings the index up to date and
// reloads the gc plans' condemned packs, and reports true: the caller
// then checks again what it relies on.
func (se *Session) RenewLapsed(ctx context.Context) (bool, error) {
	if !se.lease.Lapsed() {
		return false, nil
	}
	env := se.env
	env.Log.Warn("the session's lease lapsed; checking what it relies on", "session", se.lease.Session(), "repository", env.Location)
	if err := se.lease.Renew(ctx); err != nil {
		return true, fmt.Errorf("%w: the lease of this session could not be renewed (%v); nothing was recorded, run it again", ErrConflict, err)
	}
	if err := env.Refresh(ctx); err != nil {
		return true, err
	}
	plans, err := gc.LoadPlans(ctx, env.Leases.Backend())
	if err != nil {
		return true, err
	}
	se.condemned = plans.Condemned()
	return true, nil
}

// CheckLease is the last check before a session records what it relied
// on: a lease that went unrefreshed for half its TTL may have been taken
// for dead by a collection, so every blob of the tree must still be
// indexed in a pack that exists and is not condemned.
func (se *Session) CheckLease(ctx context.Context, tree object.ID) error {
	if lapsed, err := se.RenewLapsed(ctx); err != nil || !lapsed {
		return err
	}
	env := se.env
	var missing []object.ID
	seen := map[object.ID]bool{}
	check := func(id object.ID) {
		if seen[id] {
			return
		}
		seen[id] = true
		loc, ok, err := env.DB.Lookup(id)
		if err != nil || !ok || se.Exclude(loc) {
			missing = append(missing, id)
		}
	}
	check(tree)
	err := snapshot.Walk(ctx, env.Repo, tree, func(_ string, n *snapshot.Node) error {
		switch n.Type {
		case snapshot.Dir:
			check(n.Subtree)
		case snapshot.File:
			for _, id := range n.Content {
				check(id)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %v; nothing was recorded, run it again", ErrConflict, err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: this process was paused past its lease and a garbage collection removed %d blobs it relied on (e.g. %s); nothing was recorded, run it again",
			ErrConflict, len(missing), missing[0])
	}
	return nil
}

// Adopt makes every blob of tree one the session may refer to: a blob
// whose every copy is condemned (or that the index records lost but a
// pack still holds) is read and written again through w. It costs nothing
// while no plan is pending and nothing is lost. Use it for trees a version
// takes over without storing them (a template's, an upload's).
func (se *Session) Adopt(ctx context.Context, w *object.Writer, tree object.ID) error {
	if len(se.condemned) == 0 && len(se.lost) == 0 {
		return nil
	}
	env := se.env
	seen := map[object.ID]bool{}
	again := func(id object.ID, t object.BlobType) error {
		if seen[id] {
			return nil
		}
		seen[id] = true
		loc, ok, err := env.DB.Lookup(id)
		if err != nil {
			return err
		}
		if ok && !se.Exclude(loc) {
			return nil
		}
		data, err := env.Repo.LoadBlob(ctx, id, nil)
		if err != nil {
			return fmt.Errorf("%w: blob %s: %w", ErrConflict, id, err)
		}
		_, err = w.SaveBlob(ctx, t, id, data)
		return err
	}
	if err := again(tree, object.TreeBlob); err != nil {
		return err
	}
	return snapshot.Walk(ctx, env.Repo, tree, func(_ string, n *snapshot.Node) error {
		switch n.Type {
		case snapshot.Dir:
			return again(n.Subtree, object.TreeBlob)
		case snapshot.File:
			for _, id := range n.Content {
				if err := again(id, object.DataBlob); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
