package detect

import "testing"

// manifestKindPaths mixes manifests, near misses and paths that only
// cleaning makes sense of.
var manifestKindPaths = func() []string {
	var out []string
	bases := []string{"package.json", "go.mod", "requirements.txt", "requirements-dev.txt", "base.txt",
		"Gemfile.lock", "build.gradle.kts", "main.go", "package.json5", "x.txt.bak", "", ".", ".."}
	dirs := []string{"", "a/", "node_modules/", "requirements/", ".git/", "a/../", "./", "a//", "/",
		"requirements/x/../", "vendor/../web/", "../", "a/b/../../"}
	tails := []string{"", "/", "/.", "/./", "/..", "/../go.mod", "//", "/x/..", "/x/./../"}
	for _, d := range dirs {
		for _, b := range bases {
			for _, tl := range tails {
				out = append(out, d+b+tl)
			}
		}
	}
	return out
}()

// TestManifestKindShortcut: mayBeManifest changes no answer.
func TestManifestKindShortcut(t *testing.T) {
	for _, p := range manifestKindPaths {
		if got, want := manifestKindOf(p), classifyManifest(p); got != want {
			t.Errorf("manifestKindOf(%q) = %v, want %v", p, got, want)
		}
	}
}

func FuzzManifestKindShortcut(f *testing.F) {
	for _, p := range manifestKindPaths {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := manifestKindOf(p), classifyManifest(p); got != want {
			t.Errorf("manifestKindOf(%q) = %v, want %v", p, got, want)
		}
	})
}
