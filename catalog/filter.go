package catalog

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Filter selects projects for List. Empty fields match everything.
type Filter struct {
	Status    string // active, archived, deleted, or "all"; "" means active and archived
	Language  string // case-insensitive
	Framework string // case-insensitive
	Tag       string // exact
	Name      string // glob (path.Match syntax) on the name
	MinSize   int64  // size_bytes at least this
}

// Validate checks the filter's values.
func (f Filter) Validate() error {
	switch f.Status {
	case "", "all", StatusActive, StatusArchived, StatusDeleted:
	default:
		return fmt.Errorf("%w: status %q (allowed: active, archived, deleted, all)", ErrInvalid, f.Status)
	}
	if f.Name != "" {
		if _, err := path.Match(f.Name, ""); err != nil {
			return fmt.Errorf("%w: name pattern %q: %v", ErrInvalid, f.Name, err)
		}
	}
	if f.MinSize < 0 {
		return fmt.Errorf("%w: minimum size %d", ErrInvalid, f.MinSize)
	}
	return nil
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// Match reports whether a project passes the filter.
func (f Filter) Match(p *Project) bool {
	switch f.Status {
	case "":
		if p.Status == StatusDeleted {
			return false
		}
	case "all":
	default:
		if p.Status != f.Status {
			return false
		}
	}
	if f.Language != "" && !containsFold(p.Languages, f.Language) {
		return false
	}
	if f.Framework != "" && !containsFold(p.Frameworks, f.Framework) {
		return false
	}
	if f.Tag != "" && !slices.Contains(p.Tags, f.Tag) {
		return false
	}
	if f.Name != "" {
		if ok, _ := path.Match(f.Name, p.Name); !ok {
			return false
		}
	}
	return p.SizeBytes >= f.MinSize
}

// ListItem is a project in a listing: its metadata and version count.
type ListItem struct {
	Project
	VersionCount int `json:"version_count"`
}
