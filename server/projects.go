package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"

	"github.com/silo-dev/silo/client"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store"
)

// projectList is the answer of GET /projects.
type projectList struct {
	Projects   []store.ListItem `json:"projects"`
	Count      int              `json:"count"` // on this page
	Total      int              `json:"total"` // matching the filter
	NextCursor string           `json:"next_cursor,omitempty"`
}

func listKey(p *store.ListItem) string { return p.Name + "\x00" + p.ID }

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.Filter{Status: q.Get("status"), Language: q.Get("language"), Framework: q.Get("framework"),
		Tag: q.Get("tag"), Name: q.Get("name")}
	if v := q.Get("min_size_gb"); v != "" {
		gb, err := strconv.ParseFloat(v, 64)
		if err != nil || gb < 0 || gb > 1<<23 {
			writeError(w, r, badRequest("invalid", fmt.Sprintf("min_size_gb=%q: want a number of GiB >= 0", v)))
			return
		}
		f.MinSize = int64(gb * (1 << 30))
	}
	limit := s.opts.ListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > s.opts.MaxListLimit {
			writeError(w, r, badRequest("invalid", fmt.Sprintf("limit=%q: want 1..%d", v, s.opts.MaxListLimit)))
			return
		}
		limit = n
	}
	after := ""
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || !strings.Contains(string(b), "\x00") {
			writeError(w, r, badRequest("invalid", "cursor: not a cursor this API gave out"))
			return
		}
		after = string(b)
	}
	if err := f.Validate(); err != nil {
		writeError(w, r, err)
		return
	}
	all, err := s.listMemo.get(func() ([]store.ListItem, error) { return s.st.List(store.Filter{Status: "all"}) })
	if err != nil {
		writeError(w, r, err)
		return
	}
	list := make([]store.ListItem, 0, min(len(all), 1024))
	for i := range all {
		if f.Match(&all[i].Project) {
			list = append(list, all[i])
		}
	}
	start := 0
	if after != "" {
		start = sort.Search(len(list), func(i int) bool { return listKey(&list[i]) > after })
	}
	end := min(start+limit, len(list))
	ans := projectList{Projects: list[start:end], Count: end - start, Total: len(list)}
	if end < len(list) && end > start {
		ans.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(listKey(&list[end-1])))
	}
	writeJSON(w, http.StatusOK, ans)
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) {
	p, err := s.st.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) listVersions(w http.ResponseWriter, r *http.Request) {
	p, err := s.st.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	vs, err := s.st.VersionDetails(p.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	list := client.VersionList{ProjectID: p.ID, Name: p.Name, Versions: make([]client.Version, len(vs))}
	for i, v := range vs {
		list.Versions[i] = wireVersion(v)
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request) {
	hard, err := queryBool(r, "hard")
	if err != nil {
		writeError(w, r, err)
		return
	}
	p, err := s.st.Delete(r.Context(), r.PathValue("id"), hard)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// resolveVersion finds a project's version: the newest, or the one whose
// id starts with the version query parameter.
func (s *Server) resolveVersion(r *http.Request) (*store.Project, store.SnapshotInfo, error) {
	p, err := s.st.Get(r.PathValue("id"))
	if err != nil {
		return nil, store.SnapshotInfo{}, err
	}
	ref := p.ID
	if v := r.URL.Query().Get("version"); v != "" {
		if strings.Trim(strings.ToLower(v), "0123456789abcdef") != "" && v != "latest" {
			return nil, store.SnapshotInfo{}, badRequest("invalid", fmt.Sprintf("version=%q: want a version id or a prefix of one", v))
		}
		ref += "@" + v
	}
	info, err := s.st.ResolveSnapshot(ref)
	return p, info, err
}

// tarMediaTypes are the Content-Types a tar upload may carry; the body is
// sniffed for gzip either way. application/x-www-form-urlencoded is what
// curl --data-binary sends unless told otherwise.
var tarMediaTypes = map[string]bool{"": true, "application/x-tar": true, "application/tar": true,
	"application/gzip": true, "application/x-gzip": true, "application/tar+gzip": true,
	"application/x-gtar": true, "application/octet-stream": true, "application/x-www-form-urlencoded": true}

// uploadAnswer is the answer to a stored upload or commit.
type uploadAnswer struct {
	*store.SaveResult
	Version string `json:"version"`
	JobID   string `json:"job_id,omitempty"`
}

// filesOnly forwards file counts only: an upload job counts body bytes itself.
type filesOnly struct{ c *snapshot.Counter }

func (f filesOnly) AddTotal(files, _ int64) { f.c.TotalFiles.Add(files) }
func (f filesOnly) AddDone(files, _ int64)  { f.c.Files.Add(files) }

// checkTarUpload refuses a tar upload before its body is read: no project
// name, a body that is no tar, or one larger than MaxUpload says it is.
func (s *Server) checkTarUpload(r *http.Request, name string) error {
	if name == "" {
		return badRequest("invalid", "query parameter name is required (the project's name or id)")
	}
	ct := r.Header.Get("Content-Type")
	mt := ""
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			mt = "invalid"
		}
	}
	if !tarMediaTypes[mt] {
		return &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			msg: fmt.Sprintf("Content-Type %q: send a tar (application/x-tar) or tar.gz (application/gzip) body", ct)}
	}
	if s.opts.MaxUpload > 0 && r.ContentLength > s.opts.MaxUpload {
		return &http.MaxBytesError{Limit: s.opts.MaxUpload}
	}
	return nil
}

