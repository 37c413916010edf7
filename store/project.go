package store

import (
	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/index"
)

// Get returns one project by id or name.
func (s *Store) Get(ref string) (*Project, error) {
	var p Project
	err := s.db.View(func(tx *index.Tx) error {
		r, err := catalog.FindRecord(tx, ref)
		if err != nil {
			return err
		}
		p = r.Project()
		p.Versions = catalog.Versions(tx, r.ID)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}
