package snapshot

import (
	"context"

	"github.com/silo-dev/silo/object"
)

// TreeVisit is one tree blob met by Reach: its id, the path of the first
// directory found to hold it ("" for a root; roots carry their own label
// in Root), its nodes, or the error loading it.
type TreeVisit struct {
	ID    object.ID
	Root  string // the label of the root this tree was reached from
	Path  string // slash-separated, below the root
	Nodes []Node
	Err   error // loading the tree failed (Nodes is nil)
}

// ReachRoot is a tree to start from, with a label for messages (a
// project and version, say).
type ReachRoot struct {
	Tree  object.ID
	Label string
}

// Reach visits every tree blob reachable from roots exactly once, depth
// first, without recursion: memory grows with the trees pending, not with
// the depth of a tree, and a tree shared by several roots or directories
// is loaded once. visit gets each tree (or the error loading it; return
// nil to go on without its subtrees). The visitor sees the data blobs in
// the nodes' Content. An error from visit stops the walk and is returned.
//
// Backups (what a version needs, replica.Needed), backup verify
// (replica.Verify) and bench/gcstat use it. Three walks stay apart on
// purpose: gc's mark keeps its visited set in the mark set itself (1 bit
// per indexed blob, where Reach's set costs some 50 bytes a tree), and
// check and upload verification aggregate per path below each tree
// (which damaged blobs a version reaches, and how many files and bytes of
// paths a tree holds), post-order, which a visit-once walk cannot give.
func Reach(ctx context.Context, repo BlobLoader, roots []ReachRoot, visit func(TreeVisit) error) error {
	type pending struct {
		id         object.ID
		root, path string
	}
	seen := map[object.ID]bool{}
	var stack []pending
	for i := len(roots) - 1; i >= 0; i-- {
		stack = append(stack, pending{id: roots[i].Tree, root: roots[i].Label})
	}
	for len(stack) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[p.id] {
			continue
		}
		seen[p.id] = true
		nodes, err := LoadTree(ctx, repo, p.id)
		tv := TreeVisit{ID: p.id, Root: p.root, Path: p.path, Nodes: nodes, Err: err}
		if err := visit(tv); err != nil {
			return err
		}
		// children in reverse, so they come off the stack in name order
		for i := len(nodes) - 1; i >= 0; i-- {
			if nodes[i].Type != Dir || seen[nodes[i].Subtree] {
				continue
			}
			child := nodes[i].Name
			if p.path != "" {
				child = p.path + "/" + child
			}
			stack = append(stack, pending{id: nodes[i].Subtree, root: p.root, path: child})
		}
	}
	return nil
}
