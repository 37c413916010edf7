package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/silo-dev/silo/object"
)

// readRequest decodes the JSON body of r into a new T (decodeJSON, with
// the server's body size limit) and checks it when *T has a check
// method. A request it refuses is answered with the error, and ok is
// false.
func readRequest[T any](s *Server, w http.ResponseWriter, r *http.Request, optional bool) (req T, ok bool) {
	err := s.decodeJSON(w, r, &req, optional, 0)
	if c, isChecker := any(&req).(interface{ check() error }); isChecker && err == nil {
		err = c.check()
	}
	if err != nil {
		writeError(w, r, err)
		return req, false
	}
	return req, true
}

// decodeJSON decodes a JSON request body into v: at most limit bytes
// (Options.MaxBody when 0), no unknown fields, nothing after the value. A
// body must come as Content-Type application/json: the types a web page's
// form can send without asking (application/x-www-form-urlencoded,
// text/plain, multipart/form-data) are refused with 415, so a page cannot
// drive the API with a form. With optional, a request with no body (curl
// -X POST with no data, any or no Content-Type) leaves v alone.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool, limit int64) error {
	if limit <= 0 {
		limit = s.opts.MaxBody
	}
	if r.ContentLength != 0 {
		ct := r.Header.Get("Content-Type")
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
				msg: fmt.Sprintf("Content-Type %q: send a JSON body as application/json (curl: -H 'Content-Type: application/json')", ct)}
		}
	}
	if r.ContentLength > limit {
		return &http.MaxBytesError{Limit: limit}
	}
	body := s.idleBody(w, http.MaxBytesReader(w, r.Body, limit))
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if errors.Is(err, io.EOF) {
		if optional {
			return nil
		}
		return badRequest("bad_json", "a JSON body is required")
	}
	if err != nil {
		var mbe *http.MaxBytesError
		var ae *apiError
		if errors.As(err, &mbe) || errors.As(err, &ae) {
			return err
		}
		return badRequest("bad_json", "JSON body: "+strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		var ae *apiError
		if errors.As(err, &mbe) || errors.As(err, &ae) {
			return err
		}
		return badRequest("bad_json", "JSON body: data after the value")
	}
	return nil
}

// queryBool parses an optional boolean query parameter.
func queryBool(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("invalid", fmt.Sprintf("query parameter %s=%q: want true or false", name, v))
	}
	return b, nil
}

// pathID parses a blob id from the path.
func pathID(r *http.Request, name string) (object.ID, error) {
	id, err := object.ParseID(strings.ToLower(r.PathValue(name)))
	if err != nil {
		return id, badRequest("invalid", fmt.Sprintf("%s: want 64 hex digits (a BLAKE3-256 id)", name))
	}
	return id, nil
}

// splitList splits a comma-separated query value, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// bodyReader counts a request body's bytes and remembers a read failure
// (a cut connection, a body over its limit), so that the handler can tell
// the client's fault from the store's.
type bodyReader struct {
	r     io.Reader
	n     atomic.Int64
	err   error
	onAdd func(int64)
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.n.Add(int64(n))
		if b.onAdd != nil {
			b.onAdd(int64(n))
		}
	}
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// failure returns the body's read error as the answer to give, or nil.
func (b *bodyReader) failure() error {
	if b.err == nil {
		return nil
	}
	var mbe *http.MaxBytesError
	var ae *apiError
	if errors.As(b.err, &mbe) || errors.As(b.err, &ae) {
		return b.err // over its limit, or stalled (body_timeout)
	}
	return &apiError{status: http.StatusBadRequest, code: "truncated_body",
		msg: fmt.Sprintf("request body after %d bytes: %v; nothing was recorded", b.n.Load(), b.err)}
}
