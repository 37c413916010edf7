package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store"
)

// apiError is an error with its own status and code (request-level
// problems found by the server itself).
type apiError struct {
	status  int
	code    string
	msg     string
	details any
}

func (e *apiError) Error() string { return e.msg }

func badRequest(code, msg string) error {
	return &apiError{status: http.StatusBadRequest, code: code, msg: msg}
}

var (
	errNotFoundRoute = &apiError{status: http.StatusNotFound, code: "not_found", msg: "no such route"}
	errShuttingDown  = &apiError{status: http.StatusServiceUnavailable, code: "shutting_down", msg: "the server is shutting down"}
	errUnauthorized  = &apiError{status: http.StatusUnauthorized, code: "unauthorized", msg: "missing or wrong bearer token (Authorization: Bearer TOKEN)"}
)

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// statusOf maps an error to its HTTP status and error code: the one place
// that decides.
func statusOf(err error) (int, string, any) {
	var ae *apiError
	var mbe *http.MaxBytesError
	var missing *store.MissingBlobsError
	var synErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &ae):
		return ae.status, ae.code, ae.details
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "body_too_large", map[string]int64{"limit": mbe.Limit}
	case errors.As(err, &missing):
		ids := make([]string, len(missing.IDs))
		for i, id := range missing.IDs {
			ids[i] = id.String()
		}
		return http.StatusConflict, "missing_blobs", map[string]any{"missing": ids, "count": missing.Count}
	case errors.As(err, &synErr), errors.As(err, &typeErr):
		return http.StatusBadRequest, "bad_json", nil
	case errors.Is(err, store.ErrProjectNotFound), errors.Is(err, store.ErrSnapshotNotFound),
		errors.Is(err, store.ErrBackupNotFound), errors.Is(err, snapshot.ErrNotFound),
		errors.Is(err, object.ErrBlobNotFound):
		return http.StatusNotFound, "not_found", nil
	case errors.Is(err, store.ErrDigestMismatch):
		return http.StatusBadRequest, "digest_mismatch", nil
	case errors.Is(err, snapshot.ErrUnsafePath):
		return http.StatusUnprocessableEntity, "unsafe_path", nil
	case errors.Is(err, snapshot.ErrBadTar):
		return http.StatusBadRequest, "bad_tar", nil
	case errors.Is(err, store.ErrInvalid), errors.Is(err, snapshot.ErrBadTree):
		return http.StatusBadRequest, "invalid", nil
	case errors.Is(err, store.ErrAmbiguous):
		return http.StatusBadRequest, "ambiguous", nil
	case errors.Is(err, store.ErrExists):
		return http.StatusConflict, "exists", nil
	case errors.Is(err, store.ErrQuota):
		return http.StatusRequestEntityTooLarge, "quota_exceeded", nil
	case errors.Is(err, index.ErrBusy), errors.Is(err, gc.ErrBusy):
		return http.StatusServiceUnavailable, "busy", nil
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, "conflict", nil
	case errors.Is(err, index.ErrDamaged):
		return http.StatusInternalServerError, "index_damaged", nil
	case errors.Is(err, store.ErrReadOnly), errors.Is(err, store.ErrNoRepository):
		return http.StatusServiceUnavailable, "unavailable", nil
	case errors.Is(err, store.ErrCheckFailed):
		return http.StatusInternalServerError, "check_failed", nil
	case errors.Is(err, object.ErrCorrupt), errors.Is(err, object.ErrBadPack), errors.Is(err, snapshot.ErrBadSnapshot):
		return http.StatusInternalServerError, "corrupt", nil
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "timeout", nil
	case errors.Is(err, context.Canceled):
		return 499, "canceled", nil // the client went away, or the job was canceled
	}
	return http.StatusInternalServerError, "internal", nil
}

// writeError answers with the error's status and JSON body.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, details := statusOf(err)
	if errors.Is(err, context.Canceled) && r != nil && errors.Is(context.Cause(r.Context()), errShuttingDown) {
		// canceled by shutdown rather than by the client
		status, code = http.StatusServiceUnavailable, "shutting_down"
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "5")
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="silo"`)
	}
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: err.Error(), Details: details}})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
