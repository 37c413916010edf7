package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store"
)

// StoreOptions describe a version StoreDir stores.
type StoreOptions struct {
	Project string
	// the version's catalogue metadata, as `silo store` takes it
	Type          string
	Tags          []string
	GitRepository string
	Languages     []string
	Frameworks    []string
	// Source names where the files came from (host:path).
	Source   string
	Progress snapshot.Progress
	Logger   *slog.Logger
}

// StoreResult is what StoreDir reports (and `silo store --remote --json`
// prints).
type StoreResult struct {
	ProjectID     string              `json:"project_id"`
	Name          string              `json:"name"`
	Version       string              `json:"version"`
	Created       bool                `json:"created"`
	Stats         snapshot.StoreStats `json:"stats"`
	BlobsAsked    int64               `json:"blobs_asked"`
	BlobsPresent  int64               `json:"blobs_present"`
	BlobsUploaded int64               `json:"blobs_uploaded"`
	BytesUploaded int64               `json:"bytes_uploaded"`
	Languages     []string            `json:"languages"`
	Frameworks    []string            `json:"frameworks"`
}

// StoreDir stores the directory dir as a new version of o.Project through
// the dedup upload protocol: it chunks locally with the server's
// polynomial, reuses the unchanged files of the project's newest version,
// uploads only the blobs the server lacks, and commits the tree. When the
// server lacks blobs of the newest version (a collection after a hard
// delete), it stores again without it.
func (c *Client) StoreDir(ctx context.Context, dir string, o StoreOptions) (*StoreResult, error) {
	info, err := c.Repository(ctx)
	if err != nil {
		return nil, err
	}
	pol, err := chunk.ParsePolynomial(info.ChunkerPolynomial)
	if err != nil {
		return nil, fmt.Errorf("server's chunker polynomial: %w", err)
	}
	vs, err := c.Versions(ctx, o.Project)
	if err != nil {
		return nil, err
	}
	var parent object.ID
	if len(vs) > 0 {
		parent, _ = object.ParseID(vs[0].Tree)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	res, err := c.storeOnce(ctx, dir, pol, parent, o)
	if errors.Is(err, store.ErrMissingBlobs) && !parent.IsZero() {
		o.Logger.Warn("the server lacks blobs of the previous version; storing without it", "err", err)
		res, err = c.storeOnce(ctx, dir, pol, object.ID{}, o)
	}
	return res, err
}

func (c *Client) storeOnce(ctx context.Context, dir string, pol chunk.Pol, parent object.ID, o StoreOptions) (*StoreResult, error) {
	blobs := NewBlobs(c)
	t0 := time.Now()
	sres, err := snapshot.Store(ctx, blobs, dir, snapshot.StoreOptions{Pol: pol, ParentTree: parent, Progress: o.Progress, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	if err := blobs.Flush(ctx); err != nil {
		return nil, err
	}
	body := CommitRequest{Tree: sres.Tree, RootMode: sres.RootMode, RootMTime: sres.RootMTime,
		Files: sres.Stats.Files(), Dirs: sres.Stats.Dirs, Size: sres.Stats.Size, Source: o.Source,
		Type: o.Type, Tags: o.Tags, GitRepository: o.GitRepository, Languages: o.Languages, Frameworks: o.Frameworks}
	var ans CommitAnswer
	if err := c.PostJSON(ctx, Path("projects", o.Project, "versions"), body, &ans); err != nil {
		return nil, err
	}
	st := sres.Stats
	asked, present, uploaded, uploadedBytes := blobs.Counts()
	st.BlobsAdded, st.BytesAdded = uploaded, uploadedBytes
	st.Duration = time.Since(t0)
	return &StoreResult{ProjectID: ans.ProjectID, Name: ans.Name, Version: ans.Version, Created: ans.Created,
		Stats: st, BlobsAsked: asked, BlobsPresent: present, BlobsUploaded: uploaded,
		BytesUploaded: uploadedBytes, Languages: ans.Languages, Frameworks: ans.Frameworks}, nil
}

// FindVersion picks a version of a project by id or unique id prefix; ""
// and "latest" pick the newest.
func (c *Client) FindVersion(ctx context.Context, project, ver string) (Version, error) {
	vs, err := c.Versions(ctx, project)
	if err != nil {
		return Version{}, err
	}
	if len(vs) == 0 {
		return Version{}, fmt.Errorf("%w: %q on %s has no versions (or does not exist)", store.ErrSnapshotNotFound, project, c.Base())
	}
	if ver == "" || ver == "latest" {
		return vs[0], nil
	}
	var pick []Version
	for _, v := range vs {
		if strings.HasPrefix(v.ID, strings.ToLower(ver)) {
			pick = append(pick, v)
		}
	}
	switch {
	case len(pick) == 0:
		return Version{}, fmt.Errorf("%w: project %q has no version %q", store.ErrSnapshotNotFound, project, ver)
	case len(pick) > 1:
		return Version{}, fmt.Errorf("%w: %q matches %d versions of %q", store.ErrAmbiguous, ver, len(pick), project)
	}
	return pick[0], nil
}

// RestoreOptions choose what RestoreVersion writes.
type RestoreOptions struct {
	Include  []string // gitignore patterns; empty: everything
	Progress snapshot.Progress
	Logger   *slog.Logger
}

// RestoreVersion restores a version into dest: the tree and chunks come
// over GET /blobs/{id} (each verified against its id) and the local
// restore writes them, so modes, mtimes and symlinks come back exactly and
// nothing escapes dest.
func (c *Client) RestoreVersion(ctx context.Context, v Version, dest string, o RestoreOptions) (*snapshot.RestoreStats, error) {
	tree, err := object.ParseID(v.Tree)
	if err != nil {
		return nil, fmt.Errorf("server gave tree %q: %w", v.Tree, err)
	}
	// sets up the blob ids of an encrypted repository
	if _, err := c.Repository(ctx); err != nil {
		return nil, err
	}
	return snapshot.Restore(ctx, c, tree, dest, snapshot.RestoreOptions{
		Include: o.Include, Progress: o.Progress, Logger: o.Logger, RootMode: v.RootMode, RootMTime: v.RootMTime})
}
