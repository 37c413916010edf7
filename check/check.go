package check

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// Options configure Run.
type Options struct {
	ReadData bool // read and hash every blob
	Progress snapshot.Progress
}

// Problem is one thing check found wrong.
type Problem struct {
	Kind     string   `json:"kind"` // missing-pack, bad-pack, index-mismatch, missing-blob, corrupt-blob, bad-tree, bad-snapshot
	Pack     string   `json:"pack,omitempty"`
	Blob     string   `json:"blob,omitempty"`
	Snapshot string   `json:"snapshot,omitempty"` // the version a bad-snapshot problem (or a missing snapshot blob) is about
	Projects []string `json:"projects,omitempty"`
	// Snapshots are every version the blob breaks, with how many of its
	// paths use the blob.
	Snapshots []AffectedVersion `json:"snapshots,omitempty"`
	// Paths are the paths that use the blob, as project:/path@snapshot (a
	// directory whose tree is the blob ends in "/"): up to
	// MaxPathsPerVersion of each version and MaxPathsPerProblem in all.
	// PathCount counts every one, listed or not.
	Paths     []string `json:"paths,omitempty"`
	PathCount int64    `json:"path_count,omitempty"`
	Message   string   `json:"message"`
}

// AffectedVersion is a version a damaged blob breaks.
type AffectedVersion struct {
	Snapshot string `json:"snapshot"`
	Project  string `json:"project"`
	Paths    int64  `json:"paths"` // how many of its paths use the blob
}

// Bounds of the paths a Problem lists (it counts all of them).
const (
	MaxPathsPerVersion = 1000
	MaxPathsPerProblem = 100000
	// printedPaths and printedVersions bound what String prints of a
	// problem; it says how many more there are.
	printedPaths    = 20
	printedVersions = 50
)

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Kind + ": " + p.Message)
	if p.Pack != "" {
		b.WriteString(" (pack " + p.Pack + ")")
	}
	if p.Blob != "" {
		b.WriteString(" (blob " + p.Blob + ")")
	}
	if n := len(p.Snapshots); n > 0 {
		fmt.Fprintf(&b, "\n    breaks %d version(s):", n)
		for i, v := range p.Snapshots {
			if i == printedVersions {
				fmt.Fprintf(&b, "\n    and %d more version(s) (--json lists all)", n-i)
				break
			}
			fmt.Fprintf(&b, "\n    version %s@%s (%d path(s))", v.Project, shortID(v.Snapshot), v.Paths)
		}
	}
	for i, path := range p.Paths {
		if i == printedPaths {
			break
		}
		b.WriteString("\n    used by " + path)
	}
	total := max(p.PathCount, int64(len(p.Paths)))
	if more := total - int64(min(len(p.Paths), printedPaths)); more > 0 {
		fmt.Fprintf(&b, "\n    and %d more path(s)", more)
		if len(p.Paths) > printedPaths {
			b.WriteString(" (--json lists them")
			if int64(len(p.Paths)) < total {
				fmt.Fprintf(&b, ", up to %d per version", MaxPathsPerVersion)
			}
			b.WriteString(")")
		}
	}
	return b.String()
}

// shortID is a snapshot id as paths show it (object.ID.Short).
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// Report is what Run found.
type Report struct {
	Packs        int      `json:"packs"`
	Blobs        int      `json:"blobs"`
	Snapshots    int      `json:"snapshots"`
	Trees        int      `json:"trees"`
	ReadBytes    int64    `json:"read_bytes"`
	Unreferenced []string `json:"unreferenced_packs,omitempty"`
	// Condemned are packs a pending gc plan deletes that no index entry
	// refers to first: not checked (repair condemns the damaged ones).
	Condemned []string  `json:"condemned_packs,omitempty"`
	Problems  []Problem `json:"problems"`
}

