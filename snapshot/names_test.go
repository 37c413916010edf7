package snapshot_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// The name rules of names.go are pure: these tests run on every platform,
// Linux included, though Restore applies them on Windows (and, for case
// collisions, macOS) only.

func TestCheckWindowsName(t *testing.T) {
	refused := []string{
		// device names, in any case, with or without an extension
		"CON", "con", "Con", "PRN", "AUX", "NUL", "nul", "nul.txt", "NUL.tar.gz", "aux.c", "con.",
		"COM1", "com9", "COM0", "LPT1", "lpt9", "LPT0", "COM1.log", "lpt3.txt", "COM¹", "lpt²", "COM³.x",
		"CONIN$", "conout$", "CONOUT$.txt",
		// spaces before the extension are dropped: still the device
		"NUL .txt", "aux  .h", "CON ",
		// trailing dots and spaces
		"dot.", "dots..", "space ", "both. ", " . ",
		// reserved characters
		"a<b", "a>b", "a:b", "C:pwned", "f:stream", `a"b`, "a/b", `a\b`, `..\..\outside\pwned`, "a|b", "what?", "*.go",
		// control characters
		"tab\there", "new\nline", "\x01", "bell\a", "\x1f",
		// not UTF-8
		"a\xffb", "\xc3",
	}
	for _, name := range refused {
		err := snapshot.CheckWindowsName(name)
		if !errors.Is(err, snapshot.ErrUnsafePath) {
			t.Errorf("CheckWindowsName(%q) = %v, want ErrUnsafePath", name, err)
			continue
		}
		if !strings.Contains(err.Error(), strconv.Quote(name)) {
			t.Errorf("CheckWindowsName(%q) = %q, does not name it", name, err)
		}
	}
	allowed := []string{
		"a", "README", "readme.md", ".gitignore", ".env.local", "..a", "a..b", " leading-space", "CONSOLE", "con-fig",
		"NULL", "auxiliary.c", "COM10", "LPT10", "COM", "LPT", "COMA", "com1x", "prn1", "x.nul", "nul_", "CONIN", "CONOUT",
		"a b", "a#b", "a%b", "a'b", "a;b", "a=b", "a[b]", "a{b}", "a~b", "a$b", "a&b", "a@b", "a,b", "a+b",
		"\x7f", "日本語.txt", "émoji-😀", "ﬁle", strings.Repeat("x", 255),
		// CheckName's to refuse
		"", ".", "..",
	}
	for _, name := range allowed {
		if err := snapshot.CheckWindowsName(name); err != nil {
			t.Errorf("CheckWindowsName(%q) = %v, want nil", name, err)
		}
	}
}

func TestCaseCollision(t *testing.T) {
	cases := []struct {
		names []string
		a, b  string // "" = no collision
	}{
		{nil, "", ""},
		{[]string{"README"}, "", ""},
		{[]string{"README", "readme"}, "README", "readme"},
		{[]string{"Makefile", "a", "b", "makefile"}, "Makefile", "makefile"},
		{[]string{"a", "b", "c", "A.txt", "a.TXT"}, "A.txt", "a.TXT"},
		{[]string{"x", "X", "y", "Y"}, "x", "X"}, // the first pair
		{[]string{"readme", "readme.md", "read me", "read_me"}, "", ""},
		{[]string{"a", "b", "ab", "ba", "aa"}, "", ""},
		// beyond ASCII: simple case folding
		{[]string{"Σίσυφος", "ΣΊΣΥΦΟΣ"}, "Σίσυφος", "ΣΊΣΥΦΟΣ"},
		{[]string{"σ", "ς"}, "σ", "ς"},                 // one folding orbit: Σ σ ς
		{[]string{"ÉTÉ", "été"}, "ÉTÉ", "été"},         // precomposed both
		{[]string{"Straße", "STRASSE"}, "", ""},        // ß -> ss is full folding, not simple
		{[]string{"ß", "ẞ"}, "ß", "ẞ"},                 // U+1E9E folds to ß
		{[]string{"\u212a", "k"}, "\u212a", "k"},       // Kelvin sign
		{[]string{"ſ", "S"}, "ſ", "S"},                 // long s
		{[]string{"e\u0301", "\u00e9"}, "", ""},        // normalization is not folding
		{[]string{"ǅ", "ǆ", "Ǆ"}, "ǅ", "ǆ"},            // title case
		{[]string{"日本", "日本語"}, "", ""},                // no case at all
		{[]string{"a\xff", "A\xff"}, "a\xff", "A\xff"}, // invalid bytes kept, the rest folded
		{[]string{"a\xff", "a\xfe"}, "", ""},           // invalid bytes compare as they are
		{[]string{"a\xff", "a\uFFFD"}, "", ""},         // and are not U+FFFD
		{[]string{"İ", "i"}, "", ""},                   // dotted capital I has no simple folding to i
		{[]string{"readme", "README", "ReadMe"}, "readme", "README"},
	}
	for _, tc := range cases {
		a, b, ok := snapshot.CaseCollision(tc.names)
		if want := tc.a != ""; ok != want || a != tc.a || b != tc.b {
			t.Errorf("CaseCollision(%q) = %q, %q, %v; want %q, %q, %v", tc.names, a, b, ok, tc.a, tc.b, want)
		}
		// the rule is strings.EqualFold's, for UTF-8 names
		valid := true
		for _, n := range tc.names {
			valid = valid && strings.ToValidUTF8(n, "") == n
		}
		if !valid {
			continue
		}
		var ea, eb string
		for i := 0; i < len(tc.names) && ea == ""; i++ {
			for j := 0; j < i; j++ {
				if strings.EqualFold(tc.names[i], tc.names[j]) {
					ea, eb = tc.names[j], tc.names[i]
					break
				}
			}
		}
		if ea != tc.a || eb != tc.b {
			t.Errorf("%q: strings.EqualFold finds %q, %q; the table says %q, %q", tc.names, ea, eb, tc.a, tc.b)
		}
	}
}