// uploadTar stores a tar stream as a new version. It streams the body into
// the store (nothing is buffered whole or extracted); a large upload is
// registered as a job while it runs (see the package doc).
func (s *Server) uploadTar(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("name")
	if err := s.checkTarUpload(r, name); err != nil {
		writeError(w, r, err)
		return
	}
	release := s.slots.acquire(w, r)
	if release == nil {
		return
	}
	defer release()
	opts := store.SaveOptions{Project: name, Type: q.Get("type"), Tags: splitList(q.Get("tags")),
		GitRepository: q.Get("git_repository"), Languages: splitList(q.Get("languages")),
		Frameworks: splitList(q.Get("frameworks"))}
	var body = r.Body
	if s.opts.MaxUpload > 0 {
		body = http.MaxBytesReader(w, r.Body, s.opts.MaxUpload)
	}
	idle := s.idleBody(w, body)
	br := &bodyReader{r: idle}
	up, err := s.trackUpload(r, name, idle, br, &opts)
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer up.cancel()
	res, err := s.st.SaveTar(up.ctx, br, opts)
	s.metrics.bytesUp.Add(float64(br.n.Load()))
	if err != nil {
		err = up.failed(br, err)
		if up.j != nil {
			s.jobs.finish(up.j, nil, err)
		}
		writeError(w, r, err)
		return
	}
	s.metrics.bytesStored.Add(float64(res.Stats.BytesAdded))
	ans := uploadAnswer{SaveResult: res, Version: res.Snapshot.String()}
	if up.j != nil {
		ans.JobID = up.j.id
		s.jobs.finish(up.j, ans, nil)
	}
	w.Header().Set("Location", "/api/storage/projects/"+res.ProjectID)
	writeJSON(w, http.StatusCreated, ans)
}

// upload is a tar upload under way: its context, and the job it is
// registered as when it is large (nil: none).
type upload struct {
	ctx      context.Context
	cancel   context.CancelFunc
	j        *job
	canceled atomic.Bool // by DELETE /jobs/{id} or shutdown
}

// trackUpload registers an upload of more than UploadJobThreshold bytes
// (or of unknown size) as a job, whose progress counts the body's bytes;
// canceling the job cancels the store and wakes a read blocked on a
// stalled client.
func (s *Server) trackUpload(r *http.Request, name string, idle *idleBody, br *bodyReader, opts *store.SaveOptions) (*upload, error) {
	up := &upload{ctx: r.Context(), cancel: func() {}}
	if t := s.opts.UploadJobThreshold; t < 0 || (r.ContentLength >= 0 && r.ContentLength <= t) {
		return up, nil
	}
	up.ctx, up.cancel = context.WithCancel(up.ctx)
	stop := func() {
		up.canceled.Store(true)
		up.cancel()
		idle.stop()
	}
	j, err := s.jobs.track("upload", r.URL.Query().Get("job_id"), name, stop)
	if err != nil {
		up.cancel()
		return nil, err
	}
	up.j = j
	if r.ContentLength > 0 {
		j.prog.AddTotal(0, r.ContentLength)
	}
	br.onAdd = func(n int64) { j.prog.AddDone(0, n) }
	opts.Progress = filesOnly{&j.prog}
	return up, nil
}

