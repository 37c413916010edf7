package store

import (
	"context"
	"log/slog"
	"strings"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store/config"
)

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
