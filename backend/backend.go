// Package backend picks the object.Backend a location names: a path (the
// local filesystem), s3://bucket/prefix (minio-go, with the s3 section of
// storage.yaml), azblob://container/prefix (the AZURE_* variables), or a
// scheme another object store registered (Register). It also opens one
// object of a remote location for streaming (OpenObject: an import's
// s3:// source).
package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store/config"
)

// ErrSourceNotFound means an import's source (an s3:// object) is not
// there.
var ErrSourceNotFound = errors.New("store: import source not found")

// Opener opens the backend a location of its scheme names.
type Opener func(ctx context.Context, location string, cfg *config.Config) (object.Backend, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Opener{}
)

// IsRemote reports whether a location is an object store's URL
// (s3://bucket/prefix, azblob://container/prefix, or a scheme given to
// Register) rather than a path.
func IsRemote(location string) bool {
	if strings.HasPrefix(location, "s3://") || object.IsAzureURL(location) {
		return true
	}
	scheme, _, ok := strings.Cut(location, "://")
	if !ok {
		return false
	}
	registryMu.RLock()
	defer registryMu.RUnlock()
	_, ok = registry[scheme]
	return ok
}

// Register makes locations "scheme://..." open with open: the plug point
// for another object store. The backend must pass the conformance suite
// (object/backendtest.Run); a program registers it before it opens a
// repository (in an init of a package its main imports). Such a location
// is remote like s3:// (its index lives in the cache directory). Register
// refuses the built-in schemes (catalog.ErrInvalid) and a scheme twice
// (catalog.ErrExists).
func Register(scheme string, open Opener) error {
	registryMu.Lock()
	defer registryMu.Unlock()
	if scheme == "" || scheme == "s3" || scheme == "azblob" || strings.ContainsAny(scheme, ":/") {
		return fmt.Errorf("%w: backend scheme %q is built in or malformed", catalog.ErrInvalid, scheme)
	}
	if _, ok := registry[scheme]; ok {
		return fmt.Errorf("%w: backend scheme %q is registered already", catalog.ErrExists, scheme)
	}
	registry[scheme] = open
	config.AllowScheme(scheme)
	return nil
}

// Open returns the backend for a location; log (nil: none) receives the
// S3 client's retries.
func Open(ctx context.Context, location string, cfg *config.Config, log *slog.Logger) (object.Backend, error) {
	if object.IsAzureURL(location) {
		return object.NewAzureBlob(ctx, location, object.AzureOptionsFromEnv(os.Getenv))
	}
	if scheme, _, ok := strings.Cut(location, "://"); ok && scheme != "s3" {
		registryMu.RLock()
		open := registry[scheme]
		registryMu.RUnlock()
		if open != nil {
			return open(ctx, location, cfg)
		}
	}
	if IsRemote(location) {
		return openS3(ctx, location, cfg, log)
	}
	return object.NewLocal(location), nil
}

// openS3 connects to an s3:// location with the config's s3 section (which
// already holds the AWS_* variables).
func openS3(ctx context.Context, location string, cfg *config.Config, log *slog.Logger) (object.Backend, error) {
	opts := object.S3Options{
		Endpoint:        cfg.S3.Endpoint,
		Region:          cfg.S3.Region,
		AccessKeyID:     cfg.S3.AccessKeyID,
		SecretAccessKey: cfg.S3.SecretAccessKey,
		SessionToken:    cfg.S3.SessionToken,
		Insecure:        strings.HasPrefix(cfg.S3.Endpoint, "http://"),
		Logger:          log,
	}
	return object.NewS3(ctx, location, opts)
}

// OpenObject opens s3://bucket/key or azblob://container/key for
// streaming; ErrSourceNotFound when the object is not there.
func OpenObject(ctx context.Context, u string, cfg *config.Config, log *slog.Logger) (io.ReadCloser, error) {
	var bucket, key, scheme string
	var err error
	if object.IsAzureURL(u) {
		bucket, key, err = object.ParseAzureURL(u)
		scheme = "azblob://"
	} else {
		bucket, key, err = object.ParseS3URL(u)
		scheme = "s3://"
	}
	if err != nil {
		return nil, err
	}
	if key == "" {
		return nil, fmt.Errorf("%w: %s names no object", catalog.ErrInvalid, u)
	}
	be, err := Open(ctx, scheme+bucket, cfg, log)
	if err != nil {
		return nil, err
	}
	rc, err := be.Get(ctx, key, 0, -1)
	if errors.Is(err, object.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s: %w", ErrSourceNotFound, u, err)
	}
	return rc, err
}
