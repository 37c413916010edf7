package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/chunk"
	"github.com/silo-dev/silo/client"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store"
	"github.com/silo-dev/silo/store/config"
)

// remoteStoreResult is what `silo store --remote` reports.
type remoteStoreResult struct {
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

// remoteStore stores a directory through the dedup upload protocol: chunk
// locally with the server's polynomial, reuse unchanged files of the
// project's newest version, upload only blobs the server lacks, commit.
func remoteStore(c *cli.Context) error {
	e, a, err := envArgs(c, 1, 1)
	if err != nil {
		return err
	}
	rc, err := newRemote(e)
	if err != nil {
		return err
	}
	dir, err := localPath(a[0])
	if err != nil {
		return err
	}
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("store: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", store.ErrInvalid, dir)
	}
	ctx := c.Context
	info, err := rc.Repository(ctx)
	if err != nil {
		return err
	}
	pol, err := chunk.ParsePolynomial(info.ChunkerPolynomial)
	if err != nil {
		return fmt.Errorf("server's chunker polynomial: %w", err)
	}
	project := c.String("project")
	vs, err := rc.Versions(ctx, project)
	if err != nil {
		return err
	}
	var parent object.ID
	if len(vs) > 0 {
		parent, _ = object.ParseID(vs[0].Tree)
	}
	abs, _ := filepath.Abs(dir)
	host, _ := os.Hostname()
	rep, prog := e.progress("store")
	res, err := remoteStoreOnce(ctx, e, rc, dir, pol, parent, prog, host+":"+abs)
	if errors.Is(err, store.ErrMissingBlobs) && !parent.IsZero() {
		// the parent's blobs went (gc after a hard delete?): store afresh
		e.log.Warn("the server lacks blobs of the previous version; storing without it", "err", err)
		res, err = remoteStoreOnce(ctx, e, rc, dir, pol, object.ID{}, prog, host+":"+abs)
	}
	rep.Finish()
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(summary{Type: "summary", Op: "store", Data: res})
	}
	st := res.Stats
	e.printf("snapshot %s of project %s (%s) saved on %s\n", res.Version, res.Name, res.ProjectID, rc.Base())
	e.printf("files:  %d new, %d changed, %d unchanged; %d dirs, %d symlinks\n",
		st.FilesNew, st.FilesChanged, st.FilesUnchanged, st.Dirs, st.Symlinks)
	e.printf("read:   %s of %s (%s)\n", human(st.BytesRead), human(st.Size), rate(st.BytesRead, st.Duration))
	e.printf("sent:   %s in %d blobs; %d of %d blobs were on the server already\n",
		human(res.BytesUploaded), res.BlobsUploaded, res.BlobsPresent, res.BlobsAsked)
	e.printf("time:   %.2fs\n", st.Duration.Seconds())
	return nil
}

func remoteStoreOnce(ctx context.Context, e *env, rc *client.Client, dir string, pol chunk.Pol, parent object.ID, prog snapshot.Progress, source string) (*remoteStoreResult, error) {
	c := e.c
	blobs := client.NewBlobs(rc)
	t0 := time.Now()
	sres, err := snapshot.Store(ctx, blobs, dir, snapshot.StoreOptions{Pol: pol, ParentTree: parent, Progress: prog, Logger: e.log})
	if err != nil {
		return nil, err
	}
	if err := blobs.Flush(ctx); err != nil {
		return nil, err
	}
	body := map[string]any{"tree": sres.Tree, "root_mode": sres.RootMode, "root_mtime": sres.RootMTime,
		"files": sres.Stats.Files(), "dirs": sres.Stats.Dirs, "size": sres.Stats.Size, "source": source,
		"type": c.String("type"), "tags": c.StringSlice("tag"), "git_repository": c.String("git-repository"),
		"languages": c.StringSlice("language"), "frameworks": c.StringSlice("framework")}
	var ans struct {
		ProjectID  string   `json:"project_id"`
		Name       string   `json:"name"`
		Version    string   `json:"version"`
		Created    bool     `json:"created"`
		Languages  []string `json:"languages"`
		Frameworks []string `json:"frameworks"`
	}
	if err := rc.PostJSON(ctx, client.Path("projects", c.String("project"), "versions"), body, &ans); err != nil {
		return nil, err
	}
	st := sres.Stats
	asked, present, uploaded, uploadedBytes := blobs.Counts()
	st.BlobsAdded, st.BytesAdded = uploaded, uploadedBytes
	st.Duration = time.Since(t0)
	return &remoteStoreResult{ProjectID: ans.ProjectID, Name: ans.Name, Version: ans.Version, Created: ans.Created,
		Stats: st, BlobsAsked: asked, BlobsPresent: present, BlobsUploaded: uploaded,
		BytesUploaded: uploadedBytes, Languages: ans.Languages, Frameworks: ans.Frameworks}, nil
}

