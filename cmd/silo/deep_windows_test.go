package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkDeep reads back the file f a restore of ref wrote under depth-1
// directories "a" in dest, by its long path.
func checkDeep(t *testing.T, dest, ref string, depth int) {
	t.Helper()
	p := filepath.Join(dest, strings.Repeat(`a\`, depth-1)+"f")
	st, err := os.Lstat(p)
	if err != nil || st.Size() != 4 || st.ModTime().Unix() != 1700000000 {
		t.Fatalf("%s: the deepest file: %v, %v", ref, st, err)
	}
}

// deepRestoreLimit says why a restore depth levels deep cannot be tried
// here ("" when it can): a Windows path holds at most 32,767 characters.
func deepRestoreLimit(depth int) string {
	if 2*depth > 32000 {
		return "a Windows path holds at most 32,767 characters"
	}
	return ""
}
