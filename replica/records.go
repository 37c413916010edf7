package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/object"
)

// ErrNotFound means no backup record has that id.
var ErrNotFound = errors.New("store: backup not found")

// Record is backups/<id>.json in the destination: written last and
// durably, after every blob it needs.
type Record struct {
	ID               string             `json:"id"`
	Time             time.Time          `json:"time"`
	SourceRepository string             `json:"source_repository"`
	Source           string             `json:"source"`
	Destination      string             `json:"destination"`
	Projects         []Project          `json:"projects"`
	Templates        []catalog.Template `json:"templates,omitempty"`
	BytesCopied      int64              `json:"bytes_copied"`
	PacksCopied      int                `json:"packs_copied"`
	BlobsCopied      int                `json:"blobs_copied"`
	Seconds          float64            `json:"seconds"`
	// From, in the view "latest" names, lists the records it draws on.
	From []string `json:"from,omitempty"`
	// Uncompressed: made with backup.compression false, so the blobs it
	// copied are stored raw.
	Uncompressed bool `json:"uncompressed,omitempty"`
}

// Project is a project as a backup holds it: its metadata and the
// versions the backup covers.
type Project struct {
	catalog.Project
	Record json.RawMessage `json:"record"` // the full catalogue record
}

// Prefix is where a destination keeps its backup records.
const Prefix = "backups/"

// RecordName is the backend name of record id.
func RecordName(id string) string { return Prefix + id + ".json" }

// List reads every backup record at a destination that seal seals (nil:
// plain), oldest first. A record removed while listed, or damaged, is
// left out: the others stay usable.
func List(ctx context.Context, be object.Backend, seal *object.Sealer) ([]Record, error) {
	// verify or show of a damaged record names it; gc stops on it (Held)
	out, err := readAll(ctx, be, seal, func(string, error) error { return nil })
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Record) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// Held returns every version (and template snapshot) the records at a
// destination hold: what its gc must keep and its catalogue lists. A
// record that cannot be read goes to damaged; when damaged returns an
// error (gc: a damaged record may hold anything), Held stops with it.
//
// In a backup destination the records, not forget records, decide which
// versions there are: gc keeps what they hold, and refresh makes the
// catalogue list exactly that (SyncCatalogue). A record is written before
// its backup's session ends, so a collection whose plan met that session
// finds the record in its fresh mark, and a backup that starts after the
// plan does not rely on the packs the plan condemns. So a version a
// removed record held and a running backup copies as well survives: the
// running backup's record holds it. A record removed while the records
// are read is skipped: removing it is what happened.
func Held(ctx context.Context, be object.Backend, seal *object.Sealer, damaged func(name string, err error) error) (map[object.ID]bool, error) {
	recs, err := readAll(ctx, be, seal, damaged)
	if err != nil {
		return nil, err
	}
	return RecordVersions(recs), nil
}

