package index

import (
	"bytes"
	"encoding/binary"
	"fmt"
	bolt "go.etcd.io/bbolt"
	"time"

	"github.com/silo-dev/silo/object"
)

// SnapshotRef is the part of a snapshot record the index orders by.
type SnapshotRef struct {
	ID        object.ID
	ProjectID string
	Time      time.Time
}

func refKey(project string, t time.Time, id object.ID) []byte {
	k := make([]byte, 0, len(project)+1+8+32)
	k = append(k, project...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(t.UnixNano()))
	return append(k, id[:]...)
}

// PutSnapshot records a snapshot (data is its encoded form) and adds it to
// its project's versions.
func (t *Tx) PutSnapshot(ref SnapshotRef, data []byte) error {
	v := make([]byte, 0, 10+len(ref.ProjectID)+8+len(data))
	v = binary.AppendUvarint(v, uint64(len(ref.ProjectID)))
	v = append(v, ref.ProjectID...)
	v = binary.BigEndian.AppendUint64(v, uint64(ref.Time.UnixNano()))
	v = append(v, data...)
	if err := t.b(bSnapshots).Put(ref.ID[:], v); err != nil {
		return err
	}
	return t.b(bRefs).Put(refKey(ref.ProjectID, ref.Time, ref.ID), nil)
}

func decodeSnapshotRecord(k, v []byte) (SnapshotRef, []byte, error) {
	var r SnapshotRef
	n, w := binary.Uvarint(v)
	// compare without n+8, which wraps for a huge corrupt n and let the
	// slice below run out of bounds (panic found by TestCorruptRecordsAreErrors)
	if w <= 0 || len(v)-w < 8 || n > uint64(len(v)-w-8) || len(k) != 32 {
		return r, nil, fmt.Errorf("%w: snapshot record", ErrCorrupt)
	}
	copy(r.ID[:], k)
	r.ProjectID = string(v[w : w+int(n)])
	r.Time = time.Unix(0, int64(binary.BigEndian.Uint64(v[w+int(n):])))
	return r, clone(v[w+int(n)+8:]), nil
}

// Snapshot returns a snapshot record.
func (t *Tx) Snapshot(id object.ID) (SnapshotRef, []byte, bool, error) {
	v := t.b(bSnapshots).Get(id[:])
	if v == nil {
		return SnapshotRef{}, nil, false, nil
	}
	r, d, err := decodeSnapshotRecord(id[:], v)
	return r, d, err == nil, err
}

// DeleteSnapshot removes a snapshot record and its version entry.
func (t *Tx) DeleteSnapshot(id object.ID) error {
	r, _, ok, err := t.Snapshot(id)
	if err != nil || !ok {
		return err
	}
	if err := t.b(bRefs).Delete(refKey(r.ProjectID, r.Time, r.ID)); err != nil {
		return err
	}
	return t.b(bSnapshots).Delete(id[:])
}

// Snapshots calls fn for every snapshot record, in id order.
func (t *Tx) Snapshots(fn func(SnapshotRef, []byte) error) error {
	return t.b(bSnapshots).ForEach(func(k, v []byte) error {
		r, d, err := decodeSnapshotRecord(k, v)
		if err != nil {
			return err
		}
		return fn(r, d)
	})
}

// SnapshotsByPrefix returns the ids of snapshots whose hex id starts with prefix.
func (t *Tx) SnapshotsByPrefix(prefix string) []object.ID {
	var out []object.ID
	c := t.b(bSnapshots).Cursor()
	// ids are binary; compare on the hex form
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		var id object.ID
		copy(id[:], k)
		if len(prefix) <= 64 && id.String()[:len(prefix)] == prefix {
			out = append(out, id)
		}
	}
	return out
}

// Versions calls fn with a project's snapshot ids, newest first, until fn
// returns false.
func (t *Tx) Versions(project string, fn func(id object.ID, at time.Time) bool) {
	prefix := append([]byte(project), 0)
	c := t.b(bRefs).Cursor()
	end := append(bytes.Clone(prefix), bytes.Repeat([]byte{0xff}, 41)...)
	k, _ := c.Seek(end)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Prev() {
		if len(k) != len(prefix)+8+32 {
			continue
		}
		at := time.Unix(0, int64(binary.BigEndian.Uint64(k[len(prefix):])))
		var id object.ID
		copy(id[:], k[len(prefix)+8:])
		if !fn(id, at) {
			return
		}
	}
}

// PutProject stores a catalogue record.
func (t *Tx) PutProject(id string, data []byte) error {
	return t.b(bProjects).Put([]byte(id), data)
}

// Project returns a catalogue record.
func (t *Tx) Project(id string) []byte { return clone(t.b(bProjects).Get([]byte(id))) }

// DeleteProject removes a catalogue record (not its snapshots).
func (t *Tx) DeleteProject(id string) error { return t.b(bProjects).Delete([]byte(id)) }

// Projects calls fn for every catalogue record, in id order.
func (t *Tx) Projects(fn func(id string, data []byte) error) error {
	return t.b(bProjects).ForEach(func(k, v []byte) error { return fn(string(k), clone(v)) })
}

// ProjectCount returns the number of catalogue records.
func (t *Tx) ProjectCount() int { return t.b(bProjects).Stats().KeyN }

// SetName maps a unique project name to its id.
func (t *Tx) SetName(name, id string) error { return t.b(bNames).Put([]byte(name), []byte(id)) }

// DeleteName drops a name mapping.
func (t *Tx) DeleteName(name string) error { return t.b(bNames).Delete([]byte(name)) }

// ProjectIDByName returns the id a name maps to, or "".
func (t *Tx) ProjectIDByName(name string) string { return string(t.b(bNames).Get([]byte(name))) }

// CopyCatalogueTo copies every catalogue record (snapshots and versions,
// projects, names, templates, tombstones, forgotten versions) into dst,
// which a rebuild then merges the packs' records into.
func (d *DB) CopyCatalogueTo(dst *DB) error {
	type kv struct{ k, v []byte }
	names := [][]byte{bSnapshots, bRefs, bProjects, bNames, []byte(Templates), []byte(Purged), []byte(Forgotten)}
	data := make([][]kv, len(names))
	err := d.view(func(tx *bolt.Tx) error {
		for i, name := range names {
			b := tx.Bucket(name)
			if b == nil {
				continue
			}
			if err := b.ForEach(func(k, v []byte) error {
				data[i] = append(data[i], kv{clone(k), clone(v)})
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return dst.update(func(tx *bolt.Tx) error {
		for i, name := range names {
			b := tx.Bucket(name)
			for _, e := range data[i] {
				if err := b.Put(e.k, e.v); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
