package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/silo-dev/silo/client"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/snapshot"
	"github.com/silo-dev/silo/store/config"
)

// TestJobCancel: a running background job reports progress, DELETE cancels
// it, and the job shows canceled with the error.
func TestJobCancel(t *testing.T) {
	s := newTestServer(t)
	started := make(chan struct{})
	j, err := s.api.jobs.start("extract", "api", "x", false, func(ctx context.Context, prog *snapshot.Counter) (any, error) {
		prog.AddTotal(10, 1000)
		prog.AddDone(4, 250)
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	var st JobStatus
	s.must(200, "GET", "/api/storage/jobs/"+j.id, nil).json(t, &st)
	if st.State != StateRunning || st.Files != 4 || st.TotalFiles != 10 || st.Bytes != 250 || st.TotalBytes != 1000 || st.Percent != 25 {
		t.Fatalf("running job: %+v", st)
	}
	var list struct{ Jobs []JobStatus }
	s.must(200, "GET", "/api/storage/jobs?state=running", nil).json(t, &list)
	if len(list.Jobs) != 1 || list.Jobs[0].ID != j.id {
		t.Fatalf("running jobs: %+v", list)
	}
	s.must(200, "DELETE", "/api/storage/jobs/"+j.id, nil).json(t, &st)
	if st.State != StateCanceled || st.Error == nil || st.Error.Code != "canceled" || st.Finished == nil {
		t.Fatalf("canceled job: %+v", st)
	}
	s.must(404, "GET", "/api/storage/jobs/nope", nil)
	s.must(404, "DELETE", "/api/storage/jobs/nope", nil)
	s.must(400, "GET", "/api/storage/jobs?state=weird", nil)
}

// TestJobsExclusiveAndQueued: a second cleanup while one runs is refused
// with 409 naming the running one; jobs past the running limit wait queued.
func TestJobsExclusiveAndQueued(t *testing.T) {
	s := newTestServer(t)
	release := make(chan struct{})
	block := func(ctx context.Context, _ *snapshot.Counter) (any, error) {
		select {
		case <-release:
			return "ok", nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	first, err := s.api.jobs.start("cleanup", "api", "", true, block)
	if err != nil {
		t.Fatal(err)
	}
	r := s.must(409, "POST", "/api/storage/cleanup", nil)
	if r.errCode(t) != "job_running" || !strings.Contains(string(r.body), first.id) {
		t.Fatalf("second cleanup: %s", r.body)
	}
	var more []*job
	for range maxRunningJobs {
		j, err := s.api.jobs.start("extract", "api", "", false, block)
		if err != nil {
			t.Fatal(err)
		}
		more = append(more, j)
	}
	waitCount(t, "jobs queued", 1, func() (queued int) {
		for _, j := range append(more, first) {
			if j.status().State == StateQueued {
				queued++
			}
		}
		return queued
	})
	close(release)
	for _, j := range append(more, first) {
		if st := s.waitJob(j.id); st.State != StateSucceeded || st.Result != "ok" {
			t.Fatalf("job %s: %+v", j.id, st)
		}
	}
}

// TestUploadJob: a large upload is a job while its body streams in: it can
// be polled (bytes done of the Content-Length) and canceled from another
// connection, and a canceled upload records nothing.
func TestUploadJob(t *testing.T) {
	s := newTestServer(t, func(_ *config.Config, o *Options) { o.UploadJobThreshold = 1000 })
	tarball := makeTar(t, sampleTree(t, 3)...)
	half := len(tarball) / 2

	for _, cancel := range []bool{false, true} {
		name := fmt.Sprintf("streamed-%v", cancel)
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("POST", s.ts.URL+"/api/storage/projects?name="+name+"&job_id=up-"+name, pr)
		req.ContentLength = int64(len(tarball))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/x-tar")
		type result struct {
			status int
			body   string
			err    error
		}
		done := make(chan result, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- result{err: err}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			done <- result{status: resp.StatusCode, body: string(b)}
		}()
		if _, err := pw.Write(tarball[:half]); err != nil {
			t.Fatal(err)
		}
		// the job shows while the body is half sent
		var st JobStatus
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := s.do("GET", "/api/storage/jobs/up-"+name, nil)
			if r.status == 200 {
				r.json(t, &st)
				if st.Bytes >= int64(half)/2 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("upload job never showed progress: %d %s", r.status, r.body)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if st.Kind != "upload" || st.State != StateRunning || st.TotalBytes != int64(len(tarball)) || st.Percent <= 0 || st.Percent >= 100 {
			t.Fatalf("upload job: %+v", st)
		}
		if cancel {
			s.must(200, "DELETE", "/api/storage/jobs/up-"+name, nil).json(t, &st)
			pw.CloseWithError(io.ErrClosedPipe)
			res := <-done
			if res.err == nil && res.status < 400 {
				t.Fatalf("canceled upload answered %d %s", res.status, res.body)
			}
			if st = s.waitJob("up-" + name); st.State != StateCanceled {
				t.Fatalf("canceled upload job: %+v", st)
			}
			s.must(404, "GET", "/api/storage/projects/"+name, nil)
			continue
		}
		pw.Write(tarball[half:])
		pw.Close()
		res := <-done
		if res.err != nil || res.status != 201 || !strings.Contains(res.body, `"job_id":"up-`+name) {
			t.Fatalf("upload: %+v", res)
		}
		if st = s.waitJob("up-" + name); st.State != StateSucceeded || st.Percent != 100 || st.Files != 4 {
			t.Fatalf("finished upload job: %+v", st)
		}
	}
	// job ids are checked and unique
	s.must(409, "POST", "/api/storage/projects?name=again&job_id=up-streamed-false", strings.NewReader(string(tarball)))
	s.must(400, "POST", "/api/storage/projects?name=again&job_id=bad/id!", strings.NewReader(string(tarball)))
}

// TestTruncatedUpload: a connection cut mid-body gets nothing recorded, for
// a new project and for a new version of an existing one.
func TestTruncatedUpload(t *testing.T) {
	s := newTestServer(t, func(_ *config.Config, o *Options) { o.UploadJobThreshold = 1000 })
	tarball := makeTar(t, sampleTree(t, 4)...)
	first := s.upload("existing", makeTar(t, file("a.txt", []byte("a"))), "")
	before := s.must(200, "GET", "/api/storage/projects/existing", nil).body

	for i, name := range []string{"fresh", "existing"} {
		conn, err := net.Dial("tcp", s.ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "POST /api/storage/projects?name=%s&job_id=cut-%d HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n", name, i, testToken, len(tarball))
		conn.Write(tarball[:len(tarball)*2/3])
		// wait until the server has read part of the body, then cut
		deadline := time.Now().Add(10 * time.Second)
		for {
			var st JobStatus
			if r := s.do("GET", fmt.Sprintf("/api/storage/jobs/cut-%d", i), nil); r.status == 200 {
				r.json(t, &st)
				if st.Bytes > 0 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("the server never read the body")
			}
			time.Sleep(10 * time.Millisecond)
		}
		conn.Close()
		st := s.waitJob(fmt.Sprintf("cut-%d", i))
		if st.State != StateFailed && st.State != StateCanceled {
			t.Fatalf("cut upload job: %+v", st)
		}
		if st.Error == nil || (st.Error.Code != "truncated_body" && st.Error.Code != "canceled") {
			t.Fatalf("cut upload error: %+v", st.Error)
		}
	}
	s.must(404, "GET", "/api/storage/projects/fresh", nil)
	after := s.must(200, "GET", "/api/storage/projects/existing", nil).body
	if string(after) != string(before) {
		t.Fatalf("a cut upload changed the project:\n%s\n%s", before, after)
	}
	_ = first
	// a short body by Content-Length over a live connection: the server
	// sees EOF early
	conn, err := net.Dial("tcp", s.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	small := makeTar(t, file("x.txt", []byte("x")))
	fmt.Fprintf(conn, "POST /api/storage/projects?name=short HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/x-tar\r\nContent-Length: %d\r\n\r\n", testToken, len(small)+100)
	conn.Write(small[:len(small)-600])
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "truncated_body") {
		t.Fatalf("short body: %d %s", resp.StatusCode, body)
	}
	s.must(404, "GET", "/api/storage/projects/short", nil)
}

// TestShutdown cancels running jobs and waits for them.
func TestShutdown(t *testing.T) {
	s := newTestServer(t)
	started := make(chan struct{})
	j, err := s.api.jobs.start("backup", "schedule", "", true, func(ctx context.Context, _ *snapshot.Counter) (any, error) {
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // cleaning up
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.api.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if st := j.status(); st.State != StateCanceled {
		t.Fatalf("job after shutdown: %+v", st)
	}
	r := s.do("GET", "/api/storage/stats", nil)
	if r.status != 503 || r.errCode(t) != "shutting_down" {
		t.Fatalf("request after shutdown: %d %s", r.status, r.body)
	}
}

// TestSchedule maps the configuration to cron specs and runs tasks as jobs.
func TestSchedule(t *testing.T) {
	cfg := config.Default()
	if tasks, err := Schedule(cfg); err != nil || len(tasks) != 0 {
		t.Fatalf("defaults schedule %v %v", tasks, err)
	}
	cfg.CleanupEnabled, cfg.Backup.Enabled = true, true
	for freq, want := range map[string]string{"hourly": "0 * * * *", "daily": "0 1 * * *", "weekly": "0 1 * * 0", "monthly": "0 1 1 * *", "*/5 * * * *": "*/5 * * * *"} {
		cfg.Backup.Frequency = freq
		tasks, err := Schedule(cfg)
		if err != nil || len(tasks) != 2 || tasks[0] != (ScheduledTask{"cleanup", "0 3 * * *"}) || tasks[1] != (ScheduledTask{"backup", want}) {
			t.Fatalf("%s: %v %v", freq, tasks, err)
		}
	}
	cfg.Backup.Frequency = "61 * * * *"
	if _, err := Schedule(cfg); err == nil {
		t.Fatal("a bad cron expression was accepted")
	}

	s := newTestServer(t)
	s.upload("sched", makeTar(t, file("a.txt", []byte("a"))), "")
	sc, err := s.api.StartScheduler([]ScheduledTask{{"cleanup", "0 3 * * *"}, {"backup", "0 1 * * *"}})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Stop(context.Background())
	for _, kind := range []string{"backup", "cleanup"} {
		id, err := sc.Run(kind)
		if err != nil {
			t.Fatal(err)
		}
		if st := s.waitJob(id); st.State != StateSucceeded || st.Trigger != "schedule" || st.Kind != kind {
			t.Fatalf("scheduled %s: %+v", kind, st)
		}
	}
	if _, err := sc.Run("nonsense"); err == nil {
		t.Fatal("unknown task ran")
	}
}

// TestBadInput: malformed bodies and parameters get clear 4xx answers and
// change nothing.
func TestBadInput(t *testing.T) {
	s := newTestServer(t, func(c *config.Config, o *Options) {
		o.MaxBody = 256
		o.MaxUpload = 8 << 20
		c.MaxProjectSize = 2 << 20
	})
	up := s.upload("victim", makeTar(t, file("a.txt", []byte("a"))), "")
	before := s.must(200, "GET", "/api/storage/projects/victim", nil).body
	hostile := map[string][]entry{
		"dotdot":        {file("../evil.txt", []byte("x"))},
		"nested-dotdot": {dir("a"), file("a/../../evil.txt", []byte("x"))},
		"absolute":      {file("/etc/evil", []byte("x"))},
		"via-symlink":   {symlink("link", "/tmp"), file("link/evil.txt", []byte("x"))},
		"via-file":      {file("f", []byte("x")), file("f/evil.txt", []byte("x"))},
	}
	for name, entries := range hostile {
		for _, project := range []string{"victim", "new-" + name} {
			r := s.do("POST", "/api/storage/projects?name="+project, strings.NewReader(string(makeTar(t, entries...))), "Content-Type", "application/x-tar")
			if r.status != 422 && r.status != 400 {
				t.Errorf("%s into %s: %d %s", name, project, r.status, r.body)
			}
		}
		s.must(404, "GET", "/api/storage/projects/new-"+name, nil)
	}
	cases := []struct {
		method, path, ctype, body string
		status                    int
		code                      string
	}{
		{"POST", "/api/storage/projects?name=junk", "application/x-tar", "this is not a tar archive at all, not even close, " + strings.Repeat("x", 600), 400, "bad_tar"},
		{"POST", "/api/storage/projects?name=badgz", "application/gzip", "\x1f\x8b\x08\x00garbage", 400, "bad_tar"},
		{"POST", "/api/storage/projects", "application/x-tar", "", 400, "invalid"},
		{"POST", "/api/storage/projects?name=..", "application/x-tar", string(makeTar(t, file("a", nil))), 400, "invalid"},
		{"POST", "/api/storage/projects?name=ok&type=weird", "application/x-tar", string(makeTar(t, file("a", nil))), 400, "invalid"},
		{"POST", "/api/storage/projects?name=json", "application/json", "{}", 415, "unsupported_media_type"},
		{"POST", "/api/storage/projects?name=toobig", "application/x-tar", string(makeTar(t, file("big", testutil.RandomBytes(5, 3<<20)))), 413, "quota_exceeded"},
		{"POST", "/api/storage/cleanup", "application/json", "{", 400, "bad_json"},
		{"POST", "/api/storage/cleanup", "application/json", `{"dry_run": "yes"}`, 400, "bad_json"},
		{"POST", "/api/storage/cleanup", "application/json", `{"dryrun": true}`, 400, "bad_json"},
		{"POST", "/api/storage/cleanup", "application/json", `{} {}`, 400, "bad_json"},
		{"POST", "/api/storage/cleanup", "application/json", `[]`, 400, "bad_json"},
		{"POST", "/api/storage/cleanup", "text/csv", `{}`, 415, "unsupported_media_type"},
		{"POST", "/api/storage/cleanup", "application/json", `{"dry_run": true, "pad": "` + strings.Repeat("x", 300) + `"}`, 413, "body_too_large"},
		{"POST", "/api/storage/cleanup?wait=maybe", "", "", 400, "invalid"},
		{"POST", "/api/storage/extract/victim", "application/json", `{"version": "ffff"}`, 404, "not_found"},
		{"POST", "/api/storage/extract/victim", "application/json", `{"workbench_id": "../x"}`, 400, "invalid"},
		{"POST", "/api/storage/extract/victim", "application/json", `{"destination": "rel/path"}`, 400, "invalid"},
		{"POST", "/api/storage/extract/victim", "application/json", `{"destination": "/tmp/x", "workbench_id": "w"}`, 400, "invalid"},
		{"POST", "/api/storage/backup", "application/json", `{"projects": ["nope"]}`, 404, "not_found"},
		{"POST", "/api/storage/archive/victim", "application/json", `{"export": 1}`, 400, "bad_json"},
		{"DELETE", "/api/storage/projects/victim?hard=maybe", "", "", 400, "invalid"},
		{"GET", "/api/storage/projects/victim/archive?format=zip", "", "", 400, "invalid"},
		{"GET", "/api/storage/projects/victim/archive?version=nothex", "", "", 400, "invalid"},
		{"GET", "/api/storage/projects/victim/archive?version=abcdef00", "", "", 404, "not_found"},
		{"GET", "/api/storage/projects/does-not-exist", "", "", 404, "not_found"},
		{"GET", "/api/storage/nothing/here", "", "", 404, "not_found"},
		{"PATCH", "/api/storage/projects/victim", "", "", 405, "method_not_allowed"},
		{"POST", "/api/storage/stats", "", "", 405, "method_not_allowed"},
	}
	for _, c := range cases {
		var body io.Reader
		if c.body != "" {
			body = strings.NewReader(c.body)
		}
		r := s.do(c.method, c.path, body, "Content-Type", c.ctype)
		if r.status != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, r.status, c.status, r.body)
			continue
		}
		if code := r.errCode(t); code != c.code {
			t.Errorf("%s %s: code %s, want %s", c.method, c.path, code, c.code)
		}
	}
	// an upload body over MaxUpload
	big := makeTar(t, file("big", testutil.RandomBytes(9, 9<<20)))
	if r := s.do("POST", "/api/storage/projects?name=huge", strings.NewReader(string(big)), "Content-Type", "application/x-tar"); r.status != 413 {
		t.Errorf("upload over MaxUpload: %d %s", r.status, r.body)
	}
	after := s.must(200, "GET", "/api/storage/projects/victim", nil).body
	if string(after) != string(before) {
		t.Fatalf("bad input changed the project:\n%s\n%s", before, after)
	}
	var list projectList
	s.must(200, "GET", "/api/storage/projects?status=all", nil).json(t, &list)
	if list.Total != 1 || list.Projects[0].ID != up.ProjectID {
		t.Fatalf("bad input created projects: %+v", list)
	}
	var vs struct{ Versions []client.Version }
	s.must(200, "GET", "/api/storage/projects/victim/versions", nil).json(t, &vs)
	if len(vs.Versions) != 1 {
		t.Fatalf("versions after bad input: %d", len(vs.Versions))
	}
}

// waitCount waits up to 5 seconds for count to return want, polling
// every 10 ms; the test fails naming what it counted otherwise.
func waitCount(t *testing.T, what string, want int, count func() int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := count()
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s, want %d", n, what, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