// readAll reads every record at a destination, in no order; one removed
// while listed is left out, and one that cannot be read goes to damaged
// (left out when damaged returns nil).
func readAll(ctx context.Context, be object.Backend, seal *object.Sealer, damaged func(name string, err error) error) ([]Record, error) {
	var names []string
	err := be.List(ctx, Prefix, func(fi object.FileInfo) error {
		if strings.HasSuffix(fi.Name, ".json") {
			names = append(names, fi.Name)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list backups in %s: %w", be.Location(), err)
	}
	out := []Record{}
	for _, n := range names {
		br, err := Read(ctx, be, seal, n)
		if errors.Is(err, ErrNotFound) {
			continue // removed while listed
		}
		if errors.Is(err, object.ErrCorrupt) {
			if err := damaged(n, err); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *br)
	}
	return out, nil
}

// Write writes br to the destination on be, sealed with seal (nil:
// plain): the last thing a backup writes, after every blob it needs is
// confirmed there.
func Write(ctx context.Context, be object.Backend, seal *object.Sealer, br *Record) error {
	data, err := json.MarshalIndent(br, "", "  ")
	if err == nil {
		data, err = seal.SealFile(RecordName(br.ID), data)
	}
	if err != nil {
		return err
	}
	if err := be.Put(ctx, RecordName(br.ID), bytes.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("backup to %s: write record: %w", be.Location(), err)
	}
	return nil
}

// IsDestination reports whether the repository on be carries the
// destination marker or a backup record.
func IsDestination(ctx context.Context, be object.Backend) (bool, error) {
	found := errors.New("found")
	err := be.List(ctx, Prefix, func(fi object.FileInfo) error {
		if fi.Name == DestinationMarker || strings.HasSuffix(fi.Name, ".json") {
			return found
		}
		return nil
	})
	if err != nil && err != found {
		return false, fmt.Errorf("list backups in %s: %w", be.Location(), err)
	}
	return err == found, nil
}

// Read reads one record (sealed with the table key in an encrypted
// destination: it names projects and versions).
func Read(ctx context.Context, be object.Backend, seal *object.Sealer, name string) (*Record, error) {
	rc, err := be.Get(ctx, name, 0, -1)
	if err != nil {
		if errors.Is(err, object.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s in %s", ErrNotFound, name, be.Location())
		}
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("backup record %s in %s: %w", name, be.Location(), err)
	}
	if data, err = seal.OpenFile(name, data); err != nil {
		return nil, fmt.Errorf("backup record in %s: %w", be.Location(), err)
	}
	var br Record
	if err := json.Unmarshal(data, &br); err != nil {
		return nil, fmt.Errorf("backup record %s in %s: %w: %v", name, be.Location(), object.ErrCorrupt, err)
	}
	return &br, nil
}

// Latest is what "latest" names: every project and template the records
// (oldest first) hold, each as the newest record holding it has it. After
// a backup of one project, the others' newest backups are older records;
// "latest" must still bring back every project. Its ID is "latest", its
// time the newest record's, and From lists the records it draws on.
func Latest(all []Record) *Record {
	out := all[len(all)-1]
	out.ID, out.Projects, out.Templates = "latest", nil, nil
	out.BytesCopied, out.PacksCopied, out.BlobsCopied, out.Seconds = 0, 0, 0, 0
	used := map[int]bool{}
	NewestHolders(all, func(i int, p *Project, t *catalog.Template) {
		used[i] = true
		if p != nil {
			out.Projects = append(out.Projects, *p)
		} else {
			out.Templates = append(out.Templates, *t)
		}
	})
	for i, br := range all {
		if used[i] {
			out.From = append(out.From, br.ID)
		}
	}
	slices.SortFunc(out.Projects, func(a, b Project) int { return strings.Compare(a.Name, b.Name) })
	return &out
}

// NewestHolders calls fn, for every project (p) and template (t) the
// records (oldest first) hold, with the newest record holding it (index i).
func NewestHolders(all []Record, fn func(i int, p *Project, t *catalog.Template)) {
	seen := map[string]bool{} // "p:" project id, "t:" template name
	for i := len(all) - 1; i >= 0; i-- {
		for k := range all[i].Projects {
			if key := "p:" + all[i].Projects[k].ID; !seen[key] {
				seen[key] = true
				fn(i, &all[i].Projects[k], nil)
			}
		}
		for k := range all[i].Templates {
			if key := "t:" + all[i].Templates[k].Name; !seen[key] {
				seen[key] = true
				fn(i, nil, &all[i].Templates[k])
			}
		}
	}
}

// Find reads one record by id or unique id prefix; "latest" is the newest
// backup of every project (see Latest).
func Find(ctx context.Context, be object.Backend, seal *object.Sealer, id string) (*Record, error) {
	all, err := List(ctx, be, seal)
	if err != nil {
		return nil, err
	}
	return match(all, id, be.Location())
}

// match finds record id (an id, a unique id prefix or "latest") among all,
// the records at location, oldest first.
func match(all []Record, id, location string) (*Record, error) {
	var match []Record
	for _, b := range all {
		if b.ID == id {
			return &b, nil
		}
		if strings.HasPrefix(b.ID, id) {
			match = append(match, b)
		}
	}
	switch {
	case id == "latest" && len(all) > 0:
		return Latest(all), nil
	case len(match) == 1:
		return &match[0], nil
	case len(match) > 1:
		return nil, fmt.Errorf("%w: %q matches %d backups", catalog.ErrAmbiguous, id, len(match))
	}
	return nil, fmt.Errorf("%w: %q in %s", ErrNotFound, id, location)
}

// PlanDelete splits the records at a destination into those ids name (ids
// or unique id prefixes, matched as Find matches them) and the rest, both
// oldest first. "latest" is refused: it names no single record.
func PlanDelete(ctx context.Context, be object.Backend, seal *object.Sealer, ids []string) (gone, keep []Record, err error) {
	if len(ids) == 0 {
		return nil, nil, fmt.Errorf("%w: name the backups to delete", catalog.ErrInvalid)
	}
	all, err := List(ctx, be, seal)
	if err != nil {
		return nil, nil, err
	}
	named := map[string]bool{}
	for _, id := range ids {
		if id == "latest" {
			return nil, nil, fmt.Errorf("%w: \"latest\" names no single backup; give its id", catalog.ErrInvalid)
		}
		br, err := match(all, id, be.Location())
		if err != nil {
			return nil, nil, err
		}
		named[br.ID] = true
	}
	for _, br := range all {
		if named[br.ID] {
			gone = append(gone, br)
		} else {
			keep = append(keep, br)
		}
	}
	return gone, keep, nil
}

// Pick returns the projects of the record that refs name (ids or names;
// none: all). A name two projects share picks the one that holds it (see
// catalog.Project.HoldsNameOver); the other is picked by its id.
func (br *Record) Pick(refs []string) ([]Project, error) {
	if len(refs) == 0 {
		return br.Projects, nil
	}
	var out []Project
	holders := br.holders()
	for _, ref := range refs {
		i := slices.IndexFunc(br.Projects, func(p Project) bool { return p.ID == ref })
		if h, ok := holders[ref]; i < 0 && ok {
			i = h
		}
		if i < 0 {
			return nil, fmt.Errorf("%w: backup %s has no project %q", catalog.ErrProjectNotFound, br.ID, ref)
		}
		out = append(out, br.Projects[i])
	}
	return out, nil
}

// holders returns, by name, the index of the project of br that holds
// it. Of projects that are all deleted, none holds the name: the one
// updated last stands for it, as catalog.FindRecord resolves it.
func (br *Record) holders() map[string]int {
	h := map[string]int{}
	for i, p := range br.Projects {
		j, ok := h[p.Name]
		if !ok {
			h[p.Name] = i
			continue
		}
		o := br.Projects[j].Project
		if p.Status == catalog.StatusDeleted && o.Status == catalog.StatusDeleted {
			if p.UpdatedAt.After(o.UpdatedAt) {
				h[p.Name] = i
			}
		} else if p.HoldsNameOver(o) {
			h[p.Name] = i
		}
	}
	return h
}

// Dirs returns, by project id, the directory name each project of br
// restores into: its name, or for a project whose name another project of
// br holds (two machines created one name at once), the name, "~" and the
// first 8 characters of its id (all of it when that is taken too). It is
// a property of the backup, whichever projects a restore picks.
func (br *Record) Dirs() map[string]string {
	out := map[string]string{}
	taken := map[string]bool{}
	for _, p := range br.Projects {
		taken[p.Name] = true
	}
	holders := br.holders()
	for i, p := range br.Projects {
		if holders[p.Name] == i {
			out[p.ID] = p.Name
			continue
		}
		d := p.Name + "~" + p.ID[:min(8, len(p.ID))]
		if taken[d] {
			d = p.Name + "~" + p.ID
		}
		taken[d] = true
		out[p.ID] = d
	}
	return out
}

// RecordVersions is the set of versions (project versions and template
// snapshots) the records hold.
func RecordVersions(recs []Record) map[object.ID]bool {
	out := map[object.ID]bool{}
	for _, br := range recs {
		for _, p := range br.Projects {
			for _, v := range p.Versions {
				if id, err := object.ParseID(v.ID); err == nil {
					out[id] = true
				}
			}
		}
		for _, t := range br.Templates {
			if id, err := object.ParseID(t.Snapshot); err == nil {
				out[id] = true
			}
		}
	}
	return out
}

// LabelledVersions returns the versions br holds, each labelled by what
// it belongs to (the project's name, "template NAME"), for Verify.
func (br *Record) LabelledVersions() ([]Version, error) {
	var out []Version
	for _, p := range br.Projects {
		for _, v := range p.Versions {
			id, err := object.ParseID(v.ID)
			if err != nil {
				return nil, err
			}
			out = append(out, Version{Label: p.Name, Snapshot: id})
		}
	}
	for _, t := range br.Templates {
		id, err := object.ParseID(t.Snapshot)
		if err != nil {
			return nil, err
		}
		out = append(out, Version{Label: "template " + t.Name, Snapshot: id})
	}
	return out, nil
}

// Retain splits records (oldest first) into those expiry keeps and those it
// removes. A record stays when it is younger than cut, or when it is the
// newest record holding some project or template: per-project backups make
// records that hold one project each, and the newest backup of every
// project must survive however old it is, or a project backed up once and
// then left alone would lose its only copy to a newer backup of another.
func Retain(all []Record, cut time.Time) (keep, expired []Record) {
	keepAt := make([]bool, len(all))
	for i, br := range all {
		keepAt[i] = !br.Time.Before(cut) || i == len(all)-1
	}
	NewestHolders(all, func(i int, _ *Project, _ *catalog.Template) { keepAt[i] = true })
	for i, br := range all {
		if keepAt[i] {
			keep = append(keep, br)
		} else {
			expired = append(expired, br)
		}
	}
	return keep, expired
}