// failed is the error a failed upload answers: a cancel says how much was
// read, and a failure of the body (too large, idle) is named as such.
func (up *upload) failed(br *bodyReader, err error) error {
	f := br.failure()
	switch {
	case up.canceled.Load() || (f == nil && up.ctx.Err() != nil):
		return fmt.Errorf("upload canceled after %d bytes; nothing was recorded: %w", br.n.Load(), context.Canceled)
	case f != nil:
		return f
	}
	return err
}

// commitVersion records a tree of uploaded blobs as the newest version of
// the project named (or identified) in the path; a new name creates it.
func (s *Server) commitVersion(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest[client.CommitRequest](s, w, r, false)
	if !ok {
		return
	}
	if req.Tree.IsZero() {
		writeError(w, r, badRequest("invalid", "tree is required"))
		return
	}
	res, err := s.uploads.Commit(r.Context(), store.CommitOptions{
		SaveOptions: store.SaveOptions{Project: r.PathValue("id"), Type: req.Type, Tags: req.Tags,
			GitRepository: req.GitRepository, Languages: req.Languages, Frameworks: req.Frameworks},
		Tree: req.Tree, RootMode: req.RootMode, RootMTime: req.RootMTime, Source: req.Source,
		Files: req.Files, Dirs: req.Dirs, Size: req.Size,
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/storage/projects/"+res.ProjectID)
	writeJSON(w, http.StatusCreated, uploadAnswer{SaveResult: res, Version: res.Snapshot.String()})
}

// downloadArchive streams a version as tar or tar.gz. A failure after the
// first byte aborts the connection, so the client sees a truncated
// transfer rather than a short, valid-looking archive.
func (s *Server) downloadArchive(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	switch format {
	case "":
		format = "tar.gz"
	case "tar", "tar.gz":
	case "tgz":
		format = "tar.gz"
	default:
		writeError(w, r, badRequest("invalid", fmt.Sprintf("format=%q: want tar or tar.gz", format)))
		return
	}
	p, info, err := s.resolveVersion(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	fname := fmt.Sprintf("%s-%s.%s", p.Name, info.ID[:12], format)
	h := w.Header()
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fname}))
	h.Set("X-Silo-Version", info.ID)
	h.Set("Cache-Control", "private, max-age=0")
	if format == "tar" {
		h.Set("Content-Type", "application/x-tar")
	} else {
		h.Set("Content-Type", "application/gzip")
	}
	if r.Method == http.MethodHead {
		return
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	var werr error
	if format == "tar" {
		werr = s.st.WriteTar(r.Context(), info, bw)
	} else {
		gz, _ := gzip.NewWriterLevel(bw, gzip.DefaultCompression)
		werr = s.st.WriteTar(r.Context(), info, gz)
		if werr == nil {
			werr = gz.Close()
		}
	}
	if werr == nil {
		werr = bw.Flush()
	}
	if werr != nil {
		s.log.Warn("archive download failed", "project", p.Name, "version", info.ID, "err", werr)
		panic(http.ErrAbortHandler)
	}
}

// downloadFile serves one regular file of a version with http.ServeContent
// (Range, If-Range, If-None-Match); chunks are loaded as the ranges need.
func (s *Server) downloadFile(w http.ResponseWriter, r *http.Request) {
	_, info, err := s.resolveVersion(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := r.PathValue("path")
	if _, err := snapshot.CleanInclude(p); err != nil || p == "" {
		writeError(w, r, badRequest("invalid", fmt.Sprintf("file path %q", p)))
		return
	}
	f, fi, err := s.st.OpenFile(r.Context(), info, p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("ETag", `"`+fi.Content.String()+`"`)
	h.Set("X-Silo-Version", info.ID)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": path.Base(fi.Path)}))
	http.ServeContent(w, r, path.Base(fi.Path), fi.MTime, f)
}

// wireVersion is a version as GET /projects/{id}/versions lists it.
func wireVersion(v store.VersionDetail) client.Version {
	return client.Version{ID: v.ID, Time: v.Time, ProjectID: v.ProjectID, ProjectName: v.ProjectName, Tree: v.Tree,
		Parent: v.Parent, Tags: v.Tags, VersionTags: v.VersionTags, Files: v.Files, Dirs: v.Dirs, Size: v.Size,
		Source: v.Source, Hostname: v.Hostname, RootMode: v.RootMode, RootMTime: v.RootMTime}
}
