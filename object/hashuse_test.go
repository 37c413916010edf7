package object_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestBlobIDsComeFromTheRepository keeps every blob id silo computes on
// the path that an encrypted repository keys (Repository.ID, Sealer.ID,
// client.Client.ID): a plain object.Hash of content elsewhere would give an
// encrypted repository a plain id, which names a known file and breaks
// dedup and verification. The places allowed to call it are listed.
func TestBlobIDsComeFromTheRepository(t *testing.T) {
	allowed := map[string]bool{
		"client/client.go":       true, // Client.ID: plain ids for a plain server
		"bench/loadtest/main.go": true, // an in-memory stand-in for a plain server
	}
	call := regexp.MustCompile(`\bobject\.Hash\(`)
	var bad []string
	filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && p != ".." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, ".."+string(filepath.Separator)))
		if strings.HasPrefix(rel, "object/") || allowed[rel] {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if call.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				bad = append(bad, rel+":"+strconv.Itoa(i+1)+": "+strings.TrimSpace(line))
			}
		}
		return nil
	})
	if len(bad) > 0 {
		t.Errorf("object.Hash of content outside the repository's ID (an encrypted repository keys its ids):\n%s", strings.Join(bad, "\n"))
	}
}
