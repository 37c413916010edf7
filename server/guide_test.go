package server

import (
	"bytes"
	"strings"
	"testing"

	"github.com/silo-dev/silo/store"
)

// TestGuideOperations: the routes the guide's Python examples need beyond
// the basic ones: archive by age, cache cleaning, backup listing (with
// backup_id), a project's tar from a backup, expiry, a restore back into
// the repository, and the import route refusing a server path.
func TestGuideOperations(t *testing.T) {
	s := newTestServer(t)
	entries := sampleTree(t, 3)
	up := s.upload("erp", makeTar(t, entries...), "")
	s.upload("other", makeTar(t, file("a.txt", []byte("other"))), "")

	// nothing is 90 days old; everything is older than 0 days is refused
	var job JobStatus
	s.must(200, "POST", "/api/storage/archive?wait=true", jsonBody(map[string]any{"older_than_days": 90})).json(t, &job)
	if res := job.Result.(map[string]any); res["count"].(float64) != 0 {
		t.Errorf("archive older than 90 days: %+v", res)
	}
	s.must(400, "POST", "/api/storage/archive", jsonBody(map[string]any{"older_than_days": -1}))

	// an extract leaves a cache copy; cache/clean removes it
	s.must(200, "POST", "/api/storage/extract/erp?wait=true", nil)
	var cc store.CleanCacheResult
	s.must(200, "POST", "/api/storage/cache/clean", nil).json(t, &cc)
	if cc.Removed != 1 || cc.FreedBytes == 0 {
		t.Errorf("cache clean: %+v", cc)
	}

	var b1, b2 struct {
		Result store.BackupRecord `json:"result"`
	}
	s.must(200, "POST", "/api/storage/backup?wait=true", jsonBody(map[string]any{"projects": []string{"erp"}})).json(t, &b1)
	s.must(200, "POST", "/api/storage/backup?wait=true", nil).json(t, &b2)
	var list struct {
		Backups []struct {
			ID       string `json:"id"`
			BackupID string `json:"backup_id"`
		} `json:"backups"`
	}
	s.must(200, "GET", "/api/storage/backups", nil).json(t, &list)
	if len(list.Backups) != 2 || list.Backups[0].BackupID != b1.Result.ID || list.Backups[1].ID != b2.Result.ID {
		t.Fatalf("backups: %+v", list)
	}
	s.must(403, "GET", "/api/storage/backups?destination=/elsewhere", nil)

	// the project's newest version from the first backup, as tar
	got := readTar(t, bytes.NewReader(s.must(200, "GET", "/api/storage/backups/"+b1.Result.ID+"/projects/"+up.ProjectID+"/archive", nil).body))
	want := readTar(t, bytes.NewReader(makeTar(t, entries...)))
	for name, w := range want {
		if g, ok := got[name]; !ok || g.body != w.body || g.typ != w.typ || g.target != w.target {
			t.Errorf("%s from the backup: %+v, want %+v", name, g, w)
		}
	}
	s.must(404, "GET", "/api/storage/backups/"+b1.Result.ID+"/projects/other/archive", nil) // not in b1

	// expiry with retention 0 keeps b2 (newest, and it holds both projects)
	s.must(200, "POST", "/api/storage/backups/expire?wait=true", jsonBody(map[string]any{"retention_days": 0})).json(t, &job)
	exp := job.Result.(map[string]any)
	if e := exp["expired"].([]any); len(e) != 1 || e[0] != b1.Result.ID {
		t.Errorf("expire: %+v", exp)
	}

	// a hard-deleted project comes back from the backup
	s.must(200, "DELETE", "/api/storage/projects/erp?hard=true", nil)
	s.must(404, "GET", "/api/storage/projects/erp", nil)
	s.must(200, "POST", "/api/storage/backups/latest/restore?wait=true", jsonBody(map[string]any{"projects": []string{"erp"}}))
	var p store.Project
	s.must(200, "GET", "/api/storage/projects/"+up.ProjectID, nil).json(t, &p)
	if p.Name != "erp" || len(p.Versions) != 1 {
		t.Errorf("after restore: %+v", p)
	}
	tarball := s.must(200, "GET", "/api/storage/projects/erp/archive?format=tar", nil).body
	if g := readTar(t, bytes.NewReader(tarball)); g["data/big.bin"].body != want["data/big.bin"].body {
		t.Error("the restored project differs")
	}

	r := s.must(400, "POST", "/api/storage/import", jsonBody(map[string]any{"source": "/etc", "name": "x"}))
	if !strings.Contains(string(r.body), "s3://") {
		t.Errorf("import of a server path: %s", r.body)
	}
}
