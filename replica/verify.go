package replica

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/silo-dev/silo/check"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// Version is a version a backup holds, labelled by what it belongs to (a
// project's name, "template NAME").
type Version struct {
	Label    string
	Snapshot object.ID
}

// Finding is one thing Verify found wrong.
type Finding struct {
	Kind     string // missing-blob, missing-pack, corrupt-blob, bad-snapshot
	Pack     string // the pack, for missing-pack and corrupt-blob
	Blob     string
	Snapshot string // the version, for bad-snapshot
	Label    string // the Version's label: what the damage breaks
	Path     string // label:/path of the first place that needs the blob
	Message  string
}

// VerifyResult is what Verify found.
type VerifyResult struct {
	Blobs, Missing, Corrupt int
	ReadBytes               int64
	Findings                []Finding
}

// Affected returns the labels of the versions the findings break (the
// projects, "template NAME"), sorted, each once.
func (r *VerifyResult) Affected() []string {
	seen := map[string]bool{}
	out := []string{}
	for _, f := range r.Findings {
		if !seen[f.Label] {
			seen[f.Label] = true
			out = append(out, f.Label)
		}
	}
	slices.Sort(out)
	return out
}

// Verify checks that every blob the versions need (snapshots, trees, data)
// is indexed in repo and its pack file is in repo's backend and, with
// readData, that it reads and hashes right. A blob whose indexed pack is
// gone or damaged but that another copy delivers (a collection rewrote the
// pack meanwhile) is fine. Each blob is checked once, on behalf of the
// first version that needs it.
func Verify(ctx context.Context, repo *object.Repository, be object.Backend, versions []Version, readData bool) (*VerifyResult, error) {
	res := &VerifyResult{}
	// the index says where each blob is; the pack files must be there too
	present := map[object.ID]bool{}
	err := be.List(ctx, "packs/", func(fi object.FileInfo) error {
		if id, ok := object.ParsePackName(fi.Name); ok {
			present[id] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list packs in %s: %w", be.Location(), err)
	}
	checked := map[object.ID]bool{}
	check := func(blob object.ID, label, where string) {
		if checked[blob] {
			return
		}
		checked[blob] = true
		res.Blobs++
		loc, ok, err := repo.Lookup(blob)
		if err != nil || !ok {
			res.Missing++
			res.Findings = append(res.Findings, Finding{Kind: "missing-blob", Blob: blob.String(), Label: label, Path: where, Message: "not in the backup"})
			return
		}
		// another copy (a collection rewrote the pack meanwhile) will do
		other := func() bool {
			if data, err := repo.LoadBlob(ctx, blob, nil); err == nil {
				res.ReadBytes += int64(len(data))
				return true
			}
			return false
		}
		switch {
		case !present[loc.Pack]:
			if !other() {
				res.Missing++
				res.Findings = append(res.Findings, Finding{Kind: "missing-pack", Pack: loc.Pack.String(), Blob: blob.String(), Label: label, Path: where, Message: "its pack file is not in the backup"})
			}
		case readData:
			if _, err := repo.LoadAt(ctx, loc, nil); err != nil && !other() {
				res.Corrupt++
				res.Findings = append(res.Findings, Finding{Kind: "corrupt-blob", Pack: loc.Pack.String(), Blob: blob.String(), Label: label, Path: where, Message: err.Error()})
				return
			}
			res.ReadBytes += int64(loc.Length)
		}
	}
	var trees []snapshot.ReachRoot
	for _, v := range versions {
		check(v.Snapshot, v.Label, v.Label+"@"+v.Snapshot.Short())
		data, err := repo.LoadBlob(ctx, v.Snapshot, nil)
		if err != nil {
			continue // counted above
		}
		sn, err := snapshot.DecodeSnapshot(data)
		if err != nil {
			res.Findings = append(res.Findings, Finding{Kind: "bad-snapshot", Snapshot: v.Snapshot.String(), Label: v.Label, Message: err.Error()})
			continue
		}
		trees = append(trees, snapshot.ReachRoot{Tree: sn.Tree, Label: v.Label})
	}
	err = snapshot.Reach(ctx, repo, trees, func(tv snapshot.TreeVisit) error {
		prefix := ""
		if tv.Path != "" {
			prefix = "/" + tv.Path
		}
		check(tv.ID, tv.Root, tv.Root+":"+prefix+"/")
		for i := range tv.Nodes {
			if n := &tv.Nodes[i]; n.Type == snapshot.File {
				for _, c := range n.Content {
					check(c, tv.Root, tv.Root+":"+prefix+"/"+n.Name)
				}
			}
		}
		return nil // a tree that does not load is counted by check
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// VerifyReport is what backup verify found, as the CLI and the API report
// it.
type VerifyReport struct {
	Backup           string          `json:"backup"`
	Blobs            int             `json:"blobs"`
	Missing          int             `json:"missing"`
	Corrupt          int             `json:"corrupt"`
	ReadBytes        int64           `json:"read_bytes"`
	AffectedProjects []string        `json:"affected_projects"`
	Problems         []check.Problem `json:"problems"`
}

// Report turns the findings of backup id into a report whose problems
// name the projects affected; it fails with check.ErrFailed when there is
// any.
func (r *VerifyResult) Report(id string) (*VerifyReport, error) {
	rep := &VerifyReport{Backup: id, Blobs: r.Blobs, Missing: r.Missing, Corrupt: r.Corrupt, ReadBytes: r.ReadBytes,
		AffectedProjects: r.Affected(), Problems: []check.Problem{}}
	for _, f := range r.Findings {
		p := check.Problem{Kind: f.Kind, Pack: f.Pack, Blob: f.Blob, Snapshot: f.Snapshot, Projects: []string{f.Label}, Message: f.Message}
		if f.Path != "" {
			p.Paths = []string{f.Path}
		}
		rep.Problems = append(rep.Problems, p)
	}
	if len(rep.Problems) > 0 {
		return rep, fmt.Errorf("%w: backup %s: %d missing, %d corrupt blobs; projects affected: %s",
			check.ErrFailed, id, rep.Missing, rep.Corrupt, strings.Join(rep.AffectedProjects, ", "))
	}
	return rep, nil
}
