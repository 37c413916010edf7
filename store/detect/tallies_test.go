package detect

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"testing"
)

// talliesTree is a project with a bit of everything AddFile tells apart:
// plain, ambiguous and nameless files, vendored, documentation, hidden,
// generated and configuration files.
var talliesTree = []File{
	{"main.go", 4000}, {"cmd/tool/main.go", 900}, {"internal/x/x.go", 12000},
	{"include/a.h", 300}, {"src/a.c", 5000}, {"src/b.cpp", 7000}, {"src/b.hpp", 800},
	{"web/app.ts", 3000}, {"web/view.tsx", 2500}, {"web/style.css", 600},
	{"node_modules/react/index.js", 90000}, {"vendor/github.com/x/y/y.go", 50000},
	{"docs/guide.md", 4000}, {"README.md", 2000}, {".github/workflows/ci.yml", 300},
	{"gen/api.pb.go", 30000}, {"web/app.min.js", 70000}, {"config/app.yaml", 500},
	{"data/table.csv", 100000}, {"LICENSE", 1000}, {"Makefile", 700}, {"scripts/run.sh", 400},
	{"empty.py", 0}, {"testdata/fixture.go", 100}, {"assets/logo.png", 9000},
}

// counted returns the tallies and result of a Detector given files.
func counted(t *testing.T, files []File) ([]byte, []string) {
	t.Helper()
	d := New()
	for _, f := range files {
		d.AddFile(f)
	}
	b, err := d.Tallies()
	if err != nil {
		t.Fatal(err)
	}
	langs, _ := d.Result()
	return b, langs
}

// TestTalliesCarryOver counts a version from the previous version's tallies
// and the files that changed, split over several Detectors the way the
// store's goroutines split them: the tallies and languages must be those
// of counting the new version's files afresh.
func TestTalliesCarryOver(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		old := slices.Clone(talliesTree)
		prev, _ := counted(t, old)
		// the next version: some files removed, some changed, some new
		var now, removed, added []File
		for _, f := range old {
			switch rng.IntN(5) {
			case 0:
				removed = append(removed, f)
			case 1:
				removed = append(removed, f)
				g := File{f.Path, f.Size + int64(rng.IntN(5000)) - 100}
				added = append(added, g)
				now = append(now, g)
			default:
				now = append(now, f)
			}
		}
		for i := range rng.IntN(10) {
			g := File{fmt.Sprintf("new%d/%d%s", round, i, []string{".go", ".h", ".rs", ".md", ".js", ".txt"}[rng.IntN(6)]), int64(rng.IntN(9000))}
			added = append(added, g)
			now = append(now, g)
		}
		parts := []*Detector{New(), New()}
		for _, f := range removed {
			parts[rng.IntN(2)].RemoveFile(f)
		}
		for _, f := range added {
			parts[rng.IntN(2)].AddFile(f)
		}
		d := New()
		if err := d.AddTallies(prev); err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			d.Merge(p)
		}
		got, err := d.Tallies()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		gotLangs, _ := d.Result()
		want, wantLangs := counted(t, now)
		if string(got) != string(want) || !slices.Equal(gotLangs, wantLangs) {
			t.Fatalf("round %d: carried over\n%s %q\nafresh\n%s %q", round, got, gotLangs, want, wantLangs)
		}
	}
}

// TestTalliesEverythingRemoved: a tree whose every file went gives the
// result of an empty tree, not languages of zero files.
func TestTalliesEverythingRemoved(t *testing.T) {
	prev, _ := counted(t, talliesTree)
	d := New()
	if err := d.AddTallies(prev); err != nil {
		t.Fatal(err)
	}
	for _, f := range talliesTree {
		d.RemoveFile(f)
	}
	got, err := d.Tallies()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := counted(t, nil)
	langs, _ := d.Result()
	if string(got) != string(want) || len(langs) != 0 {
		t.Errorf("all removed: tallies %s (want %s), languages %q", got, want, langs)
	}
}

func TestTalliesRefused(t *testing.T) {
	good, _ := counted(t, talliesTree)
	for name, b := range map[string]string{
		"other rules":      `{"rules":"0 github.com/go-enry/go-enry/v2 v2.0.0","known":{"Go":[1,1]}}`,
		"no rules":         `{"known":{"Go":[1,1]}}`,
		"negative bytes":   `{"rules":"` + rulesVersion + `","known":{"Go":[-1,1]}}`,
		"no files":         `{"rules":"` + rulesVersion + `","known":{"Go":[5,0]}}`,
		"one candidate":    `{"rules":"` + rulesVersion + `","ambiguous":{"Go":[5,1]}}`,
		"many candidates":  `{"rules":"` + rulesVersion + `","known":{"C\u0000C++":[5,1]}}`,
		"empty name":       `{"rules":"` + rulesVersion + `","known":{"":[5,1]}}`,
		"huge":             `{"rules":"` + rulesVersion + `","known":{"Go":[5,1152921504606846977]}}`,
		"not json":         `{"rules":`,
		"trailing garbage": string(good) + "x",
	} {
		d := New()
		d.AddFile(File{"a.go", 10})
		before, _ := d.Tallies()
		if err := d.AddTallies([]byte(b)); !errors.Is(err, ErrTallies) {
			t.Errorf("%s: AddTallies = %v, want ErrTallies", name, err)
		}
		if after, _ := d.Tallies(); string(after) != string(before) {
			t.Errorf("%s: a refused AddTallies changed the counts: %s", name, after)
		}
	}
	d := New()
	d.RemoveFile(File{"a.go", 10})
	if _, err := d.Tallies(); !errors.Is(err, ErrTallies) {
		t.Errorf("Tallies with a count below zero = %v, want ErrTallies", err)
	}
}

// TestRulesVersionNamesGoEnry: tallies name the go-enry they were counted
// with; an upgrade that forgot rulesVersion would carry stale counts over.
func TestRulesVersionNamesGoEnry(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/go-enry/go-enry/v2 (\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod requires no github.com/go-enry/go-enry/v2")
	}
	if want := regexp.MustCompile(`^\d+ github\.com/go-enry/go-enry/v2 ` + regexp.QuoteMeta(string(m[1])) + `$`); !want.MatchString(rulesVersion) {
		t.Errorf("rulesVersion %q does not name go.mod's go-enry %s: update it", rulesVersion, m[1])
	}
}

// FuzzAddTallies: arbitrary bytes never panic AddTallies, and what it
// takes gives a Result and Tallies it takes again.
func FuzzAddTallies(f *testing.F) {
	d := New()
	for _, file := range talliesTree {
		d.AddFile(file)
	}
	good, _ := d.Tallies()
	f.Add(good)
	f.Add([]byte(`{"rules":"` + rulesVersion + `","ambiguous":{"C\u0000C++":[5,1]}}`))
	f.Add([]byte(`{"rules":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d := New()
		if err := d.AddTallies(b); err != nil {
			if !errors.Is(err, ErrTallies) {
				t.Fatalf("AddTallies = %v, not ErrTallies", err)
			}
			return
		}
		langs, fws := d.Result()
		if langs == nil || fws == nil {
			t.Fatal("nil result")
		}
		again, err := d.Tallies()
		if err != nil {
			t.Fatal(err)
		}
		if err := New().AddTallies(again); err != nil {
			t.Fatalf("tallies it gave are refused: %v", err)
		}
	})
}
