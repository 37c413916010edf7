package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// CheckOptions configure Check.
type CheckOptions struct {
	ReadData bool // read and hash every blob
	Progress snapshot.Progress
}

// Problem is one thing check found wrong.
type Problem struct {
	Kind     string   `json:"kind"` // missing-pack, bad-pack, index-mismatch, missing-blob, corrupt-blob, bad-tree, bad-snapshot
	Pack     string   `json:"pack,omitempty"`
	Blob     string   `json:"blob,omitempty"`
	Snapshot string   `json:"snapshot,omitempty"`
	Projects []string `json:"projects,omitempty"`
	Paths    []string `json:"paths,omitempty"`
	Message  string   `json:"message"`
}

func (p Problem) String() string {
	s := p.Kind + ": " + p.Message
	if p.Pack != "" {
		s += " (pack " + p.Pack + ")"
	}
	if p.Blob != "" {
		s += " (blob " + p.Blob + ")"
	}
	for _, path := range p.Paths {
		s += "\n    used by " + path
	}
	return s
}

// CheckReport is what Check found.
type CheckReport struct {
	Packs        int       `json:"packs"`
	Blobs        int       `json:"blobs"`
	Snapshots    int       `json:"snapshots"`
	Trees        int       `json:"trees"`
	ReadBytes    int64     `json:"read_bytes"`
	Unreferenced []string  `json:"unreferenced_packs,omitempty"`
	Problems     []Problem `json:"problems"`
}

type checker struct {
	s      *Store
	rep    *CheckReport
	mu     sync.Mutex
	bad    map[object.ID]int // blob -> index of its problem, to attach paths
	badIDs map[object.ID]bool
}

func (c *checker) add(p Problem) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rep.Problems = append(c.rep.Problems, p)
	return len(c.rep.Problems) - 1
}

