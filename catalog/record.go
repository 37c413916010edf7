package catalog

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
)

// Project statuses.
const (
	StatusActive   = "active"
	StatusArchived = "archived"
	StatusDeleted  = "deleted"
	StatusPurged   = "purged" // hard-deleted: a tombstone in the packs, never in the catalogue
)

// Project types.
const (
	TypeGeneration = "generation"
	TypeMigration  = "migration"
)

// Record is a catalogue entry as stored in index.db and in snapshot and meta
// blobs. Rev grows with every change; index rebuild keeps the highest.
type Record struct {
	ID             string     `json:"project_id"`
	Name           string     `json:"name"`
	Type           string     `json:"type"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	SizeBytes      int64      `json:"size_bytes"`
	Languages      []string   `json:"languages"`
	Frameworks     []string   `json:"frameworks"`
	Status         string     `json:"status"`
	Tags           []string   `json:"tags"`
	GitRepository  string     `json:"git_repository"`
	UserLanguages  []string   `json:"user_languages,omitempty"`
	UserFrameworks []string   `json:"user_frameworks,omitempty"`
	Excludes       []string   `json:"excludes,omitempty"` // default excludes of its stores
	Detected       []string   `json:"detected_languages,omitempty"`
	DetectedFw     []string   `json:"detected_frameworks,omitempty"`
	ArchivedAt     *time.Time `json:"archived_at,omitempty"`
	DeletedAt      *time.Time `json:"deleted_at,omitempty"`
	ArchivePath    string     `json:"archive_path,omitempty"`
	Rev            uint64     `json:"rev"`
	// ChangedAt and ChangeID stamp every change: when two machines change
	// one project, the record with the later stamp wins everywhere (ties:
	// the greater change id), see Newer.
	ChangedAt time.Time `json:"changed_at,omitzero"`
	ChangeID  string    `json:"change_id,omitempty"`
	// Origin is the meta blob that carries this record (index.db only).
	Origin object.ID `json:"-"`
}

// Newer reports whether record a supersedes b: the later change stamp, ties
// broken by the greater change id; records from before stamps fall back to
// their revision, then their update time.
func Newer(a, b *Record) bool {
	if !a.ChangedAt.Equal(b.ChangedAt) {
		return a.ChangedAt.After(b.ChangedAt)
	}
	if a.ChangeID != b.ChangeID {
		return a.ChangeID > b.ChangeID
	}
	if a.Rev != b.Rev {
		return a.Rev > b.Rev
	}
	return a.UpdatedAt.After(b.UpdatedAt)
}

// Stamp marks a change made now: a stamp later than the record's last one
// (whatever the clock says) and a fresh change id.
func (r *Record) Stamp(now time.Time) {
	now = now.UTC()
	if !now.After(r.ChangedAt) {
		now = r.ChangedAt.Add(time.Nanosecond)
	}
	r.ChangedAt = now
	r.ChangeID = newChangeID()
	r.Rev++
}

func newChangeID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Project is a project's metadata as the orchestrator reads it
// (metadata.json), plus its versions, newest first.
type Project struct {
	ID            string    `json:"project_id"`
	Name          string    `json:"name"`
	Type          string    `json:"type"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	SizeBytes     int64     `json:"size_bytes"`
	Languages     []string  `json:"languages"`
	Frameworks    []string  `json:"frameworks"`
	Status        string    `json:"status"`
	Tags          []string  `json:"tags"`
	GitRepository string    `json:"git_repository"`
	// Excludes are the project's default excludes (gitignore patterns)
	// that every store of it applies besides its own.
	Excludes []string  `json:"excludes,omitempty"`
	Versions []Version `json:"versions"`
	// Permanent is set on the reply to a hard delete: the project is gone
	// from the catalogue (its status reads deleted) and cannot be undeleted.
	Permanent bool `json:"permanent,omitempty"`
}

// Version is one stored version of a project.
type Version struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// Project is the record as the orchestrator reads it, without versions.
func (r *Record) Project() Project {
	p := Project{ID: r.ID, Name: r.Name, Type: r.Type, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		SizeBytes: r.SizeBytes, Languages: lowerAll(r.Languages), Frameworks: NonNil(r.Frameworks),
		Status: r.Status, Tags: NonNil(r.Tags), GitRepository: r.GitRepository, Excludes: r.Excludes, Versions: []Version{}}
	return p
}

