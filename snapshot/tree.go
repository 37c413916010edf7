package snapshot

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/silo-dev/silo/object"
)

// NodeType is the kind of a tree entry.
type NodeType uint8

const (
	// File is a regular file.
	File NodeType = 1
	// Dir is a directory.
	Dir NodeType = 2
	// Symlink is a symbolic link (never followed).
	Symlink NodeType = 3
)

func (t NodeType) String() string {
	switch t {
	case File:
		return "file"
	case Dir:
		return "dir"
	case Symlink:
		return "symlink"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Node is one entry of a tree.
type Node struct {
	Name    string
	Type    NodeType
	Mode    uint32 // permission bits plus setuid, setgid, sticky
	MTime   int64  // ns since the epoch
	CTime   int64
	Inode   uint64
	UID     uint32
	GID     uint32
	Size    uint64
	Content []object.ID // File
	Subtree object.ID   // Dir
	Target  string      // Symlink
	// Filter names the content filter (see Filters) a File was stored
	// through: its chunks hold the filter's output, and Size counts them.
	Filter string
}

const (
	treeMagic = "SLT1"
	// treeMagicFiltered marks a tree with a filtered file: each File entry
	// then ends with its filter's name (length-prefixed, empty for none).
	// A tree without one is written as SLT1, byte for byte as before.
	treeMagicFiltered = "SLT2"
	maxNameLen        = 4096
	// ModeMask keeps the bits silo stores.
	ModeMask = 0o7777
	// MaxName is the longest name (in bytes) of one path element silo
	// stores: NAME_MAX of Linux, macOS and Windows file systems, so every
	// stored name can be restored.
	MaxName = 255
	// DefaultMaxPath and DefaultMaxDepth bound a stored path: its length
	// in bytes and its number of elements. They are far past PATH_MAX
	// (4096): restore creates every entry relative to its directory's
	// descriptor, so a path of any length restores, and the tar import,
	// Walk and Diff keep memory linear in a path's depth (a 50 KB tar of
	// one path 20,000 levels deep imports in well under a second). They
	// stay bounded because code that keeps a string per level of a path
	// costs the square of its length.
	DefaultMaxPath  = 64 << 10
	DefaultMaxDepth = 32 << 10
	// MaxHeaderMeta bounds the PAX records (keys and values) of one tar
	// entry that an import accepts, but its path and link target, which
	// DefaultMaxPath bounds.
	MaxHeaderMeta = 64 << 10
)

// CheckName reports whether name is a safe single path element that can
// be restored: not empty, "." or "..", no '/' or NUL, at most MaxName bytes.
func CheckName(name string) error {
	if err := checkElem(name); err != nil {
		return err
	}
	if len(name) > MaxName {
		return fmt.Errorf("%w: name %q... is %d bytes long (at most %d can be restored)", ErrUnsafePath, name[:40], len(name), MaxName)
	}
	return nil
}

// checkElem is CheckName without the length rule for restorable names:
// DecodeTree accepts trees stored before that rule (names up to 4096
// bytes), so that such a version still checks, walks and collects; its
// long names are refused one by one at restore.
func checkElem(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrUnsafePath)
	case name == "." || name == "..":
		return fmt.Errorf("%w: name %q", ErrUnsafePath, name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w: name %q holds '/' or NUL", ErrUnsafePath, name)
	case len(name) > maxNameLen:
		return fmt.Errorf("%w: name of %d bytes", ErrUnsafePath, len(name))
	}
	return nil
}

// shortName quotes a name or path for a message, cutting a long one.
func shortName(name string) string {
	if len(name) <= 120 {
		return fmt.Sprintf("%q", name)
	}
	return fmt.Sprintf("%q... (%d bytes)", name[:100], len(name))
}

// EncodeTree encodes nodes, which must be sorted by name.
func EncodeTree(nodes []Node) []byte {
	n := 8
	for i := range nodes {
		n += 64 + len(nodes[i].Name) + len(nodes[i].Target) + 32*len(nodes[i].Content)
	}
	b := make([]byte, 0, n)
	filtered := false
	for i := range nodes {
		filtered = filtered || nodes[i].Filter != ""
	}
	if filtered {
		b = append(b, treeMagicFiltered...)
	} else {
		b = append(b, treeMagic...)
	}
	b = binary.AppendUvarint(b, uint64(len(nodes)))
	for i := range nodes {
		nd := &nodes[i]
		b = binary.AppendUvarint(b, uint64(len(nd.Name)))
		b = append(b, nd.Name...)
		b = append(b, byte(nd.Type))
		b = binary.AppendUvarint(b, uint64(nd.Mode))
		b = binary.AppendVarint(b, nd.MTime)
		b = binary.AppendVarint(b, nd.CTime)
		b = binary.AppendUvarint(b, nd.Inode)
		b = binary.AppendUvarint(b, uint64(nd.UID))
		b = binary.AppendUvarint(b, uint64(nd.GID))
		b = binary.AppendUvarint(b, nd.Size)
		switch nd.Type {
		case File:
			b = binary.AppendUvarint(b, uint64(len(nd.Content)))
			for _, id := range nd.Content {
				b = append(b, id[:]...)
			}
			if filtered {
				b = binary.AppendUvarint(b, uint64(len(nd.Filter)))
				b = append(b, nd.Filter...)
			}
		case Dir:
			b = append(b, nd.Subtree[:]...)
		case Symlink:
			b = binary.AppendUvarint(b, uint64(len(nd.Target)))
			b = append(b, nd.Target...)
		}
	}
	return b
}

type treeReader struct {
	b   []byte
	err error
}

func (r *treeReader) uvarint(max uint64, what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > max {
		r.err = fmt.Errorf("%w: bad %s", ErrBadTree, what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *treeReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: bad %s", ErrBadTree, what)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *treeReader) bytes(n uint64, what string) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = fmt.Errorf("%w: %s runs past the end", ErrBadTree, what)
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// DecodeTree decodes and validates a tree blob.
func DecodeTree(data []byte) ([]Node, error) {
	if len(data) < len(treeMagic) || (string(data[:len(treeMagic)]) != treeMagic && string(data[:len(treeMagic)]) != treeMagicFiltered) {
		return nil, fmt.Errorf("%w: bad magic", ErrBadTree)
	}
	filtered := string(data[:len(treeMagic)]) == treeMagicFiltered
	r := &treeReader{b: data[len(treeMagic):]}
	// every entry takes at least 11 bytes (an empty file with a one-byte
	// name and zero metadata), which bounds the allocation. The bound was
	// 12, which rejected trees EncodeTree writes for such entries (found by
	// TestEncodeTreeMinimalEntriesDecode).
	count := r.uvarint(uint64(len(data)/11), "entry count")
	if r.err != nil {
		return nil, r.err
	}
	nodes := make([]Node, count)
	for i := range nodes {
		nd := &nodes[i]
		nd.Name = string(r.bytes(r.uvarint(maxNameLen, "name length"), "name"))
		if r.err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, r.err)
		}
		if err := checkElem(nd.Name); err != nil {
			return nil, fmt.Errorf("%w: entry %q: %w", ErrBadTree, nd.Name, err)
		}
		if i > 0 && nodes[i-1].Name >= nd.Name {
			return nil, fmt.Errorf("%w: entry %q out of order or repeated", ErrBadTree, nd.Name)
		}
		t := r.bytes(1, "type")
		if r.err == nil {
			nd.Type = NodeType(t[0])
		}
		nd.Mode = uint32(r.uvarint(ModeMask, "mode"))
		nd.MTime = r.varint("mtime")
		nd.CTime = r.varint("ctime")
		nd.Inode = r.uvarint(1<<64-1, "inode")
		nd.UID = uint32(r.uvarint(1<<32-1, "uid"))
		nd.GID = uint32(r.uvarint(1<<32-1, "gid"))
		nd.Size = r.uvarint(1<<63-1, "size")
		if r.err != nil {
			return nil, fmt.Errorf("entry %q: %w", nd.Name, r.err)
		}
		switch nd.Type {
		case File:
			n := r.uvarint(uint64(len(r.b)/32), "chunk count")
			raw := r.bytes(n*32, "chunk ids")
			if r.err == nil && n > 0 {
				nd.Content = make([]object.ID, n)
				for j := range nd.Content {
					copy(nd.Content[j][:], raw[j*32:])
				}
			}
			if filtered {
				nd.Filter = string(r.bytes(r.uvarint(MaxFilterName, "filter name length"), "filter name"))
				if r.err == nil && nd.Filter != "" {
					r.err = CheckFilterName(nd.Filter)
				}
			}
		case Dir:
			copy(nd.Subtree[:], r.bytes(32, "subtree id"))
		case Symlink:
			nd.Target = string(r.bytes(r.uvarint(maxNameLen, "link target length"), "link target"))
			if r.err == nil && (nd.Target == "" || strings.ContainsRune(nd.Target, 0)) {
				r.err = fmt.Errorf("%w: bad link target", ErrBadTree)
			}
		default:
			return nil, fmt.Errorf("%w: entry %q: unknown type %d", ErrBadTree, nd.Name, nd.Type)
		}
		if r.err != nil {
			return nil, fmt.Errorf("entry %q: %w", nd.Name, r.err)
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadTree, len(r.b))
	}
	return nodes, nil
}
