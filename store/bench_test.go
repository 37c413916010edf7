package store

import (
	"testing"

	"github.com/silo-dev/silo/object"
)

// BenchmarkList10k lists 10,000 catalogue records with the filters
// `silo projects list` offers. The records are written straight into
// index.db the way commit writes them (creating 10,000 projects through
// Save costs minutes of fsyncs and measures nothing List does). The target
// is under 50 ms per list.
func BenchmarkList10k(b *testing.B) {
	e := newEnv(b)
	src := e.path("src")
	smallProject(b, src, 1, 4)
	res := e.save(b, src, "real")
	info, err := e.s.ResolveSnapshot(res.Snapshot.String())
	if err != nil {
		b.Fatal(err)
	}
	tree, _ := object.ParseID(info.Tree)
	seedCatalogue(b, e.s, 9999, 1, tree)
	filters := []struct {
		name string
		f    Filter
	}{
		{"default", Filter{}},
		{"language", Filter{Language: "python"}},
		{"framework+tag", Filter{Framework: "react", Tag: "prod"}},
		{"name-glob", Filter{Name: "svc-*"}},
		{"min-size", Filter{MinSize: 1 << 30, Status: "all"}},
	}
	for _, f := range filters {
		b.Run(f.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				list, err := e.s.List(f.f)
				if err != nil {
					b.Fatal(err)
				}
				n = len(list)
			}
			b.ReportMetric(float64(n), "projects")
		})
	}
}