// NonNil returns s, or an empty list for nil (JSON shows [] not null).
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Union merges string sets, keeping the order of first appearance and
// dropping duplicates (case-insensitively).
func Union(lists ...[]string) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, l := range lists {
		for _, v := range l {
			k := strings.ToLower(v)
			if v == "" || seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, v)
		}
	}
	return out
}

// lowerAll returns list in lower case: languages are the storage guide's
// lower-case names ("python", "typescript") whatever the source wrote.
func lowerAll(list []string) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = strings.ToLower(v)
	}
	return out
}

// RefreshDerived sets the languages and frameworks from the user's and the
// detected ones.
func (r *Record) RefreshDerived() {
	r.Languages = lowerAll(Union(r.UserLanguages, r.Detected))
	r.Frameworks = Union(r.UserFrameworks, r.DetectedFw)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckProjectName reports whether name is usable: 1-128 letters, digits,
// '.', '_' or '-', starting with a letter or digit, and not a UUID or
// anything with '@' (which separates a version).
func CheckProjectName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: project name %q: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, name)
	}
	if _, err := uuid.Parse(name); err == nil {
		return fmt.Errorf("%w: project name %q looks like a project id", ErrInvalid, name)
	}
	return nil
}

// CheckType refuses a project type other than generation and migration.
func CheckType(t string) error {
	if t != TypeGeneration && t != TypeMigration {
		return fmt.Errorf("%w: project type %q (allowed: generation, migration)", ErrInvalid, t)
	}
	return nil
}

// DecodeRecord reads a record in any of its forms: the binary ones of
// index.db and the JSON of snapshot and meta blobs.
func DecodeRecord(data []byte) (*Record, error) {
	if len(data) > 0 && (data[0] == RecordBinary || data[0] == RecordBinaryV1 || data[0] == RecordBinaryExcludes) {
		r, err := decodeIndexRecord(data)
		if err == nil && r.ID == "" {
			err = ErrBadRecord
		}
		return r, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("catalogue record: %w", err)
	}
	if r.ID == "" {
		return nil, fmt.Errorf("catalogue record without a project id")
	}
	return &r, nil
}

// Encode is the record's JSON form, as snapshot and meta blobs carry it.
func (r *Record) Encode() []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return b
}

// FindActive resolves an id, or the name of a project that is not deleted,
// without scanning the catalogue (names of deleted projects are free for
// new projects).
func FindActive(tx *index.Tx, ref string) (*Record, error) {
	if data := tx.Project(ref); data != nil {
		return DecodeRecord(data)
	}
	if id := tx.ProjectIDByName(ref); id != "" {
		if data := tx.Project(id); data != nil {
			return DecodeRecord(data)
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrProjectNotFound, ref)
}

// FindRecord resolves an id or a name (a project that is not deleted first,
// then a soft-deleted one with that name, newest first).
func FindRecord(tx *index.Tx, ref string) (*Record, error) {
	if data := tx.Project(ref); data != nil {
		return DecodeRecord(data)
	}
	if id := tx.ProjectIDByName(ref); id != "" {
		if data := tx.Project(id); data != nil {
			return DecodeRecord(data)
		}
	}
	var found []*Record
	err := tx.Projects(func(id string, data []byte) error {
		r, err := DecodeRecord(data)
		if err != nil {
			return err
		}
		if r.Name == ref {
			found = append(found, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%w: %q", ErrProjectNotFound, ref)
	}
	slices.SortFunc(found, func(a, b *Record) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	return found[0], nil
}

// Versions lists a project's versions in index.db, newest first.
func Versions(tx *index.Tx, projectID string) []Version {
	out := []Version{}
	tx.Versions(projectID, func(id object.ID, at time.Time) bool {
		out = append(out, Version{ID: id.String(), Time: at.UTC()})
		return true
	})
	return out
}

// NewProjectID makes a project id (a random UUID).
func NewProjectID() string { return uuid.NewString() }
