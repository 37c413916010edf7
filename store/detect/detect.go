// Package detect works out which programming languages and frameworks a
// stored project uses.
//
// Languages come from file names alone (go-enry's filename and extension
// strategies), weighted by file size; no source file is read. Frameworks come
// from the content of a few dependency manifests (package.json,
// pyproject.toml, requirements*.txt, go.mod, Cargo.toml, pom.xml,
// build.gradle, Gemfile, ...), which the caller reads on demand: it asks
// WantsContent for each file and passes the content of those it wants to
// AddContent.
//
// The counts are additive: a Detector can also take away a file it counted
// (RemoveFile), and hand its counts over to another (Tallies, AddTallies),
// so that a new version of a project is counted from the previous version's
// tallies and the files that changed between the two.
package detect

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/go-enry/go-enry/v2"
)

// maxManifestSize is the largest manifest whose content is read.
const maxManifestSize = 1 << 20

// minShare is the share of the counted bytes, in percent, under which a
// language is left out of the result.
const minShare = 1

// File is one regular file of a project tree: slash-separated path relative
// to the project root, and its size.
type File struct {
	Path string
	Size int64
}

// Detector accumulates files and manifests of one project; not safe for
// concurrent use. Create one with New (the zero value works too).
type Detector struct {
	// known maps a language named unambiguously by a file's name or
	// extension to the bytes and files counted for it.
	known map[string]*tally
	// ambiguous maps a set of candidate languages (joined by "\x00") to
	// the files whose name could be any of them; they are resolved in
	// Result, once the whole project has been seen.
	ambiguous  map[string]*tally
	frameworks map[string]struct{}
	// skipDir caches, per directory, whether everything in it is left out
	// (vendored, documentation, hidden): the regular expressions behind
	// those rules are the costly part of detection.
	skipDir map[string]bool
}

type tally struct {
	bytes int64
	files int
}

// New returns an empty Detector.
func New() *Detector {
	d := &Detector{}
	d.init()
	return d
}

func (d *Detector) init() {
	if d.known == nil {
		d.known = map[string]*tally{}
		d.ambiguous = map[string]*tally{}
		d.frameworks = map[string]struct{}{}
		d.skipDir = map[string]bool{}
	}
}

// AddFile records one regular file (called for every regular file, in any
// order). Vendored, documentation, configuration, generated and hidden files
// are not counted, nor are files whose name names no language.
//
// What AddFile counts for a file is kept across versions in Tallies: a
// change to these rules must change rulesVersion.
func (d *Detector) AddFile(f File) { d.count(f, 1) }

// RemoveFile takes away what AddFile counted for f (same path, same
// size): a file of an earlier version, removed or changed since. Counts
// may go below zero on one Detector of several that are merged later.
func (d *Detector) RemoveFile(f File) { d.count(f, -1) }

// count adds the file to the counts (sign 1) or takes it away (-1).
func (d *Detector) count(f File, sign int) {
	p := cleanPath(f.Path)
	if p == "" {
		return
	}
	candidates := enry.GetLanguagesByFilename(p, nil, nil)
	if len(candidates) == 0 {
		candidates = enry.GetLanguagesByExtension(p, nil, nil)
	}
	if len(candidates) == 0 {
		return
	}
	d.init()
	if dir := path.Dir(p); dir != "." {
		skip, ok := d.skipDir[dir]
		if !ok {
			skip = hasHiddenComponent(dir) || enry.IsVendor(dir+"/") || enry.IsDocumentation(dir+"/")
			d.skipDir[dir] = skip
		}
		if skip {
			return
		}
	}
	if skipForLanguage(p) {
		return
	}
	size := max(f.Size, 0)
	switch len(candidates) {
	case 0:
		return
	case 1:
		add(d.known, candidates[0], size, sign)
	default:
		add(d.ambiguous, strings.Join(candidates, "\x00"), size, sign)
	}
}

func add(m map[string]*tally, key string, size int64, sign int) {
	t := m[key]
	if t == nil {
		t = &tally{}
		m[key] = t
	}
	t.bytes += int64(sign) * size
	t.files += sign
}

// skipForLanguage reports whether the file at the clean path p is left out
// of the language statistics.
func skipForLanguage(p string) bool {
	if hasHiddenComponent(p) {
		return true
	}
	return enry.IsVendor(p) ||
		enry.IsDocumentation(p) ||
		enry.IsConfiguration(p) ||
		enry.IsImage(p) ||
		enry.IsGenerated(p, nil)
}

// hasHiddenComponent reports whether any element of the slash-separated path
// p starts with a dot.
func hasHiddenComponent(p string) bool {
	for elem := range strings.SplitSeq(p, "/") {
		if strings.HasPrefix(elem, ".") {
			return true
		}
	}
	return false
}

// cleanPath returns p cleaned and relative ("" for the root itself).
func cleanPath(p string) string {
	p = strings.TrimLeft(path.Clean("/"+p), "/")
	return p
}

