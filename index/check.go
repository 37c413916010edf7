package index

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

// Check runs bbolt's consistency check over the whole file (page
// reachability, freelist, key order) in a read transaction and returns
// every problem it finds, joined, or nil. Tests call it in t.Cleanup.
func (d *DB) Check() error {
	var errs []error
	err := d.view(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}
