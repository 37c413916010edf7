package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/silo-dev/silo/object"
)

// Snapshot is one stored version of a project.
type Snapshot struct {
	Version     int        `json:"v"`
	Time        time.Time  `json:"time"`
	Tree        object.ID  `json:"tree"`
	Parent      *object.ID `json:"parent,omitempty"`
	ProjectID   string     `json:"project_id"`
	ProjectName string     `json:"project_name"`
	Tags        []string   `json:"tags,omitempty"` // the project's tags when stored
	// VersionTags are this version's own tags (store --tag), by which it
	// can be named: PROJECT@TAG.
	VersionTags []string        `json:"version_tags,omitempty"`
	Hostname    string          `json:"hostname,omitempty"`
	Source      string          `json:"source,omitempty"`
	RootMode    uint32          `json:"root_mode"`
	RootMTime   int64           `json:"root_mtime"`
	Files       int64           `json:"files"`
	Dirs        int64           `json:"dirs"`
	Size        int64           `json:"size"` // logical bytes of all regular files
	Project     json.RawMessage `json:"project,omitempty"`
	// Detection is what the store's language detection counted in Tree,
	// opaque here, from which the next version's is counted (see
	// store/detect's Tallies).
	Detection json.RawMessage `json:"detection,omitempty"`
}

// Encode returns the snapshot blob.
func (s *Snapshot) Encode() []byte {
	s.Version = 1
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // only plain fields
	}
	return b
}

// DecodeSnapshot decodes and validates a snapshot blob.
func DecodeSnapshot(data []byte) (*Snapshot, error) {
	var s Snapshot
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrBadSnapshot)
	}
	switch {
	case s.Version != 1:
		return nil, fmt.Errorf("%w: version %d", ErrBadSnapshot, s.Version)
	case s.Tree.IsZero():
		return nil, fmt.Errorf("%w: no tree", ErrBadSnapshot)
	case s.ProjectID == "":
		return nil, fmt.Errorf("%w: no project", ErrBadSnapshot)
	case s.Time.IsZero():
		return nil, fmt.Errorf("%w: no time", ErrBadSnapshot)
	case s.Files < 0 || s.Dirs < 0 || s.Size < 0:
		return nil, fmt.Errorf("%w: negative counts", ErrBadSnapshot)
	}
	return &s, nil
}