type checker struct {
	src Source
	rep *Report
	mu  sync.Mutex
	bad map[object.ID][]int // blob -> indexes of its problems, to attach versions and paths

	// the snapshot walk (one goroutine)
	seenTree map[object.ID]bool
	tainted  map[object.ID]*taint // only trees that (transitively) hold a bad blob
	projSeen map[projKey]bool     // problem index and project already listed
	listed   map[int]int          // problem index -> paths listed for the version being walked
	names    []string             // the path being walked, one name per level
}

// taint is what a tree holds of damage: its entries that hold a bad blob
// (files) or lead to one (directories), and for each bad blob below it how
// many paths under the tree use it. Only trees with damage get one, so an
// undamaged repository costs nothing more than the walk's seen-set.
type taint struct {
	entries []taintEntry
	counts  map[object.ID]int64
}

type taintEntry struct {
	name  string
	sub   object.ID   // a directory: its tree, itself bad or tainted
	blobs []object.ID // a file: its distinct bad blobs
}

type projKey struct {
	problem int
	project string
}

func (c *checker) add(p Problem) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rep.Problems = append(c.rep.Problems, p)
	return len(c.rep.Problems) - 1
}

// Source is the repository Run checks: its packs, its index and the
// packs a pending gc plan condemned (as the caller's session saw them),
// which are on their way out and not checked.
type Source struct {
	Repo      *object.Repository
	DB        *index.DB
	Backend   object.Backend
	Condemned map[object.ID]bool
}

// ErrFailed means a check found problems (store.ErrCheckFailed).
var ErrFailed = errors.New("store: check found problems")

