package check

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// TreeOptions configure Tree.
type TreeOptions struct {
	// MaxEntries bounds the version's entries, counted per path (0: no
	// bound); Setting says where the bound comes from, for the message.
	MaxEntries int64
	Setting    string
	// Visit, when set, sees every file of each distinct tree once, at the
	// first path that reaches it (detection).
	Visit func(path string, n *snapshot.Node)
}

// Tree checks a committed tree (an upload's). Each distinct tree is
// loaded and checked once, however many paths lead to it (a tree whose
// entries all name the same subtree describes 2^depth paths in a few
// uploads): every tree and data blob is indexed with the right type, each
// file's chunks add up to its size, names are restorable, paths stay
// within snapshot.DefaultMaxPath bytes and DefaultMaxDepth levels, and the
// version's entries (counted per path) within MaxEntries (an error that
// wraps snapshot.ErrEntryLimit). Missing blobs give a *MissingBlobsError;
// anything else wrong wraps catalog.ErrInvalid.
func Tree(ctx context.Context, repo *object.Repository, root object.ID, opts TreeOptions) (snapshot.StoreStats, error) {
	var st snapshot.StoreStats
	c := &treeCheck{repo: repo, opts: opts, ctx: ctx, missing: &MissingBlobsError{},
		memo: map[object.ID]*treeSum{}, lengths: map[object.ID]int64{}}
	// the root (and every subtree) must be an indexed tree blob
	if ok, err := c.isTree(root); err != nil {
		return st, err
	} else if !ok {
		return st, c.missing
	}
	start := time.Now()
	m, err := c.visit(root, 0)
	st.Duration = time.Since(start)
	if err != nil {
		return st, err
	}
	st.Dirs = 1 + m.dirs
	st.Symlinks, st.FilesNew, st.Size = m.links, m.files, m.size
	if c.missing.Count > 0 {
		return st, c.missing
	}
	return st, nil
}

var (
	// ErrMissingBlobs means a committed tree refers to blobs the repository
	// does not hold (see MissingBlobsError for which).
	ErrMissingBlobs = errors.New("store: tree refers to missing blobs")
)

// MissingBlobsError lists (some of) the blobs a commit lacks.
type MissingBlobsError struct {
	IDs   []object.ID // at most MaxReportedMissing
	Count int         // how many were missing in all
}

// MaxReportedMissing bounds MissingBlobsError.IDs.
const MaxReportedMissing = 1000

func (e *MissingBlobsError) Error() string {
	return fmt.Sprintf("%v: %d blob(s), e.g. %s; upload them and commit again", ErrMissingBlobs, e.Count, e.IDs[0])
}

// Is makes errors.Is(err, ErrMissingBlobs) true.
func (e *MissingBlobsError) Is(target error) bool { return target == ErrMissingBlobs }

// treeCheck is the state of Tree.
type treeCheck struct {
	repo    *object.Repository
	opts    TreeOptions
	ctx     context.Context
	missing *MissingBlobsError
	memo    map[object.ID]*treeSum // per distinct tree
	lengths map[object.ID]int64    // raw length per data blob
	// path is the path of the entry being checked, shared by every level
	// (appended on the way down, cut on the way up): a path per level
	// would hold the square of a deep tree's depth (1 GB at 32,768 levels)
	path []byte
}

// treeSum is what one distinct tree holds below it, every path counted.
type treeSum struct {
	files, dirs, links, size, entries int64
	depth, path                       int // deepest path (elements) and longest path (bytes) below it
}

// sat adds saturating: 2^40 paths of 2^40 bytes.
func sat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func (c *treeCheck) where() string { return string(c.path) }
func (c *treeCheck) short() string { return string(c.path[:min(len(c.path), 100)]) }

func (c *treeCheck) note(id object.ID) {
	c.missing.Count++
	if len(c.missing.IDs) < MaxReportedMissing {
		c.missing.IDs = append(c.missing.IDs, id)
	}
}

// isTree reports whether id is an indexed tree blob (false: missing,
// noted); a blob of another type is an error.
func (c *treeCheck) isTree(id object.ID) (bool, error) {
	loc, ok, err := c.repo.Lookup(id)
	if err != nil {
		return false, err
	}
	if !ok {
		c.note(id)
		return false, nil
	}
	if loc.Type != object.TreeBlob {
		return false, fmt.Errorf("%w: blob %s is a %s blob, not a tree", catalog.ErrInvalid, id.Short(), loc.Type)
	}
	return true, nil
}