// WantsContent reports whether the file at path is a manifest whose content
// Result needs for frameworks (package.json, pyproject.toml, Pipfile, requirements*.txt,
// go.mod, Cargo.toml, pom.xml, build.gradle, build.gradle.kts,
// libs.versions.toml, Gemfile, Gemfile.lock), at any depth except inside
// vendored, hidden or test-data directories (node_modules/, vendor/, .git/,
// testdata/ ...). It is false for files over 1 MiB and for negative sizes.
func WantsContent(path string, size int64) bool {
	if size < 0 || size > maxManifestSize {
		return false
	}
	return manifestKindOf(path) != kindNone
}

// Merge adds what o counted to d (o stays as it was). Counting is
// additive, so files split among several Detectors (one per goroutine)
// and merged give what one Detector given them all would.
func (d *Detector) Merge(o *Detector) {
	d.init()
	for _, m := range []struct{ dst, src map[string]*tally }{{d.known, o.known}, {d.ambiguous, o.ambiguous}} {
		for k, t := range m.src {
			a := m.dst[k]
			if a == nil {
				a = &tally{}
				m.dst[k] = a
			}
			a.bytes += t.bytes
			a.files += t.files
		}
	}
	for f := range o.frameworks {
		d.frameworks[f] = struct{}{}
	}
}

// AddContent gives the content of a file for which WantsContent was true.
// Content of any other file, and content over 1 MiB, is ignored. A manifest
// that cannot be parsed contributes nothing.
func (d *Detector) AddContent(path string, content []byte) {
	if len(content) > maxManifestSize {
		return
	}
	for _, fw := range frameworksIn(manifestKindOf(path), content) {
		d.init()
		d.frameworks[fw] = struct{}{}
	}
}

// Result returns languages ordered by bytes (largest first, then by name;
// linguist's names in lower case, as the storage guide writes them:
// "python", "typescript", "go")
// and frameworks sorted by name (lower-case: react, next, vue, angular,
// svelte, express, nestjs, fastapi, django, flask, gin, echo, fiber, chi,
// axum, actix-web, spring-boot, rails). Only languages of enry type
// Programming or Markup are reported, rolled up into their linguist group
// (TSX is reported as TypeScript), and those with under 1% of the counted
// bytes are dropped. Both slices are non-nil.
func (d *Detector) Result() (languages, frameworks []string) {
	totals := map[string]*tally{}
	merge := func(lang string, t *tally) {
		if t.files <= 0 {
			return // every file counted was taken away again
		}
		switch enry.GetLanguageType(lang) {
		case enry.Programming, enry.Markup:
		default:
			return
		}
		if g := enry.GetLanguageGroup(lang); g != "" {
			lang = g
		}
		sum := totals[lang]
		if sum == nil {
			sum = &tally{}
			totals[lang] = sum
		}
		sum.bytes += t.bytes
		sum.files += t.files
	}
	for lang, t := range d.known {
		merge(lang, t)
	}
	for key, t := range d.ambiguous {
		merge(d.resolve(strings.Split(key, "\x00")), t)
	}

	var total int64
	for _, t := range totals {
		total += t.bytes
	}
	languages = []string{}
	for lang, t := range totals {
		// With no bytes at all (only empty files) every language is kept.
		if total > 0 && t.bytes*100 < total*minShare {
			continue
		}
		languages = append(languages, lang)
	}
	sort.Slice(languages, func(i, j int) bool {
		a, b := totals[languages[i]], totals[languages[j]]
		if a.bytes != b.bytes {
			return a.bytes > b.bytes
		}
		if a.files != b.files {
			return a.files > b.files
		}
		return languages[i] < languages[j]
	})

	// the storage guide's spelling: "python", "typescript", "c#"
	for i, l := range languages {
		languages[i] = strings.ToLower(l)
	}

	frameworks = make([]string, 0, len(d.frameworks))
	for fw := range d.frameworks {
		frameworks = append(frameworks, fw)
	}
	sort.Strings(frameworks)
	return languages, frameworks
}

// resolve picks one of several candidate languages for a file name that
// could be any of them: the candidate with the most unambiguous bytes in the
// project (a .h file in a project of .cpp files is C++); without such
// evidence, the first of a fixed list of common languages (.h alone is C,
// .rs is Rust, .md is Markdown, .sql is SQL), else the first candidate of
// type Programming or Markup (.tsx is TSX, not XML), else enry's first.
func (d *Detector) resolve(candidates []string) string {
	best, bestBytes := "", int64(0)
	for _, c := range candidates {
		if t := d.known[c]; t != nil && t.bytes > bestBytes {
			best, bestBytes = c, t.bytes
		}
	}
	if best != "" {
		return best
	}
	best, bestRank := candidates[0], rank(candidates[0])
	for _, c := range candidates[1:] {
		if r := rank(c); r < bestRank {
			best, bestRank = c, r
		}
	}
	return best
}

// rank orders candidate languages for resolve: lower is preferred.
func rank(lang string) int {
	if r, ok := preferenceRank[lang]; ok {
		return r
	}
	switch enry.GetLanguageType(lang) {
	case enry.Programming, enry.Markup:
		return len(preferred)
	}
	return len(preferred) + 1
}

