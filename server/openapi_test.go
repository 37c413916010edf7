package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/silo-dev/silo/client"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/store"
)

var httpMethods = []string{"get", "post", "put", "delete", "patch", "head", "options"}

// documented returns "METHOD /path" for every operation of the document.
func documented(t *testing.T) (map[string]bool, map[string]any) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.") {
		t.Fatalf("openapi version %q", v)
	}
	ops := map[string]bool{}
	for path, item := range doc["paths"].(map[string]any) {
		for k := range item.(map[string]any) {
			if slices.Contains(httpMethods, k) {
				ops[strings.ToUpper(k)+" "+path] = true
			}
		}
	}
	return ops, doc
}

// docPath turns a ServeMux pattern path into its OpenAPI form.
func docPath(p string) string { return strings.ReplaceAll(p, "...}", "}") }

// TestOpenAPICoversRoutes: every route is documented, every documented
// operation is a route, every $ref resolves, and every documented
// operation answers (not 404 or 405) when called with real ids.
func TestOpenAPICoversRoutes(t *testing.T) {
	s := newTestServer(t)
	ops, doc := documented(t)
	routes := map[string]bool{}
	for _, rt := range s.api.Routes() {
		key := rt.Method + " " + docPath(rt.Path)
		routes[key] = true
		if !ops[key] {
			t.Errorf("route %s is not in openapi.json", key)
		}
	}
	for op := range ops {
		if !routes[op] {
			t.Errorf("openapi.json documents %s, which is no route", op)
		}
	}
	// $refs resolve
	raw := string(openapiDoc)
	for _, m := range regexp.MustCompile(`"\$ref": "#/([^"]+)"`).FindAllStringSubmatch(raw, -1) {
		var cur any = doc
		for _, part := range strings.Split(m[1], "/") {
			obj, ok := cur.(map[string]any)
			if !ok || obj[part] == nil {
				t.Errorf("$ref #/%s does not resolve", m[1])
				break
			}
			cur = obj[part]
		}
	}
	// the document is served
	r := s.must(200, "GET", "/api/storage/openapi.json", nil)
	if !bytes.Equal(r.body, openapiDoc) {
		t.Error("GET /openapi.json is not the embedded document")
	}

	// real ids to call every operation with
	up := s.upload("doc", makeTar(t, dir("d"), file("d/f.txt", []byte("hello"))), "")
	s.upload("doomed", makeTar(t, file("x", []byte("x"))), "")
	var vs struct{ Versions []client.Version }
	s.must(200, "GET", "/api/storage/projects/doc/versions", nil).json(t, &vs)
	var job JobStatus
	s.must(200, "POST", "/api/storage/cleanup?wait=true", strings.NewReader(`{"dry_run":true}`), "Content-Type", "application/json").json(t, &job)
	var bj struct {
		Result store.BackupRecord `json:"result"`
	}
	s.must(200, "POST", "/api/storage/backup?wait=true", nil).json(t, &bj)
	values := map[string]string{"{path}": "d/f.txt", "{project}": "doc"}
	sorted := sortedKeys(ops)
	// deletes last, so that they do not take away what others use
	slices.SortStableFunc(sorted, func(a, b string) int {
		return boolInt(strings.HasPrefix(a, "DELETE")) - boolInt(strings.HasPrefix(b, "DELETE"))
	})
	for _, op := range sorted {
		method, path, _ := strings.Cut(op, " ")
		id := up.ProjectID
		switch {
		case strings.Contains(path, "/blobs/"):
			id = vs.Versions[0].Tree
		case strings.Contains(path, "/jobs/"):
			id = job.ID
		case strings.Contains(path, "/backups/"):
			id = bj.Result.ID
		case method == "DELETE":
			id = "doomed"
		}
		url := strings.ReplaceAll(path, "{id}", id)
		for k, v := range values {
			url = strings.ReplaceAll(url, k, v)
		}
		var body *bytes.Reader
		if method == "PUT" {
			// a blob that is there already, re-sent
			data := s.must(200, "GET", "/api/storage/blobs/"+id, nil).body
			body = bytes.NewReader(data)
		}
		var r response
		if body != nil {
			r = s.do(method, url+"?type=tree", body)
		} else {
			r = s.do(method, url, nil)
		}
		if r.status == http.StatusNotFound || r.status == http.StatusMethodNotAllowed || r.status >= 500 {
			t.Errorf("%s (%s): %d %.200s", op, url, r.status, r.body)
		}
	}
	// job routes that started jobs: let them end before the cleanup checks
	for _, j := range s.api.Jobs() {
		s.waitJob(j.ID)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestMetrics: requests by route and code, dedup hits, bytes stored, jobs.
func TestMetrics(t *testing.T) {
	s := newTestServer(t)
	s.must(200, "GET", "/api/storage/stats", nil)
	s.must(404, "GET", "/api/storage/projects/nope", nil)
	s.upload("m", makeTar(t, file("a.txt", []byte("abc"))), "")
	data := []byte("a blob")
	id := object.Hash(data)
	s.must(201, "PUT", "/api/storage/blobs/"+id.String(), bytes.NewReader(data))
	s.must(200, "PUT", "/api/storage/blobs/"+id.String(), bytes.NewReader(data))
	s.must(200, "POST", "/api/storage/blobs/missing", jsonBody(map[string]any{"ids": []object.ID{id}}))
	s.must(200, "POST", "/api/storage/cleanup?wait=true", nil)
	text := string(s.must(200, "GET", "/metrics", nil).body)
	for _, want := range []string{
		`silo_http_requests_total{code="200",route="GET /api/storage/stats"} 1`,
		`silo_http_requests_total{code="404",route="GET /api/storage/projects/{id}"} 1`,
		`silo_http_requests_total{code="201",route="POST /api/storage/projects"} 1`,
		`silo_http_request_duration_seconds_count{route="GET /api/storage/stats"} 1`,
		`silo_dedup_hits_total 2`,
		`silo_blobs_stored_total 1`,
		`silo_jobs_finished_total{kind="cleanup",state="succeeded"} 1`,
		`silo_jobs_active{kind="cleanup"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !regexp.MustCompile(`silo_bytes_stored_total [1-9]`).MatchString(text) {
		t.Error("no bytes stored counted")
	}
}

// FuzzDecodeJSON: the request decoder never panics, and anything it
// accepts re-encodes to a body it accepts again.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{``, `{}`, `{"tree":"` + strings.Repeat("ab", 32) + `","root_mode":493,"tags":["a"]}`,
		`{"ids":["` + strings.Repeat("0", 64) + `"]}`, `{"dry_run":true}`, `{`, `[]`, `{"x":1}`, `{} {}`, `null`,
		`{"tree":"zz"}`, `{"tags":[1,2]}`, `{"dry_run":true}garbage`} {
		f.Add([]byte(seed))
	}
	s := &Server{opts: Options{MaxBody: 4096}}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, v := range []func() any{
			func() any { return &client.CommitRequest{} }, func() any { return &client.MissingRequest{} },
			func() any { return &cleanupRequest{} }, func() any { return &extractRequest{} },
			func() any { return &backupRequest{} },
		} {
			dst := v()
			req := httptest.NewRequest("POST", "/", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			err := s.decodeJSON(httptest.NewRecorder(), req, dst, true, 0)
			if err != nil {
				if status, _, _ := statusOf(err); status != 400 && status != 413 {
					t.Fatalf("decode error %v maps to %d", err, status)
				}
				continue
			}
			again, err := json.Marshal(dst)
			if err != nil {
				t.Fatal(err)
			}
			req = httptest.NewRequest("POST", "/", bytes.NewReader(again))
			req.Header.Set("Content-Type", "application/json")
			if err := s.decodeJSON(httptest.NewRecorder(), req, v(), false, 0); err != nil {
				t.Fatalf("re-encoded %s rejected: %v", again, err)
			}
		}
	})
}

// Every error code the server can answer with (one per store.Kind, and
// the codes the server makes itself) is in openapi.json's Error enum.
func TestOpenAPIErrorCodes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Enum []string `json:"enum"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatal(err)
	}
	enum := doc.Components.Schemas.Error.Properties.Error.Properties.Code.Enum
	if len(enum) == 0 {
		t.Fatal("openapi.json has no error code enum")
	}
	codes := []string{store.KindInternal.Code}
	for _, k := range store.Kinds() {
		codes = append(codes, k.Code)
	}
	// the codes the server makes itself, as its source writes them
	made := regexp.MustCompile(`(?:code: |badRequest\(|http\.Status\w+, )"([a-z_]+)"`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range made.FindAllStringSubmatch(string(src), -1) {
			codes = append(codes, m[1])
		}
	}
	if len(codes) < len(store.Kinds())+10 {
		t.Fatalf("found only %d error codes in the server's source: the pattern no longer matches how it writes them", len(codes))
	}
	for _, c := range codes {
		if !slices.Contains(enum, c) {
			t.Errorf("error code %q is not in openapi.json's Error enum", c)
		}
	}
}
