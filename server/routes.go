package server

import (
	"net/http"
	"slices"
	"strings"
)

// routeTable lists every route; the OpenAPI document must describe each
// (TestOpenAPICoversRoutes).
func (s *Server) routeTable() []Route {
	const api = "/api/storage"
	return []Route{
		{"GET", "/healthz", "liveness", false, s.healthz},
		{"GET", "/metrics", "Prometheus metrics", true, s.metricsHandler},
		{"GET", api + "/openapi.json", "this API's OpenAPI 3 document", true, s.openapi},

		{"GET", api + "/stats", "repository statistics (the storage guide's numbers and more)", true, s.stats},
		{"GET", api + "/projects", "list projects, filtered and paginated", true, s.listProjects},
		{"POST", api + "/projects", "store a tar or tar.gz body as a new project or a new version", true, s.uploadTar},
		{"GET", api + "/projects/{id}", "a project's metadata and versions", true, s.getProject},
		{"DELETE", api + "/projects/{id}", "soft-delete a project (hard=true: remove it)", true, s.deleteProject},
		{"GET", api + "/projects/{id}/versions", "a project's versions with their trees", true, s.listVersions},
		{"POST", api + "/projects/{id}/versions", "commit a tree of uploaded blobs as a new version", true, s.commitVersion},
		{"GET", api + "/projects/{id}/archive", "download a version as tar or tar.gz", true, s.downloadArchive},
		{"GET", api + "/projects/{id}/files/{path...}", "download one file of a version (Range supported)", true, s.downloadFile},
		{"POST", api + "/archive/{id}", "archive a project (export=true: also write a .tar.gz, as a job)", true, s.archiveProject},
		{"POST", api + "/cleanup", "archive old projects, purge deleted ones, expire backups, clean the cache, gc (a job)", true, s.cleanup},
		{"POST", api + "/extract/{id}", "extract a version into cache/<workbench-id>/ or a destination (a job)", true, s.extract},
		{"POST", api + "/backup", "back up projects to the configured or given destination (a job)", true, s.backup},
		{"POST", api + "/archive", "archive every active project not updated for older_than_days (a job)", true, s.archiveOlder},
		{"POST", api + "/cache/clean", "remove extracted copies under cache/", true, s.cleanCache},
		{"POST", api + "/import", "import a tar or tar.gz object from s3:// (a job)", true, s.importProject},
		{"GET", api + "/backups", "list the backups at a destination", true, s.listBackups},
		{"POST", api + "/backups/expire", "remove backups past retention and collect the destination (a job)", true, s.expireBackups},
		{"GET", api + "/backups/{id}/projects/{project}/archive", "download a project's newest backed-up version as tar", true, s.backupArchive},
		{"POST", api + "/backups/{id}/restore", "restore projects of a backup into this repository (a job)", true, s.restoreBackup},

		{"GET", api + "/repository", "chunking parameters a remote client needs", true, s.repository},
		{"GET", api + "/repository/blob-keys", "an encrypted repository's chunker polynomial and blob id key", true, s.blobKeys},
		{"POST", api + "/blobs/missing", "which of these blob ids the repository lacks", true, s.missingBlobs},
		{"PUT", api + "/blobs/{id}", "upload one blob (hashed and checked against its id)", true, s.putBlob},
		{"GET", api + "/blobs/{id}", "download one blob's plain bytes", true, s.getBlob},

		{"GET", api + "/jobs", "list jobs", true, s.listJobs},
		{"GET", api + "/jobs/{id}", "a job's state and progress", true, s.getJob},
		{"DELETE", api + "/jobs/{id}", "cancel a job", true, s.cancelJob},
	}
}

// notFound answers paths under /api that no route takes: 405 with Allow
// when the path exists for other methods, 404 otherwise.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		s.unauthorized(w)
		return
	}
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pat := s.mux.Handler(probe); pat != "" && pat != "/api/" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		if slices.Contains(allow, "GET") {
			allow = append(allow, "HEAD")
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed",
			msg: r.Method + " is not allowed here; allowed: " + strings.Join(allow, ", ")})
		return
	}
	writeError(w, r, errNotFoundRoute)
}
