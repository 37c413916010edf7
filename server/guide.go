package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store"
)

// The storage guide's remaining operations, for its Python examples
// (clients/python): archiving by age, cleaning the cache, listing, expiring
// and restoring backups, and importing from the cloud.

type archiveOlderRequest struct {
	OlderThanDays int   `json:"older_than_days"` // 0: archive_after_days
	Export        *bool `json:"export"`          // default: archive_export
	DryRun        bool  `json:"dry_run"`
}

func (q *archiveOlderRequest) check() error {
	if q.OlderThanDays < 0 {
		return badRequest("invalid", "older_than_days must be 0 (archive_after_days) or more")
	}
	return nil
}

// archiveOlder archives every active project not updated for a while (a
// job: exports write a .tar.gz each).
func (s *Server) archiveOlder(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest[archiveOlderRequest](s, w, r, true)
	if !ok {
		return
	}
	export := s.st.Config().ArchiveExport
	if req.Export != nil {
		export = *req.Export
	}
	j, err := s.jobs.start("archive", "api", fmt.Sprintf("older than %d days", req.OlderThanDays), false, func(ctx context.Context, _ *snapshot.Counter) (any, error) {
		res, err := s.st.ArchiveOlder(ctx, time.Duration(req.OlderThanDays)*24*time.Hour, store.ArchiveOptions{Export: export}, req.DryRun)
		return map[string]any{"archived": res, "count": len(res), "dry_run": req.DryRun}, err
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.answerJob(w, r, j, jobAnswer{})
}

type cleanCacheRequest struct {
	OlderThanDays int  `json:"older_than_days"` // 0: every copy
	DryRun        bool `json:"dry_run"`
}

func (q *cleanCacheRequest) check() error {
	if q.OlderThanDays < 0 {
		return badRequest("invalid", "older_than_days must be 0 or more")
	}
	return nil
}

// cleanCache removes extracted copies under cache/.
func (s *Server) cleanCache(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest[cleanCacheRequest](s, w, r, true)
	if !ok {
		return
	}
	res, err := s.st.CleanCache(time.Duration(req.OlderThanDays)*24*time.Hour, req.DryRun)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.gen.bump()
	writeJSON(w, http.StatusOK, res)
}

// openBackups opens the backups at dest (the configured destination when
// empty), which must be one the API may name.
func (s *Server) openBackups(ctx context.Context, dest string, readOnly bool) (*store.BackupSet, error) {
	if dest == "" && s.st.Config().Backup.Destination == "" {
		return nil, badRequest("invalid", "no destination given and storage.backup.destination is not set")
	}
	if err := s.checkBackupDest(dest); err != nil {
		return nil, err
	}
	return s.st.OpenBackups(ctx, dest, readOnly)
}

// listBackups lists the backup records at a destination, oldest first;
// each carries its id twice, as id and as the guide's backup_id.
func (s *Server) listBackups(w http.ResponseWriter, r *http.Request) {
	bs, err := s.openBackups(r.Context(), r.URL.Query().Get("destination"), true)
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer bs.Close()
	list, err := bs.List(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]backupItem, len(list))
	for i, br := range list {
		out[i] = backupItem{BackupRecord: br, BackupID: br.ID}
	}
	writeJSON(w, http.StatusOK, map[string]any{"backups": out, "destination": bs.Location()})
}

type backupItem struct {
	store.BackupRecord
	BackupID string `json:"backup_id"`
}

type expireBackupsRequest struct {
	RetentionDays *int   `json:"retention_days"` // default: backup.retention_days
	Destination   string `json:"destination"`
	DryRun        bool   `json:"dry_run"`
}

// expireBackups removes backups past retention (each project keeps its
// newest backup) and collects the destination: a job.
func (s *Server) expireBackups(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest[expireBackupsRequest](s, w, r, true)
	if !ok {
		return
	}
	days := s.st.Config().Backup.RetentionDays
	if req.RetentionDays != nil {
		days = *req.RetentionDays
	}
	if days < 0 {
		writeError(w, r, badRequest("invalid", "retention_days must be 0 or more"))
		return
	}
	bs, err := s.openBackups(r.Context(), req.Destination, false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	j, err := s.jobs.start("backup-expire", "api", bs.Location(), true, func(ctx context.Context, _ *snapshot.Counter) (any, error) {
		defer bs.Close()
		return bs.Expire(ctx, s.opts.Now(), days, req.DryRun)
	})
	if err != nil {
		bs.Close()
		writeError(w, r, err)
		return
	}
	s.answerJob(w, r, j, jobAnswer{})
}

// backupArchive streams, as tar, the newest version a backup holds of a
// project: what a client restores where it runs.
func (s *Server) backupArchive(w http.ResponseWriter, r *http.Request) {
	bs, err := s.openBackups(r.Context(), r.URL.Query().Get("destination"), true)
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer bs.Close()
	id, project := r.PathValue("id"), r.PathValue("project")
	info, err := bs.ProjectVersion(r.Context(), id, project)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", info.ProjectName+"-"+info.ID[:12]+".tar"))
	// what the stream holds, for the client to check what it unpacked
	w.Header().Set("X-Silo-Version", info.ID)
	w.Header().Set("X-Silo-Files", strconv.FormatInt(info.Files, 10))
	w.Header().Set("X-Silo-Size", strconv.FormatInt(info.Size, 10))
	cw := &countingWriter{w: w}
	if err := bs.WriteTar(r.Context(), info, cw); err != nil {
		if cw.n == 0 {
			for _, h := range []string{"Content-Disposition", "X-Silo-Version", "X-Silo-Files", "X-Silo-Size"} {
				w.Header().Del(h)
			}
			writeError(w, r, err)
			return
		}
		// the status is sent: cut the stream so the client sees a truncated tar
		s.log.Error("backup archive download failed midway", "backup", id, "project", project, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// countingWriter counts what went through.
type countingWriter struct {
	w http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// restoreBackup restores projects of a backup (all, with the templates,
// when none are named) back into this repository: a job.
func (s *Server) restoreBackup(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest[backupRequest](s, w, r, true)
	if !ok {
		return
	}
	bs, err := s.openBackups(r.Context(), req.Destination, true)
	if err != nil {
		writeError(w, r, err)
		return
	}
	br, err := bs.Show(r.Context(), r.PathValue("id"))
	if err != nil {
		bs.Close()
		writeError(w, r, err)
		return
	}
	j, err := s.jobs.start("backup-restore", "api", br.ID, true, func(ctx context.Context, prog *snapshot.Counter) (any, error) {
		defer bs.Close()
		return bs.Restore(ctx, br.ID, store.RestoreBackupOptions{Projects: req.Projects, Primary: s.st.Config(), Progress: prog, Logger: s.log})
	})
	if err != nil {
		bs.Close()
		writeError(w, r, err)
		return
	}
	s.answerJob(w, r, j, jobAnswer{})
}

type importRequest struct {
	Source        string   `json:"source"` // s3://bucket/key.tar.gz
	Name          string   `json:"name"`
	Type          string   `json:"type"` // default migration
	Tags          []string `json:"tags"`
	GitRepository string   `json:"git_repository"`
}

// importProject imports a .tar or .tar.gz object from S3 (the guide's
// CloudImporter), with the server's S3 settings: a job. Server paths are
// refused: a client sends its files as a tar upload instead.
func (s *Server) importProject(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest[importRequest](s, w, r, false)
	if !ok {
		return
	}
	if !store.IsRemote(req.Source) {
		writeError(w, r, badRequest("invalid", fmt.Sprintf("source %q: only s3://bucket/key objects are imported by the server; upload a tar with POST /api/storage/projects", req.Source)))
		return
	}
	if req.Name == "" {
		writeError(w, r, badRequest("invalid", "name is required"))
		return
	}
	j, err := s.jobs.start("import", "api", req.Name, false, func(ctx context.Context, prog *snapshot.Counter) (any, error) {
		return s.st.Import(ctx, req.Source, nil, store.SaveOptions{Project: req.Name, Type: req.Type, Tags: req.Tags,
			GitRepository: req.GitRepository, Progress: prog})
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.answerJob(w, r, j, jobAnswer{})
}