// preferred orders languages, most common first, for resolving ambiguous
// extensions without any other evidence.
var preferred = []string{
	"JavaScript", "TypeScript", "TSX", "Python", "Java", "C#", "C", "C++",
	"PHP", "Go", "Ruby", "Rust", "Kotlin", "Swift", "Objective-C",
	"Objective-C++", "Shell", "HTML", "CSS", "Markdown", "SQL", "Perl",
	"Scala", "Dart", "Lua", "R", "MATLAB", "F#", "Elixir", "Erlang",
	"Verilog", "D", "TeX", "Fortran", "Assembly", "Pascal", "GLSL",
	"Common Lisp", "OCaml", "Scheme", "Prolog", "Makefile",
}

var preferenceRank = func() map[string]int {
	m := make(map[string]int, len(preferred))
	for i, l := range preferred {
		m[l] = i
	}
	return m
}()

// rulesVersion names the rules behind the counts: go-enry's version (its
// path, extension and vendoring tables) and a number for this package's own
// rules (AddFile's skips), raised whenever they change. Tallies kept by a
// version of silo with other rules are not reused.
const rulesVersion = "1 github.com/go-enry/go-enry/v2 v2.9.6"

// talliesJSON is the encoding of Tallies: per language (known) or set of
// candidate languages joined by "\x00" (ambiguous), [bytes, files].
type talliesJSON struct {
	Rules     string              `json:"rules"`
	Known     map[string][2]int64 `json:"known,omitempty"`
	Ambiguous map[string][2]int64 `json:"ambiguous,omitempty"`
}

// Tallies returns the file counts (not the frameworks) encoded, for
// AddTallies to take up again: kept with a version, they let the next
// version be counted from the files that changed. It fails with
// ErrTallies when a count is below zero (more taken away than added).
func (d *Detector) Tallies() ([]byte, error) {
	if err := d.check(); err != nil {
		return nil, err
	}
	enc := talliesJSON{Rules: rulesVersion, Known: map[string][2]int64{}, Ambiguous: map[string][2]int64{}}
	for _, m := range []struct {
		src map[string]*tally
		dst map[string][2]int64
	}{{d.known, enc.Known}, {d.ambiguous, enc.Ambiguous}} {
		for k, t := range m.src {
			if t.files > 0 {
				m.dst[k] = [2]int64{t.bytes, int64(t.files)}
			}
		}
	}
	return json.Marshal(enc)
}

// check reports whether every count is one some set of files gives.
func (d *Detector) check() error {
	for _, m := range []map[string]*tally{d.known, d.ambiguous} {
		for k, t := range m {
			if t.files < 0 || t.bytes < 0 || (t.files == 0 && t.bytes != 0) {
				return fmt.Errorf("%w: %q counts %d files of %d bytes", ErrTallies, k, t.files, t.bytes)
			}
		}
	}
	return nil
}

// maxTalliesSize bounds the encoded tallies AddTallies accepts: there are
// some 800 languages, and fewer sets of candidates.
const maxTalliesSize = 1 << 20

// AddTallies adds counts that Tallies returned, as if the files behind them
// had been given to AddFile. It fails with ErrTallies, changing nothing,
// on tallies kept under other rules (another go-enry or another version of
// this package) and on damaged ones.
func (d *Detector) AddTallies(b []byte) error {
	if len(b) > maxTalliesSize {
		return fmt.Errorf("%w: %d bytes", ErrTallies, len(b))
	}
	var enc talliesJSON
	if err := json.Unmarshal(b, &enc); err != nil {
		return fmt.Errorf("%w: %v", ErrTallies, err)
	}
	if enc.Rules != rulesVersion {
		return fmt.Errorf("%w: kept under rules %q, these are %q", ErrTallies, enc.Rules, rulesVersion)
	}
	const maxBytes = 1 << 60 // far more than any tree, and no overflow when summed
	for _, m := range []map[string][2]int64{enc.Known, enc.Ambiguous} {
		for k, v := range m {
			if k == "" || v[0] < 0 || v[0] > maxBytes || v[1] <= 0 || v[1] > maxBytes {
				return fmt.Errorf("%w: %q counts %d files of %d bytes", ErrTallies, k, v[1], v[0])
			}
		}
	}
	for k := range enc.Ambiguous {
		if !strings.Contains(k, "\x00") {
			return fmt.Errorf("%w: ambiguous %q has one candidate", ErrTallies, k)
		}
	}
	for k := range enc.Known {
		if strings.Contains(k, "\x00") {
			return fmt.Errorf("%w: known %q has several candidates", ErrTallies, k)
		}
	}
	d.init()
	for _, m := range []struct {
		src map[string][2]int64
		dst map[string]*tally
	}{{enc.Known, d.known}, {enc.Ambiguous, d.ambiguous}} {
		for k, v := range m.src {
			t := m.dst[k]
			if t == nil {
				t = &tally{}
				m.dst[k] = t
			}
			t.bytes += v[0]
			t.files += int(v[1])
		}
	}
	return nil
}