// FuzzCaseCollision: CaseCollision finds a pair of UTF-8 names exactly when
// strings.EqualFold calls them equal.
func FuzzCaseCollision(f *testing.F) {
	f.Add("README", "readme")
	f.Add("σ", "Σ")
	f.Add("\u212a", "K")
	f.Add("a", "b")
	f.Fuzz(func(t *testing.T, a, b string) {
		if a == b {
			return
		}
		_, _, ok := snapshot.CaseCollision([]string{a, b})
		if strings.ToValidUTF8(a, "") == a && strings.ToValidUTF8(b, "") == b && ok != strings.EqualFold(a, b) {
			t.Fatalf("CaseCollision(%q, %q) = %v, strings.EqualFold = %v", a, b, ok, !ok)
		}
	})
}

// TestRestoreRefusesCaseCollisions: a directory holding two names that
// differ only in case is refused before any of its entries is created,
// with an error naming both and the directory, where the restore refuses
// them (RefuseCaseCollisions; on macOS and Windows always). On Linux a
// restore left to its default writes both.
func TestRestoreRefusesCaseCollisions(t *testing.T) {
	r := newTestRepo(t)
	ctx := context.Background()
	one, two := []byte("one\n"), []byte("two\n")
	oneID, twoID := r.saveRaw(t, object.DataBlob, one), r.saveRaw(t, object.DataBlob, two)
	file := func(name string, id object.ID) rawEntry {
		return rawEntry{name: name, typ: snapshot.File, content: []object.ID{id}, size: 4}
	}
	dir := func(name string, sub object.ID) rawEntry {
		return rawEntry{name: name, typ: snapshot.Dir, mode: 0o755, subtree: sub}
	}
	sub := r.saveRaw(t, object.TreeBlob, rawTree(file("Makefile", oneID), file("makefile", twoID)))
	payload := r.saveRaw(t, object.TreeBlob, rawTree(file("pwned", oneID)))
	cases := []struct {
		name  string
		tree  object.ID
		where string // the refused directory, relative to dest
		a, b  string
	}{
		{"files at the top", r.saveRaw(t, object.TreeBlob, rawTree(file("README", oneID), file("readme", twoID))), "", "README", "readme"},
		{"files one level down", r.saveRaw(t, object.TreeBlob, rawTree(file("a.txt", oneID), dir("sub", sub))), "sub", "Makefile", "makefile"},
		// merged, the directory would be entered through the link
		{"a symlink and a directory", r.saveRaw(t, object.TreeBlob, rawTree(
			rawEntry{name: "Out", typ: snapshot.Symlink, mode: 0o777, target: "../../outside/dir"}, dir("out", payload))), "", "Out", "out"},
		{"a file and a directory", r.saveRaw(t, object.TreeBlob, rawTree(file("DOCS", oneID), dir("docs", payload))), "", "DOCS", "docs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, refuse := range []bool{true, false} {
				box := newEscapeBox(t)
				box.snapshotOutside(t)
				_, err := snapshot.Restore(ctx, r.repo, tc.tree, box.dest, snapshot.RestoreOptions{RefuseCaseCollisions: refuse})
				box.assertOutsideUnchanged(t)
				if !refuse && !caseFoldingByDefault {
					if err != nil {
						t.Fatalf("restore with case-sensitive names: %v", err)
					}
					for _, n := range []string{tc.a, tc.b} {
						if _, err := os.Lstat(filepath.Join(box.dest, tc.where, n)); err != nil {
							t.Errorf("%s not restored: %v", n, err)
						}
					}
					continue
				}
				where := filepath.Join(box.dest, tc.where)
				if !errors.Is(err, snapshot.ErrUnsafePath) || !strings.Contains(err.Error(), strconv.Quote(tc.a)) ||
					!strings.Contains(err.Error(), strconv.Quote(tc.b)) || !strings.Contains(err.Error(), where+" ") {
					t.Fatalf("RefuseCaseCollisions %v: restore = %v, want ErrUnsafePath naming %s, %q and %q", refuse, err, where, tc.a, tc.b)
				}
				// nothing of the refused directory was created
				if tc.where == "" {
					if got := listAll(t, box.dest); len(got) != 1 {
						t.Errorf("dest holds %q", got)
					}
				} else if _, err := os.Lstat(where); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the refused directory %s was created (%v)", where, err)
				}
			}
		})
	}

	// one of the two, asked for by name, restores
	box := newEscapeBox(t)
	_, err := snapshot.Restore(ctx, r.repo, cases[1].tree, box.dest, snapshot.RestoreOptions{RefuseCaseCollisions: true, Include: []string{"sub/makefile"}})
	if err != nil {
		t.Fatalf("restore of one of the colliding names: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(box.dest, "sub", "makefile")); err != nil || string(b) != string(two) {
		t.Errorf("sub/makefile holds %q, %v", b, err)
	}
}
