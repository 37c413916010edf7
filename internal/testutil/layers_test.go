package testutil

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// layers is the import graph the README's architecture section draws: for
// every package of silo (bench/ and tests aside), the silo packages its
// code may import. Nothing imports upward: a package appears only below
// those that may import it. cmd/silo, server and mount reach below store
// only for value types and their parsers and checks (object.ID,
// snapshot.Node, snapshot.Progress, gc.Policy, snapshot.CheckLocalName).
var layers = map[string][]string{
	"chunk":              nil,
	"crypt":              nil,
	"store/config":       nil,
	"store/detect":       {"object", "snapshot"},
	"store/storetest":    nil,
	"internal/testutil":  nil,
	"clients/python":     nil,
	"object":             {"crypt"},
	"object/errorfs":     {"object"},
	"object/backendtest": {"object"},
	"object/azuritetest": nil,
	"object/repotest":    {"index", "object"},
	"index":              {"object"},
	"keyring":            {"crypt", "object"},
	"snapshot":           {"chunk", "object"},
	"gc":                 {"index", "object"},
	"session":            {"gc", "index", "object", "snapshot"},
	"upload":             {"catalog", "chunk", "gc", "object", "session", "snapshot"},
	"catalog":            {"gc", "index", "object", "snapshot"},
	"check":              {"catalog", "index", "object", "snapshot"},
	"reindex":            {"catalog", "check", "gc", "index", "object", "snapshot"},
	"replica":            {"catalog", "check", "index", "object", "session", "snapshot"},
	"workbench":          {"catalog", "snapshot"},
	"hooks":              {"catalog", "store/config"},
	"backend":            {"catalog", "object", "store/config"},
	"store":              {"backend", "catalog", "check", "chunk", "crypt", "gc", "hooks", "index", "keyring", "object", "reindex", "replica", "session", "snapshot", "store/config", "store/detect", "upload", "workbench"},
	"client":             {"chunk", "crypt", "object", "snapshot", "store"},
	"mount":              {"object", "snapshot", "store"},
	"server":             {"client", "object", "snapshot", "store", "store/config"},
	"cmd/silo":           {"client", "gc", "mount", "server", "snapshot", "store", "store/config"},
}

// The packages import only what layers allows them, and every package is
// in the table (a new one must be placed in it, and in the README).
func TestImportLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "github.com/silo-dev/silo/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/silo-dev/silo/"
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		if strings.HasPrefix(pkg, "bench/") {
			continue // the benchmark tools may use anything
		}
		allowed, ok := layers[pkg]
		if !ok {
			t.Errorf("package %s is not in the layer table", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, silo := strings.CutPrefix(imp, mod)
			if silo && !slices.Contains(allowed, dep) {
				t.Errorf("%s imports %s, which its layer does not allow", pkg, dep)
			}
		}
	}
}
