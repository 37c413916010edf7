package workbench

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/snapshot"
)

// Cache is the directory of extracted copies: cache/<workbench-id>/ with
// the sidecar cache/<workbench-id>.json naming the project and version.
type Cache struct {
	Dir string
	Now func() time.Time // nil: time.Now
}

// Info is the sidecar <workbench-id>.json of an extracted copy.
type Info struct {
	ProjectID string    `json:"project_id"`
	Project   string    `json:"project"`
	Snapshot  string    `json:"snapshot"`
	Created   time.Time `json:"created"`
}

func (c *Cache) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

// Path is the directory of a workbench id.
func (c *Cache) Path(wid string) string { return filepath.Join(c.Dir, wid) }

// CheckID reports whether id is a usable cache directory name.
func CheckID(id string) error {
	if err := snapshot.CheckName(id); err != nil {
		return fmt.Errorf("%w: workbench id: %v", catalog.ErrInvalid, err)
	}
	if strings.HasPrefix(id, ".") || strings.HasSuffix(id, ".json") {
		return fmt.Errorf("%w: workbench id %q starts with a dot or ends in .json", catalog.ErrInvalid, id)
	}
	return nil
}

// InUse returns the error an extract gives for a workbench id that
// is in use (nil when it is free): it names what the workbench holds.
func (c *Cache) InUse(wid string) error {
	dir := c.Path(wid)
	if _, err := os.Lstat(dir); err != nil {
		return nil
	}
	holds := "a copy of unknown origin"
	var ci Info
	if b, err := os.ReadFile(dir + ".json"); err == nil && json.Unmarshal(b, &ci) == nil {
		holds = fmt.Sprintf("project %q (version %.12s)", ci.Project, ci.Snapshot)
	}
	return fmt.Errorf("%w: workbench %s is in use: %s holds %s; replace its contents with force (--force, or \"force\": true over the API), or pick another id",
		catalog.ErrExists, wid, dir, holds)
}

// Place puts a copy into cache/<wid>/: build writes it into a directory
// beside it (cache/.<wid>.new-*/), which is renamed into place once
// complete, so the workbench never holds half a version. A rename onto a
// workbench in use fails (two extracts to one free id cannot both win);
// with force the old copy is moved aside first and removed after, so no
// file of the old project survives. The sidecar <wid>.json (info, with
// Created set) is written once the copy is in place.
func (c *Cache) Place(wid string, force bool, info Info, build func(dir string) error) error {
	dir := c.Path(wid)
	if !force {
		if err := c.InUse(wid); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(c.Dir, "."+wid+".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	built := filepath.Join(tmp, "copy")
	if err := build(built); err != nil {
		return err
	}
	var old string
	if force {
		if _, err := os.Lstat(dir); err == nil {
			old = filepath.Join(tmp, "old")
			if err := os.Rename(dir, old); err != nil {
				return fmt.Errorf("replace workbench %s: %w", wid, err)
			}
		}
	}
	if err := os.Rename(built, dir); err != nil {
		if old != "" {
			os.Rename(old, dir) // put the old copy back
		}
		if inUse := c.InUse(wid); inUse != nil {
			return inUse // another extract took the id meanwhile
		}
		return fmt.Errorf("extract into workbench %s: %w", wid, err)
	}
	info.Created = c.now().UTC()
	side, _ := json.Marshal(info)
	return os.WriteFile(dir+".json", side, 0o644)
}

// Entry is one extracted copy under cache/.
type Entry struct {
	Workbench string    `json:"workbench_id"`
	ProjectID string    `json:"project_id,omitempty"`
	Created   time.Time `json:"created"`
	Path      string    `json:"path"`
}

// Entries lists the copies (not those being built).
func (c *Cache) Entries() ([]Entry, error) {
	ents, err := os.ReadDir(c.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") { // a copy being built
			continue
		}
		p := c.Path(e.Name())
		ce := Entry{Workbench: e.Name(), Path: p}
		var ci Info
		if b, err := os.ReadFile(p + ".json"); err == nil && json.Unmarshal(b, &ci) == nil {
			ce.ProjectID, ce.Created = ci.ProjectID, ci.Created
		} else if fi, err := e.Info(); err == nil {
			ce.Created = fi.ModTime()
		}
		out = append(out, ce)
	}
	return out, nil
}

// Remove deletes the extracted copies of a project; it returns how many,
// and the bytes they held.
func (c *Cache) Remove(projectID string, dryRun bool) (int, int64) {
	res, _ := c.Clean(func(e Entry) bool { return e.ProjectID != projectID }, dryRun)
	return res.Removed, res.FreedBytes
}

// Copy is one extracted copy under cache/, as `silo cache list` shows it.
type Copy struct {
	Entry
	Project  string `json:"project,omitempty"`
	Snapshot string `json:"snapshot,omitempty"`
	Bytes    int64  `json:"size_bytes"`
}

// List lists the copies with the project and version each holds and its
// size on disk, oldest first.
func (c *Cache) List() ([]Copy, error) {
	ents, err := c.Entries()
	if err != nil {
		return nil, err
	}
	out := []Copy{}
	for _, e := range ents {
		cp := Copy{Entry: e, Bytes: dirSize(e.Path)}
		var ci Info
		if b, err := os.ReadFile(e.Path + ".json"); err == nil && json.Unmarshal(b, &ci) == nil {
			cp.Project, cp.Snapshot = ci.Project, ci.Snapshot
		}
		out = append(out, cp)
	}
	slices.SortStableFunc(out, func(a, b Copy) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// CleanResult reports a clean.
type CleanResult struct {
	Removed    int   `json:"removed"`
	FreedBytes int64 `json:"freed_bytes"`
}

// Clean removes every extracted copy that keep does not keep, with its
// sidecar, and counts what it freed.
func (c *Cache) Clean(keep func(Entry) bool, dryRun bool) (*CleanResult, error) {
	res := &CleanResult{}
	ents, err := c.Entries()
	if err != nil {
		return res, err
	}
	for _, e := range ents {
		if keep(e) {
			continue
		}
		res.FreedBytes += dirSize(e.Path)
		res.Removed++
		if !dryRun {
			if err := os.RemoveAll(e.Path); err != nil {
				return res, err
			}
			os.Remove(e.Path + ".json")
		}
	}
	return res, nil
}

func dirSize(p string) int64 {
	var n int64
	filepath.WalkDir(p, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
