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

// FormatVersion is the format of a plain repository; EncryptedFormatVersion
// that of an encrypted one (a silo that predates encryption refuses it).
const (
	FormatVersion          = 1
	EncryptedFormatVersion = 2
)

// ConfigName is the backend name of the repository config.
const ConfigName = "config.json"

// ErrNoRepository means the location holds no repository config.
var ErrNoRepository = errors.New("object: no repository")

// RepoConfig is config.json: written once by init, never changed.
type RepoConfig struct {
	Version int    `json:"version"`
	ID      string `json:"id"`
	// ChunkerPolynomial is hex; an encrypted repository keeps it in the
	// sealed section instead.
	ChunkerPolynomial string      `json:"chunker_polynomial,omitempty"`
	PackSize          int64       `json:"pack_size"`
	Created           time.Time   `json:"created"`
	Encryption        *Encryption `json:"encryption,omitempty"`
}

// Encryption is config.json's section of an encrypted repository. The
// plain fields say what is used, for people and tools; Sealed (sealed
// with the table key, as the file "config.json") holds a SealedConfig,
// which is authoritative: someone who can write config.json cannot change
// the algorithms or the polynomial without the key.
type Encryption struct {
	AEAD   string `json:"aead"` // "xchacha20poly1305"
	KDF    string `json:"kdf"`  // "scrypt"
	IDs    string `json:"ids"`  // "blake3-keyed"
	Sealed []byte `json:"sealed"`
}

// SealedConfig is the sealed section of an encrypted repository's config.
type SealedConfig struct {
	Repository        string `json:"repository"` // the repository id
	ChunkerPolynomial string `json:"chunker_polynomial"`
	AEAD              string `json:"aead"`
	IDs               string `json:"ids"`
}

// The algorithms of an encrypted repository (the only ones there are).
const (
	AEADName = "xchacha20poly1305"
	KDFName  = "scrypt"
	IDsName  = "blake3-keyed"
)

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
	if c.Version != FormatVersion && c.Version != EncryptedFormatVersion {
		return c, fmt.Errorf("%s/%s: format version %d, this silo reads %d and %d", be.Location(), ConfigName, c.Version, FormatVersion, EncryptedFormatVersion)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%s/%s: %w: %s (the file is damaged; restore it from a backup of the repository)",
			be.Location(), ConfigName, ErrCorrupt, fmt.Sprintf(format, a...))
	}
	switch {
	case c.ID == "":
		return c, bad("no id")
	case c.Version == EncryptedFormatVersion && (c.Encryption == nil || len(c.Encryption.Sealed) == 0):
		return c, bad("format version %d (encrypted) without its encryption section", c.Version)
	case c.Version == FormatVersion && c.Encryption != nil:
		return c, bad("an encryption section in a format version %d (plain) config", c.Version)
	case c.Encryption != nil && (c.Encryption.AEAD != AEADName || c.Encryption.IDs != IDsName):
		return c, bad("encryption %s with %s ids: this silo knows %s with %s ids", c.Encryption.AEAD, c.Encryption.IDs, AEADName, IDsName)
	case c.Encryption == nil && c.ChunkerPolynomial == "":
		return c, bad("no chunker_polynomial")
	case c.PackSize <= 0 || c.PackSize >= 1<<32:
		return c, bad("pack_size %d is out of range (1 byte to 4 GiB; silo writes 1 MiB to 256 MiB)", c.PackSize)
	}
	return c, nil
}

// CreateRepoConfig writes config.json unless the backend holds one, and
// returns the config the backend holds afterwards (read back): c when
// this call made it, another writer's when one was first. Through the
// backend's Creator that is decided by the backend itself; without one (a
// local filesystem without hard links, an S3 server that ignores
// conditional writes) the file is put and read back, which leaves a
// window of a few milliseconds in which two writers may both read back
// their own.
func CreateRepoConfig(ctx context.Context, be Backend, c RepoConfig) (RepoConfig, error) {
	b, err := encodeRepoConfig(c)
	if err != nil {
		return RepoConfig{}, err
	}
	err = errors.ErrUnsupported
	if cr, ok := be.(Creator); ok {
		_, err = cr.Create(ctx, ConfigName, bytes.NewReader(b), int64(len(b)))
	}
	if errors.Is(err, errors.ErrUnsupported) {
		err = be.Put(ctx, ConfigName, bytes.NewReader(b), int64(len(b)))
	}
	if err != nil {
		return RepoConfig{}, err
	}
	return LoadRepoConfig(ctx, be)
}

// SaveRepoConfig writes config.json durably (a no-op when it exists).
func SaveRepoConfig(ctx context.Context, be Backend, c RepoConfig) error {
	b, err := encodeRepoConfig(c)
	if err != nil {
		return err
	}
	return be.Put(ctx, ConfigName, bytes.NewReader(b), int64(len(b)))
}

// encodeRepoConfig is config.json's bytes: indented JSON and a newline.
func encodeRepoConfig(c RepoConfig) ([]byte, error) {
	b, err := json.MarshalIndent(c, "", "  ")
	return append(b, '\n'), err
}
