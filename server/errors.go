package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

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

// statusOf maps an error to its HTTP status and error code: the server's
// own request errors here, every other by store.KindOf (the one table the
// command line's exit codes and the clients share).
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
		return store.KindMissingBlobs.Status, store.KindMissingBlobs.Code, map[string]any{"missing": ids, "count": missing.Count}
	case errors.As(err, &synErr), errors.As(err, &typeErr):
		return http.StatusBadRequest, "bad_json", nil
	}
	k := store.KindOf(err)
	return k.Status, k.Code, nil
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
