package server

import (
	"context"
	"net/http"
	"time"

	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store"
)

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) {
	s.metrics.handler().ServeHTTP(w, r)
}

func (s *Server) stats(w http.ResponseWriter, r *http.Request) {
	st, err := s.statsMemo.get(s.st.Stats)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// jobAnswer is the 202 answer of a route that started a job.
type jobAnswer struct {
	JobID     string `json:"job_id"`
	StatusURL string `json:"status_url"`
	State     string `json:"state"`
	// extract: where the version goes
	Path      string `json:"path,omitempty"`
	Workbench string `json:"workbench_id,omitempty"`
	ProjectID string `json:"project_id,omitempty"`
	Version   string `json:"version,omitempty"`
}

// answerJob answers for a started job: 202 at once, or with ?wait=true
// the finished job (200, or the job's error status). A waiting client that
// goes away cancels the job.
func (s *Server) answerJob(w http.ResponseWriter, r *http.Request, j *job, ans jobAnswer) {
	wait, err := queryBool(r, "wait")
	if err != nil {
		s.jobs.cancelJob(j)
		writeError(w, r, err)
		return
	}
	ans.JobID, ans.StatusURL = j.id, "/api/storage/jobs/"+j.id
	if !wait {
		ans.State = j.status().State
		w.Header().Set("Location", ans.StatusURL)
		writeJSON(w, http.StatusAccepted, ans)
		return
	}
	select {
	case <-j.done:
	case <-r.Context().Done():
		s.jobs.cancelJob(j)
		<-j.done
	}
	st := j.status()
	if st.State != StateSucceeded {
		j.mu.Lock()
		err := j.err
		j.mu.Unlock()
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

type archiveRequest struct {
	Export bool `json:"export"`
}

// archiveAnswer is the answer of a synchronous archive.
type archiveAnswer struct {
	*store.ArchiveResult
	Status string `json:"status"`
}

func (s *Server) archiveProject(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest[archiveRequest](s, w, r, true)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !req.Export {
		res, err := s.st.Archive(r.Context(), id, store.ArchiveOptions{})
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, archiveAnswer{ArchiveResult: res, Status: store.StatusArchived})
		return
	}
	p, err := s.st.Get(id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	j, err := s.jobs.start("archive", "api", p.Name, false, func(ctx context.Context, _ *snapshot.Counter) (any, error) {
		return s.st.Archive(ctx, p.ID, store.ArchiveOptions{Export: true})
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.answerJob(w, r, j, jobAnswer{ProjectID: p.ID})
}

type cleanupRequest struct {
	DryRun bool `json:"dry_run"`
}

func (s *Server) cleanup(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest[cleanupRequest](s, w, r, true)
	if !ok {
		return
	}
	j, err := s.startCleanup("api", req.DryRun)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.answerJob(w, r, j, jobAnswer{})
}

// startCleanup starts a cleanup job (one at a time).
func (s *Server) startCleanup(trigger string, dryRun bool) (*job, error) {
	return s.jobs.start("cleanup", trigger, "", true, func(ctx context.Context, _ *snapshot.Counter) (any, error) {
		return s.st.Cleanup(ctx, store.CleanupOptions{DryRun: dryRun})
	})
}

type extractRequest struct {
	Version     string `json:"version"`
	WorkbenchID string `json:"workbench_id"`
	Destination string `json:"destination"`
	Force       bool   `json:"force"` // replace a workbench in use
}

// extract restores a version for work. The project, version and
// workbench id are checked before the job starts, so a bad request is a 4xx,
// and the 202 answer already says where the files go.
func (s *Server) extract(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest[extractRequest](s, w, r, true)
	if !ok {
		return
	}
	p, err := s.st.Get(r.PathValue("id"))
	if err != nil {
		writeError(w, r, err)
		return
	}
	ref := p.ID
	if req.Version != "" {
		ref += "@" + req.Version
	}
	plan, err := s.st.PlanExtract(ref, store.ExtractOptions{Dest: req.Destination, Workbench: req.WorkbenchID, Force: req.Force})
	if err != nil {
		writeError(w, r, err)
		return
	}
	if plan.Opts.Dest != "" {
		// an API client may write only below the extract roots
		if plan.Path, err = s.checkExtractDest(plan.Opts.Dest); err != nil {
			writeError(w, r, err)
			return
		}
		plan.Opts.Dest = plan.Path
	}
	ans := jobAnswer{ProjectID: p.ID, Version: plan.Info.ID, Path: plan.Path, Workbench: plan.Opts.Workbench}
	j, err := s.jobs.start("extract", "api", p.Name, false, func(ctx context.Context, prog *snapshot.Counter) (any, error) {
		return s.st.ExtractPlanned(ctx, plan, prog)
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.answerJob(w, r, j, ans)
}

// backupRequest is the body of a backup and of a backup restore: the
// projects (none: all, with the templates) and the destination.
type backupRequest struct {
	Projects    []string `json:"projects"`
	Destination string   `json:"destination"`
}

func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest[backupRequest](s, w, r, true)
	if !ok {
		return
	}
	for _, p := range req.Projects {
		if _, err := s.st.Get(p); err != nil {
			writeError(w, r, err)
			return
		}
	}
	if req.Destination == "" && s.st.Config().Backup.Destination == "" {
		writeError(w, r, badRequest("invalid", "no destination given and storage.backup.destination is not set"))
		return
	}
	if err := s.checkBackupDest(req.Destination); err != nil {
		writeError(w, r, err)
		return
	}
	j, err := s.startBackup("api", req.Projects, req.Destination)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.answerJob(w, r, j, jobAnswer{})
}

// startBackup starts a backup job (one at a time).
func (s *Server) startBackup(trigger string, projects []string, to string) (*job, error) {
	target := to
	if target == "" {
		target = s.st.Config().Backup.Destination
	}
	return s.jobs.start("backup", trigger, target, true, func(ctx context.Context, prog *snapshot.Counter) (any, error) {
		return s.st.Backup(ctx, store.BackupOptions{Projects: projects, To: to, Progress: prog})
	})
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch st := q.Get("state"); st {
	case "", StateQueued, StateRunning, StateSucceeded, StateFailed, StateCanceled:
	default:
		writeError(w, r, badRequest("invalid", "state: want queued, running, succeeded, failed or canceled"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": s.jobs.list(q.Get("kind"), q.Get("state"))})
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	j, ok := s.jobs.get(r.PathValue("id"))
	if !ok {
		writeError(w, r, &apiError{status: http.StatusNotFound, code: "not_found", msg: "no job " + r.PathValue("id")})
		return
	}
	writeJSON(w, http.StatusOK, j.status())
}

// cancelJob cancels a job and waits briefly for it to stop, so that the
// answer usually shows it canceled.
func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	j, ok := s.jobs.get(r.PathValue("id"))
	if !ok {
		writeError(w, r, &apiError{status: http.StatusNotFound, code: "not_found", msg: "no job " + r.PathValue("id")})
		return
	}
	s.jobs.cancelJob(j)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-j.done:
	case <-t.C:
	case <-r.Context().Done():
	}
	writeJSON(w, http.StatusOK, j.status())
}