// remoteRestore restores a version from the server: the tree and chunks
// come over GET /blobs/{id} (each verified against its id) and the local
// restore writes them, so modes, mtimes and symlinks come back exactly and
// nothing escapes DEST.
func remoteRestore(c *cli.Context) error {
	e, a, err := envArgs(c, 2, 2)
	if err != nil {
		return err
	}
	if a[1], err = localPath(a[1]); err != nil {
		return err
	}
	rc, err := newRemote(e)
	if err != nil {
		return err
	}
	ctx := c.Context
	project, ver, _ := strings.Cut(a[0], "@")
	vs, err := rc.Versions(ctx, project)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		return fmt.Errorf("%w: %q on %s has no versions (or does not exist)", store.ErrSnapshotNotFound, project, rc.Base())
	}
	var pick []store.VersionDetail
	for _, v := range vs {
		if ver == "" || ver == "latest" {
			pick = append(pick, v)
			break
		}
		if strings.HasPrefix(v.ID, strings.ToLower(ver)) {
			pick = append(pick, v)
		}
	}
	switch {
	case len(pick) == 0:
		return fmt.Errorf("%w: project %q has no version %q", store.ErrSnapshotNotFound, project, ver)
	case len(pick) > 1:
		return fmt.Errorf("%w: %q matches %d versions of %q", store.ErrAmbiguous, ver, len(pick), project)
	}
	v := pick[0]
	tree, err := object.ParseID(v.Tree)
	if err != nil {
		return fmt.Errorf("server gave tree %q: %w", v.Tree, err)
	}
	rep, prog := e.progress("restore")
	if prog != nil && len(c.StringSlice("include")) == 0 {
		prog.AddTotal(v.Files, v.Size)
	}
	if _, err := rc.Repository(ctx); err != nil {
		return err
	}
	st, err := snapshot.Restore(ctx, rc, tree, a[1], snapshot.RestoreOptions{
		Include: c.StringSlice("include"), Progress: prog, Logger: e.log, RootMode: v.RootMode, RootMTime: v.RootMTime})
	rep.Finish()
	if err != nil {
		return err
	}
	if e.json {
		return e.printJSON(summary{Type: "summary", Op: "restore", Data: map[string]any{"snapshot": v.ID, "project": v.ProjectName, "stats": st}})
	}
	e.printf("restored %s@%s from %s to %s: %d files, %d dirs, %d symlinks, %s in %.2fs (%s)\n",
		v.ProjectName, v.ID[:12], rc.Base(), a[1], st.Files, st.Dirs, st.Symlinks, human(st.Bytes),
		st.Duration.Seconds(), rate(st.Bytes, st.Duration))
	noteSkippedLinks(st.SymlinksSkipped)
	return nil
}

// remoteProjectsList lists the server's projects, following the pages.
func remoteProjectsList(c *cli.Context) error {
	e, _, err := envArgs(c, 0, 0)
	if err != nil {
		return err
	}
	rc, err := newRemote(e)
	if err != nil {
		return err
	}
	q := url.Values{}
	for _, k := range []string{"status", "language", "framework", "tag", "name"} {
		if v := c.String(k); v != "" {
			q.Set(k, v)
		}
	}
	if v := c.String("min-size"); v != "" {
		n, err := config.ParseSize(v)
		if err != nil {
			return usagef("--min-size: %v", err)
		}
		q.Set("min_size_gb", strconv.FormatFloat(float64(n)/(1<<30), 'g', -1, 64))
	}
	list := []store.ListItem{}
	for {
		var page struct {
			Projects   []store.ListItem `json:"projects"`
			NextCursor string           `json:"next_cursor"`
		}
		if err := rc.Request(c.Context, http.MethodGet, client.Path("projects"), q, nil, "", &page); err != nil {
			return err
		}
		list = append(list, page.Projects...)
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if e.json {
		return e.printJSON(map[string]any{"projects": list, "count": len(list)})
	}
	tw := tabwriter.NewWriter(e.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tID\tSTATUS\tSIZE\tVERSIONS\tUPDATED\tLANGUAGES")
	for _, p := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", p.Name, p.ID, p.Status, human(p.SizeBytes), p.VersionCount,
			p.UpdatedAt.Local().Format("2006-01-02 15:04"), strings.Join(p.Languages, ","))
	}
	return tw.Flush()
}
