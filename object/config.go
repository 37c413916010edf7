package object

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// FormatVersion is the repository format this code writes and reads.
const FormatVersion = 1

// ConfigName is the backend name of the repository config.
const ConfigName = "config.json"

// ErrNoRepository means the location holds no repository config.
var ErrNoRepository = errors.New("object: no repository")

// RepoConfig is config.json: written once by init, never changed.
type RepoConfig struct {
	Version           int       `json:"version"`
	ID                string    `json:"id"`
	ChunkerPolynomial string    `json:"chunker_polynomial"` // hex
	PackSize          int64     `json:"pack_size"`
	Created           time.Time `json:"created"`
}

// NewRepoID returns a random repository id.
func NewRepoID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// LoadRepoConfig reads config.json from be.
func LoadRepoConfig(ctx context.Context, be Backend) (RepoConfig, error) {
	var c RepoConfig
	rc, err := be.Get(ctx, ConfigName, 0, -1)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return c, fmt.Errorf("%s: %w", be.Location(), ErrNoRepository)
		}
		return c, fmt.Errorf("read %s/%s: %w", be.Location(), ConfigName, err)
	}
	defer rc.Close()
	dec := json.NewDecoder(io.LimitReader(rc, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%s/%s: %w: %v", be.Location(), ConfigName, ErrCorrupt, err)
	}
	if c.Version != FormatVersion {
		return c, fmt.Errorf("%s/%s: format version %d, this silo reads %d", be.Location(), ConfigName, c.Version, FormatVersion)
	}
	if c.ID == "" || c.ChunkerPolynomial == "" || c.PackSize <= 0 {
		return c, fmt.Errorf("%s/%s: %w: missing fields", be.Location(), ConfigName, ErrCorrupt)
	}
	return c, nil
}

// SaveRepoConfig writes config.json durably (a no-op when it exists).
func SaveRepoConfig(ctx context.Context, be Backend, c RepoConfig) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return be.Put(ctx, ConfigName, bytes.NewReader(b), int64(len(b)))
}