// Run verifies the repository: every index entry points into an existing
// pack whose table agrees, every blob a snapshot refers to is indexed, every
// tree decodes; with ReadData every blob is read and hashed. Problems name
// the pack, the blob and the paths (project:path@snapshot) that use it. It
// returns ErrFailed (with the report) when anything is wrong.
func Run(ctx context.Context, src Source, opts Options) (*Report, error) {
	rep := &Report{Problems: []Problem{}}
	c := &checker{src: src, rep: rep, bad: map[object.ID][]int{}}
	byPack := map[object.ID][]object.Blob{}
	var packs []object.PackInfo
	err := src.DB.View(func(tx *index.Tx) error {
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
	// packs in the backend the index does not know are garbage (a store
	// killed before it recorded a version, a gc between its steps), not
	// corruption, unless their table cannot be read: such a pack may hold
	// what a version needs (index rebuild reads it blob by blob)
	var unknown []object.ID
	src.Backend.List(ctx, "packs/", func(fi object.FileInfo) error {
		if id, ok := object.ParsePackName(fi.Name); ok && !known[id] && !src.Condemned[id] {
			unknown = append(unknown, id)
		}
		return nil
	})
	for _, id := range unknown {
		if _, _, err := src.Repo.ReadPackTable(ctx, id); err != nil && !errors.Is(err, object.ErrNotFound) {
			c.add(Problem{Kind: "bad-pack", Pack: id.String(),
				Message: fmt.Sprintf("not indexed, and its table cannot be read (%v): it may hold blobs versions need; `silo index rebuild` reads it blob by blob", err)})
			continue
		}
		rep.Unreferenced = append(rep.Unreferenced, id.String())
	}
	// a damaged pack repair condemned, that the index no longer refers
	// to, is on its way out: the next gc deletes it
	packs = slices.DeleteFunc(packs, func(p object.PackInfo) bool {
		if src.Condemned[p.ID] && len(byPack[p.ID]) == 0 {
			rep.Condemned = append(rep.Condemned, p.ID.String())
			return true
		}
		return false
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
		return rep, fmt.Errorf("%w: %d problem(s)", ErrFailed, len(rep.Problems))
	}
	return rep, nil
}

func (c *checker) markBad(pack object.ID, b object.Blob, kind, msg string) {
	p := c.add(Problem{Kind: kind, Pack: pack.String(), Blob: b.ID.String(), Message: msg})
	c.mu.Lock()
	c.bad[b.ID] = append(c.bad[b.ID], p)
	c.mu.Unlock()
}

func (c *checker) checkPack(ctx context.Context, p object.PackInfo, indexed []object.Blob, opts Options) {
	table, size, err := c.src.Repo.ReadPackTable(ctx, p.ID)
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
		err := c.src.Repo.VerifyPack(ctx, p.ID, func(b object.Blob, err error) {
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
	c.src.DB.View(func(tx *index.Tx) error {
		_, ok, _ = tx.Pack(pack)
		return nil
	})
	return ok
}

// checkSnapshots walks every snapshot's trees, each distinct tree once,
// checking that each referenced blob is indexed, and remembers which trees
// hold a bad blob (taint). Then, for every version whose root holds one, it
// names the version in each problem and lists the paths that use the bad
// blob, walking only the trees with damage.
func (c *checker) checkSnapshots(ctx context.Context) error {
	type snap struct {
		id object.ID
		sn *snapshot.Snapshot
	}
	var snaps []snap
	err := c.src.DB.View(func(tx *index.Tx) error {
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
	c.seenTree = map[object.ID]bool{}
	c.tainted = map[object.ID]*taint{}
	for _, sp := range snaps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if ok, _ := c.src.Repo.Has(sp.id); !ok {
			c.add(Problem{Kind: "missing-blob", Blob: sp.id.String(), Snapshot: sp.id.String(), Projects: []string{sp.sn.ProjectName},
				Snapshots: []AffectedVersion{{Snapshot: sp.id.String(), Project: sp.sn.ProjectName}}, Message: "snapshot blob not indexed"})
		}
		c.walkTree(ctx, sp.sn.Tree)
	}
	c.seenTree = nil // the rest needs only the trees with damage
	if len(c.bad) == 0 {
		return nil
	}
	c.projSeen = map[projKey]bool{}
	for _, sp := range snaps {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.attachVersion(sp.id, sp.sn.ProjectName, sp.sn.Tree)
	}
	return nil
}

// walkTree checks a tree and everything under it, once per distinct tree,
// and reports whether it holds (or is) a bad blob.
func (c *checker) walkTree(ctx context.Context, id object.ID) bool {
	if _, ok := c.bad[id]; ok {
		return true
	}
	if c.seenTree[id] {
		return c.tainted[id] != nil
	}
	c.seenTree[id] = true
	nodes, err := snapshot.LoadTree(ctx, c.src.Repo, id)
	if err != nil {
		c.bad[id] = append(c.bad[id], c.add(Problem{Kind: "bad-tree", Blob: id.String(), Message: err.Error()}))
		return true
	}
	c.rep.Trees++
	var t *taint
	for i := range nodes {
		n := &nodes[i]
		var e taintEntry
		switch n.Type {
		case snapshot.Dir:
			if !c.walkTree(ctx, n.Subtree) {
				continue
			}
			e = taintEntry{name: n.Name, sub: n.Subtree}
		case snapshot.File:
			for _, b := range n.Content {
				if _, ok := c.bad[b]; !ok {
					if ok, _ := c.src.Repo.Has(b); ok {
						continue
					}
					c.bad[b] = append(c.bad[b], c.add(Problem{Kind: "missing-blob", Blob: b.String(), Message: "data blob not indexed"}))
				}
				if !slices.Contains(e.blobs, b) {
					e.blobs = append(e.blobs, b)
				}
			}
			if len(e.blobs) == 0 {
				continue
			}
			e.name = n.Name
		default:
			continue
		}
		if t == nil {
			t = &taint{counts: map[object.ID]int64{}}
		}
		t.entries = append(t.entries, e)
		switch {
		case e.blobs != nil:
			for _, b := range e.blobs {
				t.counts[b] = addCount(t.counts[b], 1)
			}
		case c.tainted[e.sub] != nil:
			for b, k := range c.tainted[e.sub].counts {
				t.counts[b] = addCount(t.counts[b], k)
			}
		default: // the subtree itself is bad
			t.counts[e.sub] = addCount(t.counts[e.sub], 1)
		}
	}
	if t == nil {
		return false
	}
	c.tainted[id] = t
	return true
}

// addCount adds without overflowing: a tree whose entries all name one
// subtree describes 2^depth paths.
func addCount(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// attachVersion names the version in the problem of every bad blob its tree
// holds, with the number of its paths that use it, and lists those paths
// (within the bounds), walking only trees with damage and only while some
// problem below still lists paths.
func (c *checker) attachVersion(snap object.ID, project string, root object.ID) {
	var counts map[object.ID]int64
	if _, ok := c.bad[root]; ok {
		counts = map[object.ID]int64{root: 1}
	} else if t := c.tainted[root]; t != nil {
		counts = t.counts
	} else {
		return
	}
	for b, n := range counts {
		for _, i := range c.bad[b] {
			p := &c.rep.Problems[i]
			p.Snapshots = append(p.Snapshots, AffectedVersion{Snapshot: snap.String(), Project: project, Paths: n})
			p.PathCount = addCount(p.PathCount, n)
			if k := (projKey{i, project}); !c.projSeen[k] {
				c.projSeen[k] = true
				p.Projects = append(p.Projects, project)
			}
		}
	}
	clear(c.listed)
	if c.listed == nil {
		c.listed = map[int]int{}
	}
	list := func(blob object.ID, path string) {
		for _, i := range c.bad[blob] {
			if c.wants(i) {
				p := &c.rep.Problems[i]
				p.Paths = append(p.Paths, project+":"+path+"@"+snap.Short())
				c.listed[i]++
			}
		}
	}
	if _, ok := c.bad[root]; ok {
		list(root, "/")
		return
	}
	c.names = c.names[:0]
	var visit func(t *taint)
	visit = func(t *taint) {
		for _, e := range t.entries {
			switch {
			case e.blobs != nil:
				if c.wantsAny(e.blobs) {
					path := c.path(e.name, false)
					for _, b := range e.blobs {
						list(b, path)
					}
				}
			case c.tainted[e.sub] == nil: // the subtree itself is bad
				if c.wantsBlob(e.sub) {
					list(e.sub, c.path(e.name, true))
				}
			default:
				sub := c.tainted[e.sub]
				if !c.wantsCounts(sub.counts) {
					continue
				}
				c.names = append(c.names, e.name)
				visit(sub)
				c.names = c.names[:len(c.names)-1]
			}
		}
	}
	visit(c.tainted[root])
}

// path builds "/a/b/name" from the walk's stack of names, only when a
// path is listed: a deep tree never holds a string per level.
func (c *checker) path(name string, dir bool) string {
	n := len(name) + 1
	for _, s := range c.names {
		n += len(s) + 1
	}
	var b strings.Builder
	b.Grow(n + 1)
	for _, s := range c.names {
		b.WriteByte('/')
		b.WriteString(s)
	}
	b.WriteByte('/')
	b.WriteString(name)
	if dir {
		b.WriteByte('/')
	}
	return b.String()
}

// wants reports whether problem i lists more paths of the version walked.
func (c *checker) wants(i int) bool {
	return c.listed[i] < MaxPathsPerVersion && len(c.rep.Problems[i].Paths) < MaxPathsPerProblem
}

func (c *checker) wantsBlob(b object.ID) bool {
	return slices.ContainsFunc(c.bad[b], c.wants)
}

func (c *checker) wantsAny(blobs []object.ID) bool {
	return slices.ContainsFunc(blobs, c.wantsBlob)
}

func (c *checker) wantsCounts(counts map[object.ID]int64) bool {
	for b := range counts {
		if c.wantsBlob(b) {
			return true
		}
	}
	return false
}
