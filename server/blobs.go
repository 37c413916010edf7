package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/silo-dev/silo/client"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store"
)

// maxMissingIDs bounds the ids of one POST /blobs/missing.
const maxMissingIDs = 100000

func (s *Server) repository(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, client.RepositoryInfo(s.st.RepositoryInfo()))
}

// blobKeys gives what a blob protocol client of an encrypted repository
// needs to compute its ids (store.BlobKeys).
func (s *Server) blobKeys(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, client.BlobKeys(s.st.BlobKeys()))
}

func (s *Server) missingBlobs(w http.ResponseWriter, r *http.Request) {
	var req client.MissingRequest
	// 64 hex digits, quotes and a comma per id
	if err := s.decodeJSON(w, r, &req, false, maxMissingIDs*70+1024); err != nil {
		writeError(w, r, err)
		return
	}
	if len(req.IDs) > maxMissingIDs {
		writeError(w, r, badRequest("invalid", fmt.Sprintf("%d ids: send at most %d per request", len(req.IDs), maxMissingIDs)))
		return
	}
	missing, err := s.uploads.Missing(r.Context(), req.IDs)
	if err != nil {
		writeError(w, r, err)
		return
	}
	present := len(req.IDs) - len(missing)
	s.metrics.dedupHits.Add(float64(present))
	writeJSON(w, http.StatusOK, client.MissingAnswer{Missing: missing, Present: present})
}

// putBlob stores one blob: 201 when new, 200 when the repository had it.
// The body is hashed as it is read; a mismatch stores nothing (400).
func (s *Server) putBlob(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	t := object.DataBlob
	limit := int64(store.MaxDataBlob)
	switch v := r.URL.Query().Get("type"); v {
	case "", "data":
	case "tree":
		t, limit = object.TreeBlob, store.MaxTreeBlob
	default:
		writeError(w, r, badRequest("invalid", fmt.Sprintf("type=%q: want data or tree", v)))
		return
	}
	if r.ContentLength > limit {
		writeError(w, r, &http.MaxBytesError{Limit: limit})
		return
	}
	release := s.slots.acquire(w, r)
	if release == nil {
		return
	}
	defer release()
	br := &bodyReader{r: s.idleBody(w, http.MaxBytesReader(w, r.Body, limit))}
	res, err := s.uploads.Put(r.Context(), t, id, br)
	s.metrics.bytesUp.Add(float64(br.n.Load()))
	if err != nil {
		if f := br.failure(); f != nil {
			err = f
		}
		writeError(w, r, err)
		return
	}
	status := http.StatusCreated
	if res.Exists {
		status = http.StatusOK
		s.metrics.dedupHits.Inc()
	} else {
		s.metrics.blobsStored.Inc()
		s.metrics.bytesStored.Add(float64(res.Stored))
	}
	writeJSON(w, status, client.PutAnswer(*res))
}

// getBlob serves a blob's verified plain bytes; content-addressed, so
// cacheable forever.
func (s *Server) getBlob(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	etag := `"` + id.String() + `"`
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.Contains(inm, etag) {
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	data, err := s.uploads.Blob(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=31536000, immutable")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}
