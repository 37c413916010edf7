package server

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-dev/silo/client"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/store"
)

// TestUploadListDownload: a tar goes up, shows in the list, and comes back
// identical (content, modes, mtimes, symlinks, empty directories) as tar
// and as tar.gz; a second upload of the same name is a new version.
func TestUploadListDownload(t *testing.T) {
	s := newTestServer(t)
	entries := sampleTree(t, 1)
	up := s.upload("demo", makeTar(t, entries...), "&type=migration&tags=a,b&git_repository=https://example.com/x.git")
	if !up.Created || up.ProjectID == "" || up.Version == "" || up.Name != "demo" {
		t.Fatalf("upload answer: %+v", up)
	}

	var list projectList
	s.must(200, "GET", "/api/storage/projects?name=demo", nil).json(t, &list)
	if len(list.Projects) != 1 || list.Projects[0].ID != up.ProjectID {
		t.Fatalf("list: %+v", list)
	}
	p := list.Projects[0]
	if p.Type != "migration" || strings.Join(p.Tags, ",") != "a,b" || p.GitRepository != "https://example.com/x.git" ||
		p.SizeBytes <= 3<<20 || p.Status != "active" || !containsStr(p.Languages, "go") {
		t.Fatalf("metadata: %+v", p)
	}

	for _, format := range []string{"tar", "tar.gz"} {
		r := s.must(200, "GET", "/api/storage/projects/"+up.ProjectID+"/archive?format="+format, nil)
		var body io.Reader = bytes.NewReader(r.body)
		if format == "tar.gz" {
			if ct := r.header.Get("Content-Type"); ct != "application/gzip" {
				t.Errorf("tar.gz Content-Type %q", ct)
			}
			zr, err := gzip.NewReader(body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		}
		got := readTar(t, body)
		for _, e := range entries {
			m, ok := got[e.name]
			if !ok {
				t.Fatalf("%s: %s missing from the download (have %v)", format, e.name, sortedKeys(got))
			}
			if m.typ != e.typ || m.mode != e.mode || m.body != string(e.body) || m.target != e.target || !m.mtime.Equal(e.mtime) {
				t.Errorf("%s: %s came back as %+v", format, e.name, m)
			}
		}
	}

	// by name too, and a second version
	entries[1] = file("src/main.go", []byte("package main\n\nfunc main() { println(2) }\n"))
	up2 := s.upload("demo", makeTar(t, entries...), "&tags=c")
	if up2.Created || up2.ProjectID != up.ProjectID || up2.Parent == nil || up2.Parent.String() != up.Version {
		t.Fatalf("second upload: %+v", up2)
	}
	var proj store.Project
	s.must(200, "GET", "/api/storage/projects/demo", nil).json(t, &proj)
	if len(proj.Versions) != 2 || proj.Versions[0].ID != up2.Version || strings.Join(proj.Tags, ",") != "a,b,c" {
		t.Fatalf("project after two uploads: %+v", proj)
	}
	var vl struct {
		Versions []client.Version `json:"versions"`
	}
	s.must(200, "GET", "/api/storage/projects/demo/versions", nil).json(t, &vl)
	if len(vl.Versions) != 2 || vl.Versions[1].ID != up.Version || len(vl.Versions[0].Tree) != 64 || vl.Versions[0].Files != 4 {
		t.Fatalf("versions: %+v", vl)
	}
	// the older version by prefix
	r := s.must(200, "GET", "/api/storage/projects/demo/archive?format=tar&version="+up.Version[:10], nil)
	if got := readTar(t, bytes.NewReader(r.body)); got["src/main.go"].body != "package main\n\nfunc main() {}\n" {
		t.Errorf("old version's file: %q", got["src/main.go"].body)
	}
	// gzip upload
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(makeTar(t, file("README.md", []byte("# hi\n"))))
	zw.Close()
	rz := s.must(201, "POST", "/api/storage/projects?name=zipped", &gz, "Content-Type", "application/gzip")
	var za uploadAnswer
	rz.json(t, &za)
	r = s.must(200, "GET", "/api/storage/projects/zipped/files/README.md", nil)
	if string(r.body) != "# hi\n" {
		t.Errorf("file of the gzip upload: %q", r.body)
	}
}

func containsStr(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// TestFileRange: one file with Range, conditional requests, and errors.
func TestFileRange(t *testing.T) {
	s := newTestServer(t)
	big := testutil.RandomBytes(7, 5<<20+777)
	up := s.upload("ranged", makeTar(t, dir("d"), file("d/big.bin", big), file("small.txt", []byte("hello"))), "")
	base := "/api/storage/projects/ranged/files/"

	r := s.must(200, "GET", base+"d/big.bin", nil)
	if !bytes.Equal(r.body, big) {
		t.Fatalf("whole file: %d bytes, want %d", len(r.body), len(big))
	}
	etag := r.header.Get("ETag")
	if etag == "" || r.header.Get("Accept-Ranges") != "bytes" || r.header.Get("Last-Modified") == "" {
		t.Fatalf("headers: %v", r.header)
	}
	// ranges that cross chunk boundaries, the tail, and several at once
	for _, rg := range []struct {
		spec       string
		start, end int
	}{{"bytes=0-99", 0, 100}, {"bytes=1048000-3000000", 1048000, 3000001}, {"bytes=-1000", len(big) - 1000, len(big)},
		{fmt.Sprintf("bytes=%d-", len(big)-5), len(big) - 5, len(big)}} {
		r := s.must(206, "GET", base+"d/big.bin", nil, "Range", rg.spec)
		if !bytes.Equal(r.body, big[rg.start:rg.end]) {
			t.Errorf("%s: wrong bytes (%d)", rg.spec, len(r.body))
		}
	}
	r = s.must(206, "GET", base+"d/big.bin", nil, "Range", "bytes=0-9,2000000-2000009")
	if !strings.HasPrefix(r.header.Get("Content-Type"), "multipart/byteranges") || !bytes.Contains(r.body, big[2000000:2000010]) {
		t.Errorf("multi-range answer: %s", r.header.Get("Content-Type"))
	}
	s.must(416, "GET", base+"d/big.bin", nil, "Range", fmt.Sprintf("bytes=%d-", len(big)+10))
	s.must(304, "GET", base+"d/big.bin", nil, "If-None-Match", etag)
	s.must(200, "GET", base+"small.txt?version="+up.Version[:8], nil)
	if r := s.do("HEAD", base+"d/big.bin", nil); r.status != 200 || r.header.Get("Content-Length") != fmt.Sprint(len(big)) {
		t.Errorf("HEAD: %d %v", r.status, r.header)
	}
	// errors
	if code := s.must(404, "GET", base+"nope.txt", nil).errCode(t); code != "not_found" {
		t.Errorf("missing file: code %s", code)
	}
	s.must(400, "GET", base+"d", nil) // a directory
	s.must(404, "GET", "/api/storage/projects/nope/files/x", nil)
	s.must(400, "GET", base+"small.txt?version=zzzz", nil) // not hex
	other := "0000"
	if strings.HasPrefix(up.Version, other) {
		other = "ffff"
	}
	if r := s.do("GET", base+"small.txt?version="+other, nil); r.status != 404 {
		t.Errorf("version %s of %s: %d %s", other, up.Version, r.status, r.body)
	}
	req, _ := http.NewRequest("GET", s.ts.URL+base+"..%2Fsmall.txt", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("escaped .. in the file path: %d", resp.StatusCode)
	}
}

// TestAuth: every /api route and /metrics want the token; /healthz does not.
func TestAuth(t *testing.T) {
	s := newTestServer(t)
	for _, path := range []string{"/api/storage/stats", "/api/storage/projects", "/api/storage/openapi.json",
		"/metrics", "/api/storage/no-such-route", "/api/storage/jobs/x"} {
		for _, auth := range []string{"", "Bearer wrong", "Bearer " + testToken + "x", "Basic " + testToken, "Bearer", testToken} {
			r := s.do("GET", path, nil, "Authorization", auth)
			if r.status != 401 {
				t.Errorf("GET %s with Authorization %q: %d, want 401", path, auth, r.status)
				continue
			}
			if r.errCode(t) != "unauthorized" || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("GET %s: 401 answer %s %v", path, r.body, r.header)
			}
		}
	}
	s.must(200, "GET", "/api/storage/stats", nil)
	s.must(200, "GET", "/api/storage/stats", nil, "Authorization", "bearer "+testToken)
	s.must(200, "GET", "/healthz", nil, "Authorization", "")
	s.must(401, "POST", "/api/storage/cleanup", nil, "Authorization", "")
	s.must(401, "PUT", "/api/storage/blobs/"+strings.Repeat("0", 64), strings.NewReader("x"), "Authorization", "")
	// no token configured: open (loopback use only; silo serve enforces that)
	open := newTestServer(t, func(_ *configT, o *Options) { o.Token = "" })
	open.must(200, "GET", "/api/storage/stats", nil)
	open.must(200, "GET", "/metrics", nil)
}

// TestGuideCallsWithoutBody: the orchestrator's calls exactly as the guide
// writes them (curl -X POST, no body, no Content-Type).
func TestGuideCallsWithoutBody(t *testing.T) {
	s := newTestServer(t)
	up := s.upload("guide", makeTar(t, sampleTree(t, 2)...), "")
	noCT := []string{"Content-Type", ""}

	var arch archiveAnswer
	s.must(200, "POST", "/api/storage/archive/"+up.ProjectID, nil, noCT...).json(t, &arch)
	if arch.Status != "archived" || arch.ProjectID != up.ProjectID {
		t.Fatalf("archive: %+v", arch)
	}
	var p store.Project
	s.must(200, "GET", "/api/storage/projects/"+up.ProjectID, nil).json(t, &p)
	if p.Status != "archived" {
		t.Fatalf("status after archive: %s", p.Status)
	}

	var ex jobAnswer
	s.must(202, "POST", "/api/storage/extract/"+up.ProjectID, nil, noCT...).json(t, &ex)
	if ex.JobID == "" || ex.Workbench == "" || !strings.HasSuffix(ex.Path, "/cache/"+ex.Workbench) || ex.Version != up.Version {
		t.Fatalf("extract answer: %+v", ex)
	}
	if st := s.waitJob(ex.JobID); st.State != StateSucceeded || st.Percent != 100 || st.TotalFiles != 4 || st.Files != 4 {
		t.Fatalf("extract job: %+v", st)
	}
	if b, err := readFile(ex.Path, "src/main.go"); err != nil || !strings.Contains(b, "func main") {
		t.Fatalf("extracted file: %q %v", b, err)
	}

	var bk jobAnswer
	s.must(202, "POST", "/api/storage/backup", nil, noCT...).json(t, &bk)
	st := s.waitJob(bk.JobID)
	if st.State != StateSucceeded {
		t.Fatalf("backup job: %+v", st)
	}
	res := st.Result.(map[string]any)
	if res["bytes_copied"].(float64) <= 0 || len(res["projects"].([]any)) != 1 {
		t.Fatalf("backup result: %v", res)
	}

	var cl jobAnswer
	s.must(202, "POST", "/api/storage/cleanup", nil, noCT...).json(t, &cl)
	st = s.waitJob(cl.JobID)
	if st.State != StateSucceeded {
		t.Fatalf("cleanup job: %+v", st)
	}
	cres := st.Result.(map[string]any)
	if _, ok := cres["freed_bytes"]; !ok || cres["steps"] == nil {
		t.Fatalf("cleanup result: %v", cres)
	}
	// dry run with a body, waited for
	var done JobStatus
	s.must(200, "POST", "/api/storage/cleanup?wait=true", strings.NewReader(`{"dry_run": true}`), "Content-Type", "application/json").json(t, &done)
	if done.State != StateSucceeded || done.Result.(map[string]any)["dry_run"] != true {
		t.Fatalf("dry-run cleanup: %+v", done)
	}
	// curl -d sends form-urlencoded, which a web page's form can send too:
	// a JSON body must say application/json
	s.must(415, "POST", "/api/storage/cleanup?wait=1", strings.NewReader(`{"dry_run":true}`), "Content-Type", "application/x-www-form-urlencoded")

	s.must(200, "DELETE", "/api/storage/projects/"+up.ProjectID, nil)
	s.must(200, "GET", "/api/storage/projects/"+up.ProjectID, nil).json(t, &p)
	if p.Status != "deleted" {
		t.Fatalf("status after delete: %s", p.Status)
	}
	s.must(400, "DELETE", "/api/storage/projects/"+up.ProjectID, nil) // already deleted
	var gone store.Project
	s.must(200, "DELETE", "/api/storage/projects/"+up.ProjectID+"?hard=true", nil).json(t, &gone)
	if gone.Status != "deleted" || !gone.Permanent {
		t.Fatalf("hard delete: %+v", gone)
	}
	s.must(404, "GET", "/api/storage/projects/"+up.ProjectID, nil)
	s.must(404, "POST", "/api/storage/archive/"+up.ProjectID, nil)
	s.must(404, "POST", "/api/storage/extract/"+up.ProjectID, nil)
	s.must(404, "DELETE", "/api/storage/projects/does-not-exist", nil)

	var stats store.Stats
	s.must(200, "GET", "/api/storage/stats", nil).json(t, &stats)
	if stats.TotalProjects != 0 || stats.Packs == 0 {
		t.Fatalf("stats: %+v", stats)
	}
}

// TestPagination: pages follow the cursor without gaps or repeats; filters
// combine with pages.
func TestPagination(t *testing.T) {
	s := newTestServer(t)
	tarball := makeTar(t, file("a.py", []byte("print(1)\n")))
	for i := range 23 {
		tag := "odd"
		if i%2 == 0 {
			tag = "even"
		}
		s.upload(fmt.Sprintf("p%02d", i), tarball, "&tags="+tag)
	}
	seen := map[string]bool{}
	q := url.Values{"limit": {"5"}}
	pages := 0
	for {
		var page projectList
		s.must(200, "GET", "/api/storage/projects?"+q.Encode(), nil).json(t, &page)
		pages++
		if page.Total != 23 || page.Count != len(page.Projects) {
			t.Fatalf("page: total %d count %d", page.Total, page.Count)
		}
		for _, p := range page.Projects {
			if seen[p.Name] {
				t.Fatalf("%s twice", p.Name)
			}
			seen[p.Name] = true
		}
		if page.NextCursor == "" {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	if len(seen) != 23 || pages != 5 {
		t.Fatalf("%d projects in %d pages", len(seen), pages)
	}
	var even projectList
	s.must(200, "GET", "/api/storage/projects?tag=even&language=python&limit=100", nil).json(t, &even)
	if even.Total != 12 || even.NextCursor != "" {
		t.Fatalf("filtered: %d, cursor %q", even.Total, even.NextCursor)
	}
	var big projectList
	s.must(200, "GET", "/api/storage/projects?min_size_gb=0.5", nil).json(t, &big)
	if big.Total != 0 {
		t.Fatalf("min_size_gb: %d", big.Total)
	}
	var globbed projectList
	s.must(200, "GET", "/api/storage/projects?name=p1*&status=active", nil).json(t, &globbed)
	if globbed.Total != 10 {
		t.Fatalf("name glob: %d", globbed.Total)
	}
	for _, bad := range []string{"limit=0", "limit=x", "limit=100000", "min_size_gb=-1", "min_size_gb=abc",
		"status=gone", "name=[", "cursor=%21%21"} {
		if r := s.do("GET", "/api/storage/projects?"+bad, nil); r.status != 400 {
			t.Errorf("?%s: %d", bad, r.status)
		}
	}
}

func readFile(dir, rel string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, rel))
	return string(b), err
}
