package testutil

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// Golden compares got with the golden file at path (rewriting it first
// when update is set, as a test's -update flag asks) and returns the
// golden bytes. A difference fails the test, saying where the encoding
// changed and what to do if the change is deliberate.
func Golden(t testing.TB, path string, got []byte, update bool) []byte {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run go test -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Errorf("%s: the encoding changed: %d bytes, golden %d, first difference at byte %d.\n"+
			"Repositories written before hold the golden form: if the change is deliberate, keep the old file\n"+
			"as a decode-only fixture and rewrite with -update.", path, len(got), len(want), i)
	}
	return want
}