// Check verifies the repository: every index entry points into an existing
// pack whose table agrees, every blob a snapshot refers to is indexed, every
// tree decodes; with ReadData every blob is read and hashed. Problems name
// the pack, the blob and the paths (project:path@snapshot) that use it. It
// returns ErrCheckFailed (with the report) when anything is wrong.
func (s *Store) Check(ctx context.Context, opts CheckOptions) (*CheckReport, error) {
	rep := &CheckReport{Problems: []Problem{}}
	se, err := s.begin(ctx, gc.KindRead)
	if err != nil {
		return rep, err
	}
	defer se.end()
	c := &checker{s: s, rep: rep, bad: map[object.ID]int{}, badIDs: map[object.ID]bool{}}
	byPack := map[object.ID][]object.Blob{}
	var packs []object.PackInfo
	err = s.db.View(func(tx *index.Tx) error {
		if err := tx.Packs(func(p object.PackInfo) error { packs = append(packs, p); return nil }); err != nil {
			return err
		}
		return tx.Blobs(func(l object.Location) error {
			rep.Blobs++
			byPack[l.Pack] = append(byPack[l.Pack], l.Blob)
			return nil
		})
	})
	if err != nil {
		return rep, err
	}
	rep.Packs = len(packs)
	known := map[object.ID]bool{}
	for _, p := range packs {
		known[p.ID] = true
	}
	for pid, blobs := range byPack {
		if !known[pid] {
			c.add(Problem{Kind: "index-mismatch", Pack: pid.String(), Message: fmt.Sprintf("%d index entries point to a pack the pack table lacks", len(blobs))})
		}
	}
	// packs in the backend the index does not know are garbage, not corruption
	s.be.List(ctx, "packs/", func(fi object.FileInfo) error {
		if id, ok := parsePackName(fi.Name); ok && !known[id] {
			rep.Unreferenced = append(rep.Unreferenced, id.String())
		}
		return nil
	})
	if opts.Progress != nil {
		var total int64
		for _, p := range packs {
			total += p.Size
		}
		opts.Progress.AddTotal(int64(len(packs)), total)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for _, p := range packs {
		g.Go(func() error {
			c.checkPack(gctx, p, byPack[p.ID], opts)
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return rep, err
	}
	if err := c.checkSnapshots(ctx); err != nil {
		return rep, err
	}
	sort.SliceStable(rep.Problems, func(i, j int) bool { return rep.Problems[i].Kind < rep.Problems[j].Kind })
	if len(rep.Problems) > 0 {
		return rep, fmt.Errorf("%w: %d problem(s)", ErrCheckFailed, len(rep.Problems))
	}
	return rep, nil
}

func (c *checker) markBad(pack object.ID, b object.Blob, kind, msg string) {
	p := c.add(Problem{Kind: kind, Pack: pack.String(), Blob: b.ID.String(), Message: msg})
	c.mu.Lock()
	c.badIDs[b.ID] = true
	c.bad[b.ID] = p
	c.mu.Unlock()
}

func (c *checker) checkPack(ctx context.Context, p object.PackInfo, indexed []object.Blob, opts CheckOptions) {
	table, size, err := c.s.repo.ReadPackTable(ctx, p.ID)
	if errors.Is(err, object.ErrNotFound) && !c.stillIndexed(p.ID) {
		return // a collection carried out its plan meanwhile
	}
	if err != nil {
		kind := "bad-pack"
		if errors.Is(err, object.ErrNotFound) {
			kind = "missing-pack"
		}
		c.add(Problem{Kind: kind, Pack: p.ID.String(), Message: err.Error()})
		for _, b := range indexed {
			c.markBad(p.ID, b, "missing-blob", fmt.Sprintf("%s blob in an unreadable pack", b.Type))
		}
		return
	}
	if size != p.Size {
		c.add(Problem{Kind: "index-mismatch", Pack: p.ID.String(), Message: fmt.Sprintf("pack has %d bytes, the index says %d", size, p.Size)})
	}
	inTable := make(map[object.ID]object.Blob, len(table))
	for _, b := range table {
		inTable[b.ID] = b
	}
	for _, b := range indexed {
		t, ok := inTable[b.ID]
		if !ok || t != b {
			c.markBad(p.ID, b, "index-mismatch", "index entry disagrees with the pack table")
		}
	}
	if opts.ReadData {
		err := c.s.repo.VerifyPack(ctx, p.ID, func(b object.Blob, err error) {
			if err != nil {
				c.markBad(p.ID, b, "corrupt-blob", err.Error())
			}
		})
		if err != nil {
			c.add(Problem{Kind: "bad-pack", Pack: p.ID.String(), Message: err.Error()})
		}
		c.mu.Lock()
		c.rep.ReadBytes += size
		c.mu.Unlock()
	}
	if opts.Progress != nil {
		opts.Progress.AddDone(1, size)
	}
}

// stillIndexed reports whether the index still holds a pack.
func (c *checker) stillIndexed(pack object.ID) bool {
	ok := true
	c.s.db.View(func(tx *index.Tx) error {
		_, ok, _ = tx.Pack(pack)
		return nil
	})
	return ok
}

// checkSnapshots walks every snapshot's trees once, checking each referenced
// blob is indexed and attaching paths to bad blobs.
func (c *checker) checkSnapshots(ctx context.Context) error {
	type snap struct {
		id object.ID
		sn *snapshot.Snapshot
	}
	var snaps []snap
	err := c.s.db.View(func(tx *index.Tx) error {
		return tx.Snapshots(func(ref index.SnapshotRef, data []byte) error {
			sn, err := snapshot.DecodeSnapshot(data)
			if err != nil {
				c.add(Problem{Kind: "bad-snapshot", Snapshot: ref.ID.String(), Message: err.Error()})
				return nil
			}
			snaps = append(snaps, snap{ref.ID, sn})
			return nil
		})
	})
	if err != nil {
		return err
	}
	c.rep.Snapshots = len(snaps)
	seenTree := map[object.ID]bool{}
	for _, sp := range snaps {
		where := func(p string) string { return fmt.Sprintf("%s:%s@%s", sp.sn.ProjectName, p, sp.id.Short()) }
		if ok, _ := c.s.repo.Has(sp.id); !ok {
			c.add(Problem{Kind: "missing-blob", Blob: sp.id.String(), Snapshot: sp.id.String(), Projects: []string{sp.sn.ProjectName}, Message: "snapshot blob not indexed"})
		}
		var walkTree func(id object.ID, prefix string)
		walkTree = func(id object.ID, prefix string) {
			if seenTree[id] && !c.badIDs[id] {
				return
			}
			seenTree[id] = true
			if c.badIDs[id] {
				c.attach(id, sp.sn.ProjectName, where(prefix+"/"))
				return
			}
			nodes, err := snapshot.LoadTree(ctx, c.s.repo, id)
			if err != nil {
				c.badIDs[id] = true
				c.bad[id] = c.add(Problem{Kind: "bad-tree", Blob: id.String(), Snapshot: sp.id.String(),
					Projects: []string{sp.sn.ProjectName}, Paths: []string{where(prefix + "/")}, Message: err.Error()})
				return
			}
			c.rep.Trees++
			for i := range nodes {
				n := &nodes[i]
				p := prefix + "/" + n.Name
				switch n.Type {
				case snapshot.Dir:
					walkTree(n.Subtree, p)
				case snapshot.File:
					for _, b := range n.Content {
						if c.badIDs[b] {
							c.attach(b, sp.sn.ProjectName, where(p))
							continue
						}
						if ok, _ := c.s.repo.Has(b); !ok {
							c.badIDs[b] = true
							c.bad[b] = c.add(Problem{Kind: "missing-blob", Blob: b.String(), Snapshot: sp.id.String(),
								Projects: []string{sp.sn.ProjectName}, Paths: []string{where(p)}, Message: "data blob not indexed"})
						}
					}
				}
			}
		}
		walkTree(sp.sn.Tree, "")
	}
	return nil
}

func (c *checker) attach(blob object.ID, project, path string) {
	i, ok := c.bad[blob]
	if !ok {
		return
	}
	p := &c.rep.Problems[i]
	if len(p.Paths) < 20 {
		p.Paths = append(p.Paths, path)
	}
	for _, q := range p.Projects {
		if q == project {
			return
		}
	}
	p.Projects = append(p.Projects, project)
}
