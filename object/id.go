package object

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/zeebo/blake3"
)

// ID names a blob or a pack: the BLAKE3-256 of its plain bytes.
type ID [32]byte

// Hash returns the id of data.
func Hash(data []byte) ID {
	return ID(blake3.Sum256(data))
}

// String returns the id as 64 lower-case hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 bytes of the id in hex, for display.
func (id ID) Short() string { return hex.EncodeToString(id[:4]) }

// IsZero reports whether id is the zero id (no blob).
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText encodes the id as hex.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes a hex id.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID parses 64 hex digits.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 64 {
		return id, fmt.Errorf("object: id %q: want 64 hex digits, got %d characters", s, len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("object: id %q: %w", s, err)
	}
	return id, nil
}

// BlobType says what a blob holds.
type BlobType uint8

const (
	// DataBlob holds a chunk of file content.
	DataBlob BlobType = 1
	// TreeBlob holds an encoded directory.
	TreeBlob BlobType = 2
	// SnapshotBlob holds an encoded snapshot (one stored version).
	SnapshotBlob BlobType = 3
	// MetaBlob holds a catalogue record written outside a snapshot.
	MetaBlob BlobType = 4
)

func (t BlobType) String() string {
	switch t {
	case DataBlob:
		return "data"
	case TreeBlob:
		return "tree"
	case SnapshotBlob:
		return "snapshot"
	case MetaBlob:
		return "meta"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Valid reports whether t is a known blob type.
func (t BlobType) Valid() bool { return t >= DataBlob && t <= MetaBlob }

// IsData reports whether blobs of this type go to data packs (all others
// go to tree packs, so that metadata loads fast).
func (t BlobType) IsData() bool { return t == DataBlob }

// Compression says how a blob is stored.
type Compression uint8

const (
	// Raw means the stored bytes are the plain bytes.
	Raw Compression = 0
	// Zstd means the stored bytes are one zstd frame.
	Zstd Compression = 1
)

// Blob describes one blob inside a pack.
type Blob struct {
	ID        ID
	Type      BlobType
	Comp      Compression
	Offset    uint32
	Length    uint32 // stored length
	RawLength uint32 // plain length
}

// Location is a blob and the pack that holds it.
type Location struct {
	Pack ID
	Blob
}

// PackInfo describes a pack file.
type PackInfo struct {
	ID    ID
	Size  int64
	Data  bool // a data pack (false: tree pack)
	Count int
}

// PackName is the backend name of a pack.
func PackName(id ID) string {
	s := id.String()
	return "packs/" + s[:2] + "/" + s
}

// ParsePackName returns the id of the pack a backend name names, and false
// for a name that is not PackName of an id (a temporary file, a stray).
func ParsePackName(name string) (ID, bool) {
	base := name[strings.LastIndex(name, "/")+1:]
	id, err := ParseID(base)
	if err != nil || PackName(id) != name {
		return id, false
	}
	return id, true
}
