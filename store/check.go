package store

import (
	"context"

	"github.com/silo-dev/silo/check"
	"github.com/silo-dev/silo/gc"
)

// The check's report, as package check makes it.
type (
	CheckOptions    = check.Options
	CheckReport     = check.Report
	Problem         = check.Problem
	AffectedVersion = check.AffectedVersion
)

// Bounds of the paths a Problem lists (it counts all of them).
const (
	MaxPathsPerVersion = check.MaxPathsPerVersion
	MaxPathsPerProblem = check.MaxPathsPerProblem
)

// Check verifies the repository (see check.Run) under a read session, so
// that a collection defers deleting what it reads. It returns
// ErrCheckFailed (with the report) when anything is wrong.
func (s *Store) Check(ctx context.Context, opts CheckOptions) (*CheckReport, error) {
	se, err := s.begin(ctx, gc.KindRead)
	if err != nil {
		return &CheckReport{Problems: []Problem{}}, err
	}
	defer se.End()
	return check.Run(ctx, check.Source{Repo: s.repo, DB: s.db, Backend: s.be, Condemned: se.Condemned()}, opts)
}
