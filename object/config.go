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
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s/%s: %w: %s (the file is damaged; restore it from a backup of the repository)",
			be.Location(), ConfigName, ErrCorrupt, fmt.Sprintf(format, a...))
	}
	switch {
	case c.ID == "":
		return c, bad("no id")
	case c.ChunkerPolynomial == "":
		return c, bad("no chunker_polynomial")
	case c.PackSize <= 0 || c.PackSize >= 1<<32:
		return c, bad("pack_size %d is out of range (1 byte to 4 GiB; silo writes 1 MiB to 256 MiB)", c.PackSize)
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
