package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/silo-dev/silo/client"
	"github.com/silo-dev/silo/store"
	"github.com/silo-dev/silo/store/config"
)

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
	abs, _ := filepath.Abs(dir)
	host, _ := os.Hostname()
	rep, prog := e.progress("store")
	res, err := rc.StoreDir(c.Context, dir, client.StoreOptions{Project: c.String("project"),
		Type: c.String("type"), Tags: c.StringSlice("tag"), GitRepository: c.String("git-repository"),
		Languages: c.StringSlice("language"), Frameworks: c.StringSlice("framework"),
		Source: host + ":" + abs, Progress: prog, Logger: e.log})
	var out any = res
	if res != nil {
		// the field a local store's --json names the version by, beside the
		// API's "version": one script reads both
		out = struct {
			*client.StoreResult
			Snapshot string `json:"snapshot"`
		}{res, res.Version}
	}
	if done, err := e.ended(rep, "store", out, err); done {
		return err
	}
	st := res.Stats
	e.printf("snapshot %s of project %s (%s) saved on %s\n", res.Version, res.Name, res.ProjectID, rc.Base())
	printStoreRead(e, st)
	e.printf("sent:   %s in %d blobs; %d of %d blobs were on the server already\n",
		human(res.BytesUploaded), res.BlobsUploaded, res.BlobsPresent, res.BlobsAsked)
	e.printf("time:   %.2fs\n", st.Duration.Seconds())
	return nil
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
	project, ver, _ := strings.Cut(a[0], "@")
	v, err := rc.FindVersion(c.Context, project, ver)
	if err != nil {
		return err
	}
	rep, prog := e.progress("restore")
	if prog != nil && len(c.StringSlice("include")) == 0 {
		prog.AddTotal(v.Files, v.Size)
	}
	st, err := rc.RestoreVersion(c.Context, v, a[1], client.RestoreOptions{Include: c.StringSlice("include"), Progress: prog, Logger: e.log})
	if done, err := e.ended(rep, "restore", map[string]any{"snapshot": v.ID, "project": v.ProjectName, "stats": st}, err); done {
		return err
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
	for _, f := range listFilters {
		if v := c.String(f[0]); v != "" && f[0] != "min-size" {
			q.Set(f[0], v)
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
	return e.showProjects(list, nil)
}