// visit checks the tree id, depth levels down, and returns its sum.
func (c *treeCheck) visit(id object.ID, depth int) (*treeSum, error) {
	if m, ok := c.memo[id]; ok {
		return m, nil
	}
	if err := c.ctx.Err(); err != nil {
		return nil, err
	}
	nodes, err := snapshot.LoadTree(c.ctx, c.repo, id)
	if err != nil {
		if len(c.path) > 0 {
			err = fmt.Errorf("%s: %w", c.path, err)
		}
		return nil, err
	}
	m := &treeSum{}
	for i := range nodes {
		n := &nodes[i]
		mark := len(c.path)
		if mark > 0 {
			c.path = append(c.path, '/')
		}
		c.path = append(c.path, n.Name...)
		if err := c.entry(n, depth, m); err != nil {
			return nil, err
		}
		c.path = c.path[:mark]
	}
	c.memo[id] = m
	return m, nil
}

// entry checks one entry of a tree depth levels down (its path is c.path)
// and adds it to m.
func (c *treeCheck) entry(n *snapshot.Node, depth int, m *treeSum) error {
	if err := snapshot.CheckName(n.Name); err != nil {
		return fmt.Errorf("%w: %s: %w", catalog.ErrInvalid, c.where(), err)
	}
	if depth+1 > snapshot.DefaultMaxDepth || len(c.path) > snapshot.DefaultMaxPath {
		return fmt.Errorf("%w: %s... is %d levels deep and %d bytes long (at most %d and %d)",
			catalog.ErrInvalid, c.short(), depth+1, len(c.path), snapshot.DefaultMaxDepth, snapshot.DefaultMaxPath)
	}
	m.entries++
	longest, deepest := len(n.Name), 1
	switch n.Type {
	case snapshot.Dir:
		m.dirs++
		ok, err := c.isTree(n.Subtree)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		sub, err := c.visit(n.Subtree, depth+1)
		if err != nil {
			return err
		}
		m.files, m.dirs, m.links = sat(m.files, sub.files), sat(m.dirs, sub.dirs), sat(m.links, sub.links)
		m.size, m.entries = sat(m.size, sub.size), sat(m.entries, sub.entries)
		if sub.entries > 0 {
			longest, deepest = len(n.Name)+1+sub.path, 1+sub.depth
		}
	case snapshot.Symlink:
		m.links++
	case snapshot.File:
		if err := c.file(n); err != nil {
			return err
		}
		m.files++
		m.size = sat(m.size, int64(n.Size))
		if c.opts.Visit != nil {
			c.opts.Visit(c.where(), n)
		}
	}
	// a subtree met before was checked at its first path only: its own
	// longest and deepest paths count here
	m.path, m.depth = max(m.path, longest), max(m.depth, deepest)
	if m.path > snapshot.DefaultMaxPath || m.depth > snapshot.DefaultMaxDepth {
		return fmt.Errorf("%w: %s holds a path of %d levels or %d bytes (at most %d and %d)",
			catalog.ErrInvalid, c.short(), m.depth, m.path, snapshot.DefaultMaxDepth, snapshot.DefaultMaxPath)
	}
	if c.opts.MaxEntries > 0 && m.entries > c.opts.MaxEntries {
		return fmt.Errorf("the tree holds more than max_entries %d files, directories and symlinks (%s; at %s); nothing was recorded: %w",
			c.opts.MaxEntries, c.opts.Setting, c.where(), snapshot.ErrEntryLimit)
	}
	return nil
}

// file checks that a file's chunks are indexed data blobs that add up to
// its size (missing ones are noted, and the size is not checked).
func (c *treeCheck) file(n *snapshot.Node) error {
	var size int64
	complete := true
	for _, cid := range n.Content {
		l, ok := c.lengths[cid]
		if !ok {
			loc, found, err := c.repo.Lookup(cid)
			if err != nil {
				return err
			}
			if !found {
				c.note(cid)
				complete = false
				continue
			}
			if loc.Type != object.DataBlob {
				return fmt.Errorf("%w: file %s: blob %s is a %s blob, not data", catalog.ErrInvalid, c.where(), cid.Short(), loc.Type)
			}
			l = int64(loc.RawLength)
			c.lengths[cid] = l
		}
		size += l
	}
	if complete && uint64(size) != n.Size {
		return fmt.Errorf("%w: file %s: size %d, but its chunks hold %d bytes", catalog.ErrInvalid, c.where(), n.Size, size)
	}
	return nil
}
