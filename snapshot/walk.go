package snapshot

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/silo-dev/silo/object"
)

// ErrSkipDir returned by a Walk callback for a directory skips its contents.
var ErrSkipDir = errors.New("snapshot: skip this directory")

// LoadTree loads and decodes one tree blob.
func LoadTree(ctx context.Context, repo BlobLoader, id object.ID) ([]Node, error) {
	data, err := repo.LoadBlob(ctx, id, nil)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id.Short(), err)
	}
	nodes, err := DecodeTree(data)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", id, err)
	}
	return nodes, nil
}

// pathBuf is the path of the directory a walk is in, shared by every
// level: a level appends its name on the way down and cuts it off on the
// way up. A walk of a tree 20,000 levels deep so keeps one path of its
// depth, not a path per level (which was quadratic in the depth).
type pathBuf struct{ b []byte }

// push appends name and returns the mark to pop back to.
func (p *pathBuf) push(name string) int {
	mark := len(p.b)
	if mark > 0 {
		p.b = append(p.b, '/')
	}
	p.b = append(p.b, name...)
	return mark
}

func (p *pathBuf) pop(mark int) { p.b = p.b[:mark] }

// String returns a copy of the path, which the caller may keep.
func (p *pathBuf) String() string { return string(p.b) }

// Walk calls fn for every node under tree, depth first in name order, with
// slash-separated paths relative to the root.
//
// Memory is linear in the tree's depth however deep it is: Walk keeps one
// path buffer and the nodes of the directories it is in. Each call of fn
// gets a string of its own (fn may keep it), built for that call, so a
// walk costs time in the sum of its paths' lengths.
func Walk(ctx context.Context, repo BlobLoader, tree object.ID, fn func(path string, n *Node) error) error {
	return walk(ctx, repo, tree, &pathBuf{}, fn)
}

// walk visits the tree of the directory at path p.
func walk(ctx context.Context, repo BlobLoader, tree object.ID, p *pathBuf, fn func(string, *Node) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	nodes, err := LoadTree(ctx, repo, tree)
	if err != nil {
		if len(p.b) > 0 {
			return fmt.Errorf("%s: %w", p, err)
		}
		return err
	}
	for i := range nodes {
		mark := p.push(nodes[i].Name)
		err := fn(p.String(), &nodes[i])
		if err == nil && nodes[i].Type == Dir {
			err = walk(ctx, repo, nodes[i].Subtree, p, fn)
		}
		p.pop(mark)
		if err != nil && !errors.Is(err, ErrSkipDir) {
			return err
		}
	}
	return nil
}

// Find returns the node at a slash-separated path ("" is not a node: use the
// tree itself).
func Find(ctx context.Context, repo BlobLoader, tree object.ID, path string) (*Node, error) {
	parts, err := CleanInclude(path)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		return &Node{Type: Dir, Subtree: tree}, nil
	}
	id := tree
	for i, p := range parts {
		nodes, err := LoadTree(ctx, repo, id)
		if err != nil {
			return nil, err
		}
		k, ok := slices.BinarySearchFunc(nodes, p, func(n Node, name string) int {
			switch {
			case n.Name < name:
				return -1
			case n.Name > name:
				return 1
			}
			return 0
		})
		if !ok {
			return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
		}
		if i == len(parts)-1 {
			return &nodes[k], nil
		}
		if nodes[k].Type != Dir {
			return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
		}
		id = nodes[k].Subtree
	}
	return nil, fmt.Errorf("%s: %w", path, ErrNotFound)
}

// Change is one difference between two trees.
type Change struct {
	Path string `json:"path"`
	Kind string `json:"kind"` // "added", "removed", "modified"
	Type string `json:"type"`
	Old  int64  `json:"old_size"`
	New  int64  `json:"new_size"`
}

// Diff calls fn for each path added, removed or modified from tree a to
// tree b. Identical subtrees are skipped without loading them.
func Diff(ctx context.Context, repo BlobLoader, a, b object.ID, fn func(Change) error) error {
	return diff(ctx, repo, a, b, &pathBuf{}, fn)
}

func nodeSize(n *Node) int64 {
	if n.Type == File {
		return int64(n.Size)
	}
	return 0
}

// diff compares the trees of the directory at path p.
func diff(ctx context.Context, repo BlobLoader, a, b object.ID, p *pathBuf, fn func(Change) error) error {
	if a == b {
		return nil
	}
	var an, bn []Node
	var err error
	if !a.IsZero() {
		if an, err = LoadTree(ctx, repo, a); err != nil {
			return err
		}
	}
	if !b.IsZero() {
		if bn, err = LoadTree(ctx, repo, b); err != nil {
			return err
		}
	}
	i, j := 0, 0
	for i < len(an) || j < len(bn) {
		switch {
		case j >= len(bn) || (i < len(an) && an[i].Name < bn[j].Name):
			if err := removedOrAdded(ctx, repo, &an[i], p, "removed", fn); err != nil {
				return err
			}
			i++
		case i >= len(an) || bn[j].Name < an[i].Name:
			if err := removedOrAdded(ctx, repo, &bn[j], p, "added", fn); err != nil {
				return err
			}
			j++
		default:
			x, y := &an[i], &bn[j]
			if x.Type != y.Type {
				if err := removedOrAdded(ctx, repo, x, p, "removed", fn); err != nil {
					return err
				}
				if err := removedOrAdded(ctx, repo, y, p, "added", fn); err != nil {
					return err
				}
			} else if x.Type == Dir {
				mark := p.push(x.Name)
				var err error
				if x.Mode != y.Mode {
					err = fn(Change{Path: p.String(), Kind: "modified", Type: "dir"})
				}
				if err == nil {
					err = diff(ctx, repo, x.Subtree, y.Subtree, p, fn)
				}
				p.pop(mark)
				if err != nil {
					return err
				}
			} else if x.Mode != y.Mode || x.Target != y.Target || !slices.Equal(x.Content, y.Content) {
				mark := p.push(x.Name)
				err := fn(Change{Path: p.String(), Kind: "modified", Type: x.Type.String(), Old: nodeSize(x), New: nodeSize(y)})
				p.pop(mark)
				if err != nil {
					return err
				}
			}
			i++
			j++
		}
	}
	return nil
}

// removedOrAdded reports n, in the directory at path p, and everything
// under it.
func removedOrAdded(ctx context.Context, repo BlobLoader, n *Node, p *pathBuf, kind string, fn func(Change) error) error {
	mark := p.push(n.Name)
	defer p.pop(mark)
	c := Change{Path: p.String(), Kind: kind, Type: n.Type.String()}
	if kind == "added" {
		c.New = nodeSize(n)
	} else {
		c.Old = nodeSize(n)
	}
	if err := fn(c); err != nil {
		return err
	}
	if n.Type != Dir {
		return nil
	}
	return walk(ctx, repo, n.Subtree, p, func(path string, m *Node) error {
		c := Change{Path: path, Kind: kind, Type: m.Type.String()}
		if kind == "added" {
			c.New = nodeSize(m)
		} else {
			c.Old = nodeSize(m)
		}
		return fn(c)
	})
}
