package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/silo-dev/silo/object"
)

// TestE2ERestoreContinueOnError: a version with one damaged file among
// many. Without --continue-on-error restore stops with exit 3; with it
// every other file restores byte-identical, the damaged one is absent
// (not left partly written) and listed on stderr or in the JSON summary,
// and the exit code is still 3.
func TestE2ERestoreContinueOnError(t *testing.T) {
	repo := filepath.Join(t.TempDir(), "repo")
	work := filepath.Join(t.TempDir(), "work")
	genCorpus(t, work, 4, 8)
	storeVersion(t, repo, "demo", work)
	want := takeManifest(t, work)

	// damage the blob of one small source file (a single chunk)
	byHash := map[object.ID]string{}
	filepath.WalkDir(filepath.Join(work, "src"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(work, p)
			byHash[object.Hash(b)] = filepath.ToSlash(rel)
		}
		return nil
	})
	var rel string
	for p, blobs := range packsWithTables(t, repo) {
		for _, b := range blobs {
			if r, ok := byHash[b.ID]; ok && rel == "" {
				rel = r
				flipAt(t, filepath.Join(repo, filepath.FromSlash(object.PackName(p))), int64(b.Offset)+int64(b.Length)/2)
			}
		}
	}
	if rel == "" {
		t.Fatal("no single-chunk source file found in the packs")
	}
	delete(want, filepath.FromSlash(rel))
	if len(want) < 50 {
		t.Fatalf("corpus of %d entries; the test wants many", len(want))
	}

	dest := filepath.Join(t.TempDir(), "stop")
	if res := run(t, repo, "restore", "demo", dest); res.code != 3 || !strings.Contains(res.stderr, rel) {
		t.Errorf("restore of a damaged version without --continue-on-error: %s", res)
	}

	dest = filepath.Join(t.TempDir(), "continue")
	res := run(t, repo, "restore", "--continue-on-error", "demo", dest)
	if res.code != 3 {
		t.Fatalf("restore --continue-on-error of a damaged version: %s, want exit 3", res)
	}
	if !strings.Contains(res.stderr, "not restored: "+rel+": ") || !strings.Contains(res.stderr, "1 entries not restored") {
		t.Errorf("stderr does not list %s as not restored:\n%s", rel, res.stderr)
	}
	if _, err := os.Lstat(filepath.Join(dest, filepath.FromSlash(rel))); !os.IsNotExist(err) {
		t.Errorf("the damaged file is in the destination (%v), want it left out", err)
	}
	if d := want.Diff(takeManifest(t, dest)); len(d) > 0 {
		t.Errorf("restore --continue-on-error differs:\n  %s", strings.Join(d, "\n  "))
	}

	dest = filepath.Join(t.TempDir(), "json")
	res = run(t, repo, "--json", "restore", "--continue-on-error", "demo", dest)
	if res.code != 3 {
		t.Fatalf("--json restore --continue-on-error: %s, want exit 3", res)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	var sum struct {
		Result struct {
			Stats struct {
				Files   int64 `json:"files"`
				Skipped []struct {
					Path   string `json:"path"`
					Reason string `json:"reason"`
				} `json:"skipped"`
			} `json:"stats"`
		} `json:"result"`
	}
	// the summary, which lists what was skipped, is the last document
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("summary %q: %v", lines[len(lines)-1], err)
	}
	sk := sum.Result.Stats.Skipped
	if len(sk) != 1 || sk[0].Path != rel || !strings.Contains(sk[0].Reason, "corrupt") {
		t.Errorf("JSON lists skipped %+v, want %s (corrupt)", sk, rel)
	}
	if d := want.Diff(takeManifest(t, dest)); len(d) > 0 {
		t.Errorf("--json restore --continue-on-error differs:\n  %s", strings.Join(d, "\n  "))
	}

	if res := run(t, repo, "restore", "--continue-on-error", "--remote", "http://127.0.0.1:1", "demo", dest); res.code != 2 {
		t.Errorf("--continue-on-error with --remote: %s, want a usage error", res)
	}
}
