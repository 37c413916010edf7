package detect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// manifestKind says how a manifest is parsed.
type manifestKind int

const (
	kindNone manifestKind = iota
	kindPackageJSON
	kindPyproject
	kindPipfile
	kindRequirements
	kindGoMod
	kindCargo
	kindPom
	kindGradle        // build.gradle, build.gradle.kts
	kindGradleCatalog // gradle/libs.versions.toml
	kindGemfile
	kindGemfileLock
)

// skippedDirs are directories whose manifests are not the project's own:
// installed or vendored dependencies and test fixtures. Hidden directories
// (.git, .venv, ...) are skipped too.
var skippedDirs = map[string]bool{
	"node_modules":     true,
	"bower_components": true,
	"jspm_packages":    true,
	"vendor":           true,
	"third_party":      true,
	"site-packages":    true,
	"__pycache__":      true,
	"testdata":         true,
}

// manifestKindOf returns the kind of manifest at path p, or kindNone.
func manifestKindOf(p string) manifestKind {
	if !mayBeManifest(p) {
		return kindNone
	}
	return classifyManifest(p)
}

// classifyManifest is manifestKindOf without the mayBeManifest shortcut:
// it cleans and splits every path.
func classifyManifest(p string) manifestKind {
	p = cleanPath(p)
	if p == "" {
		return kindNone
	}
	elems := strings.Split(p, "/")
	dirs, base := elems[:len(elems)-1], elems[len(elems)-1]
	for _, dir := range dirs {
		if skippedDirs[dir] || strings.HasPrefix(dir, ".") {
			return kindNone
		}
	}
	if k, ok := manifestBases[base]; ok {
		return k
	}
	if strings.HasSuffix(base, ".txt") &&
		(strings.HasPrefix(base, "requirements") ||
			(len(dirs) > 0 && dirs[len(dirs)-1] == "requirements")) {
		return kindRequirements
	}
	return kindNone
}

// manifestBases are the file names of manifests (requirements files aside).
var manifestBases = map[string]manifestKind{
	"package.json":       kindPackageJSON,
	"pyproject.toml":     kindPyproject,
	"Pipfile":            kindPipfile,
	"go.mod":             kindGoMod,
	"Cargo.toml":         kindCargo,
	"pom.xml":            kindPom,
	"build.gradle":       kindGradle,
	"build.gradle.kts":   kindGradle,
	"libs.versions.toml": kindGradleCatalog,
	"Gemfile":            kindGemfile,
	"Gemfile.lock":       kindGemfileLock,
}

// mayBeManifest is false for most paths that manifestKindOf gives kindNone,
// without cleaning and splitting the path (it is asked for every file a
// store meets): it looks at the element the cleaned path ends in, the last
// one other than "" and ".", and says true whenever a ".." could make
// another element the last.
func mayBeManifest(p string) bool {
	for p != "" {
		base := p
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			base, p = p[i+1:], p[:i]
		} else {
			p = ""
		}
		switch base {
		case "", ".":
			continue
		case "..":
			return true
		}
		_, ok := manifestBases[base]
		return ok || strings.HasSuffix(base, ".txt")
	}
	return false
}

// frameworksIn returns the frameworks that the manifest content of the given
// kind depends on. It never fails: what cannot be parsed yields nothing.
func frameworksIn(kind manifestKind, content []byte) []string {
	content = bytes.TrimPrefix(content, []byte("\xef\xbb\xbf"))
	switch kind {
	case kindPackageJSON:
		return fromPackageJSON(content)
	case kindPyproject:
		return fromPyproject(content)
	case kindPipfile:
		return fromPipfile(content)
	case kindRequirements:
		return fromRequirements(content)
	case kindGoMod:
		return fromGoMod(content)
	case kindCargo:
		return fromCargo(content)
	case kindPom:
		return fromPom(content)
	case kindGradle:
		return fromGradle(content)
	case kindGradleCatalog:
		return fromGradleCatalog(content)
	case kindGemfile:
		return fromGemfile(content)
	case kindGemfileLock:
		return fromGemfileLock(content)
	}
	return nil
}

// --- JavaScript ---

var npmFrameworks = map[string]string{
	"react":         "react",
	"next":          "next",
	"vue":           "vue",
	"@angular/core": "angular",
	"svelte":        "svelte",
	"express":       "express",
	"@nestjs/core":  "nestjs",
}

// fromPackageJSON looks at the keys of dependencies, devDependencies and
// peerDependencies. A field of the wrong shape is ignored on its own.
func fromPackageJSON(content []byte) []string {
	var top map[string]json.RawMessage
	if json.Unmarshal(content, &top) != nil {
		return nil
	}
	var out []string
	for _, field := range []string{"dependencies", "devDependencies", "peerDependencies"} {
		raw, ok := top[field]
		if !ok {
			continue
		}
		var deps map[string]json.RawMessage
		if json.Unmarshal(raw, &deps) != nil {
			continue
		}
		for name := range deps {
			if fw, ok := npmFrameworks[name]; ok {
				out = append(out, fw)
			}
		}
	}
	return out
}

// --- Python ---

var pythonFrameworks = map[string]string{
	"fastapi": "fastapi",
	"django":  "django",
	"flask":   "flask",
}

// pythonFramework returns the framework for a distribution name, if any.
func pythonFramework(name string) (string, bool) {
	fw, ok := pythonFrameworks[normalizePythonName(name)]
	return fw, ok
}

var pythonSeparators = regexp.MustCompile(`[-_.]+`)

// normalizePythonName normalizes a distribution name the PEP 503 way.
func normalizePythonName(name string) string {
	return pythonSeparators.ReplaceAllString(strings.ToLower(name), "-")
}

// pep508Name returns the distribution name that starts the PEP 508
// requirement s ("Django[argon2]>=4.2; python_version>'3.8'" gives
// "Django"), or "" if s does not start with a valid name.
func pep508Name(s string) string {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && isNameByte(s[end]) {
		end++
	}
	name := s[:end]
	if name == "" || !isAlnum(name[0]) || !isAlnum(name[len(name)-1]) {
		return ""
	}
	if end < len(s) && !strings.ContainsRune(" \t[(<>=!~;@,", rune(s[end])) {
		return ""
	}
	return name
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isNameByte(c byte) bool {
	return isAlnum(c) || c == '-' || c == '_' || c == '.'
}

// decodeTOML decodes a TOML document, or returns nil if it is malformed or
// nested too deeply to be a manifest.
func decodeTOML(content []byte) map[string]any {
	if nestingDepth(content) > maxNesting {
		return nil
	}
	var doc map[string]any
	if _, err := toml.Decode(string(content), &doc); err != nil {
		return nil
	}
	return doc
}

// maxNesting bounds the bracket nesting of a TOML manifest; deeper documents
// are rejected before parsing, as the parser recurses per level.
const maxNesting = 100

// nestingDepth returns the deepest nesting of [ and { in b, counting
// brackets anywhere (also in strings and comments, which can only
// overestimate it).
func nestingDepth(b []byte) int {
	depth, deepest := 0, 0
	for _, c := range b {
		switch c {
		case '[', '{':
			depth++
			deepest = max(deepest, depth)
		case ']', '}':
			depth = max(depth-1, 0)
		}
	}
	return deepest
}

// table returns the table at the dotted key path in doc, or nil.
func table(doc map[string]any, keys ...string) map[string]any {
	t := doc
	for _, k := range keys {
		next, ok := t[k].(map[string]any)
		if !ok {
			return nil
		}
		t = next
	}
	return t
}

// fromPyproject reads the PEP 621 [project] dependencies and Poetry's
// [tool.poetry.dependencies] (optional dependencies and dependency groups
// are not the project's own framework and are left out).
func fromPyproject(content []byte) []string {
	doc := decodeTOML(content)
	if doc == nil {
		return nil
	}
	var out []string
	if deps, ok := table(doc, "project")["dependencies"].([]any); ok {
		for _, d := range deps {
			if s, ok := d.(string); ok {
				if fw, ok := pythonFramework(pep508Name(s)); ok {
					out = append(out, fw)
				}
			}
		}
	}
	for name := range table(doc, "tool", "poetry", "dependencies") {
		if fw, ok := pythonFramework(name); ok {
			out = append(out, fw)
		}
	}
	return out
}

// fromPipfile reads the keys of a Pipfile's [packages] (not [dev-packages]).
func fromPipfile(content []byte) []string {
	doc := decodeTOML(content)
	var out []string
	for name := range table(doc, "packages") {
		if fw, ok := pythonFramework(name); ok {
			out = append(out, fw)
		}
	}
	return out
}

var (
	// pipComment is pip's comment syntax: # at line start or after space.
	pipComment = regexp.MustCompile(`(^|\s)#.*$`)
	// eggFragment names the project of a URL or VCS requirement.
	eggFragment = regexp.MustCompile(`[#&]egg=([A-Za-z0-9._-]+)`)
)

// fromRequirements parses a pip requirements file: one PEP 508 requirement
// per line (continued by a trailing backslash; "name @ url" included), with
// comments and options (-r, -c, --index-url ...) skipped. Bare URLs, paths
// and -e lines count only through a #egg=name fragment. Nested files named
// by -r are not followed (they are manifests of their own if named
// requirements*.txt).
func fromRequirements(content []byte) []string {
	var out []string
	var logical strings.Builder
	flush := func() {
		line := pipComment.ReplaceAllString(logical.String(), "")
		logical.Reset()
		line = strings.TrimSpace(line)
		if line == "" {
			return
		}
		name := ""
		if m := eggFragment.FindStringSubmatch(line); m != nil {
			name = m[1]
		} else if !strings.HasPrefix(line, "-") {
			// URLs and paths (https://..., ./dir, /abs) have no valid
			// name followed by a separator, so they yield "".
			name = pep508Name(line)
		}
		if fw, ok := pythonFramework(name); ok {
			out = append(out, fw)
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(content))
	sc.Buffer(nil, maxManifestSize+1)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			logical.WriteString(cont)
			continue
		}
		logical.WriteString(line)
		flush()
	}
	flush()
	return out
}

// --- Go ---

var goFrameworks = map[string]string{
	"github.com/gin-gonic/gin": "gin",
	"github.com/labstack/echo": "echo",
	"github.com/gofiber/fiber": "fiber",
	"github.com/go-chi/chi":    "chi",
}

var goMajorSuffix = regexp.MustCompile(`/v[0-9]+$`)

// goFramework returns the framework for a module path, ignoring a major
// version suffix (github.com/labstack/echo/v4 is echo).
func goFramework(modPath string) (string, bool) {
	fw := goFrameworks[goMajorSuffix.ReplaceAllString(modPath, "")]
	return fw, fw != ""
}

// fromGoMod reads the require directives of a go.mod, single-line and in
// blocks. Requirements marked "// indirect" are not the project's own
// choice and are left out.
func fromGoMod(content []byte) []string {
	var out []string
	inRequire, inOtherBlock := false, false
	check := func(fields []string, comment string) {
		if len(fields) < 2 {
			return
		}
		c := strings.TrimSpace(comment)
		if c == "indirect" || strings.HasPrefix(c, "indirect;") {
			return
		}
		modPath := fields[0]
		if strings.HasPrefix(modPath, `"`) || strings.HasPrefix(modPath, "`") {
			unq, err := strconv.Unquote(modPath)
			if err != nil {
				return
			}
			modPath = unq
		}
		if fw, ok := goFramework(modPath); ok {
			out = append(out, fw)
		}
	}
	for line := range strings.Lines(string(content)) {
		code, comment, _ := strings.Cut(line, "//")
		fields := strings.Fields(strings.ReplaceAll(code, "(", " ( "))
		switch {
		case len(fields) == 0:
		case inRequire || inOtherBlock:
			if fields[0] == ")" {
				inRequire, inOtherBlock = false, false
			} else if inRequire {
				check(fields, comment)
			}
		case len(fields) >= 2 && fields[1] == "(":
			inRequire = fields[0] == "require"
			inOtherBlock = !inRequire
		case fields[0] == "require":
			check(fields[1:], comment)
		}
	}
	return out
}

// --- Rust ---

var rustFrameworks = map[string]string{
	"axum":      "axum",
	"actix-web": "actix-web",
}

// fromCargo reads [dependencies], [workspace.dependencies] and
// [target.<cfg>.dependencies] (not dev- or build-dependencies), following
// renames (web = { package = "actix-web" }).
func fromCargo(content []byte) []string {
	doc := decodeTOML(content)
	if doc == nil {
		return nil
	}
	tables := []map[string]any{table(doc, "dependencies"), table(doc, "workspace", "dependencies")}
	for _, t := range table(doc, "target") {
		if t, ok := t.(map[string]any); ok {
			tables = append(tables, table(t, "dependencies"))
		}
	}
	var out []string
	for _, deps := range tables {
		for name, spec := range deps {
			if spec, ok := spec.(map[string]any); ok {
				if pkg, ok := spec["package"].(string); ok {
					name = pkg
				}
			}
			if fw, ok := rustFrameworks[strings.ReplaceAll(name, "_", "-")]; ok {
				out = append(out, fw)
			}
		}
	}
	return out
}

// --- Java ---

const springBootGroup = "org.springframework.boot"

// fromPom reports spring-boot when any groupId element of a well-formed
// pom.xml (parent, dependency, plugin ...) is org.springframework.boot.
func fromPom(content []byte) []string {
	dec := xml.NewDecoder(bytes.NewReader(content))
	dec.CharsetReader = latin1Reader
	found := false
	var text strings.Builder
	depth, groupDepth := 0, -1
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if t.Name.Local == "groupId" && groupDepth < 0 {
				groupDepth = depth
				text.Reset()
			}
		case xml.CharData:
			if groupDepth >= 0 && text.Len() < 1024 {
				text.Write(t)
			}
		case xml.EndElement:
			if depth == groupDepth {
				if strings.TrimSpace(text.String()) == springBootGroup {
					found = true
				}
				groupDepth = -1
			}
			depth--
		}
	}
	if found {
		return []string{"spring-boot"}
	}
	return nil
}

// latin1Reader decodes ISO-8859-1 (and its ASCII subset) to UTF-8, the only
// non-UTF-8 encodings poms are commonly declared in.
func latin1Reader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "us-ascii", "ascii", "windows-1252", "cp1252":
	default:
		return nil, fmt.Errorf("unsupported charset %q", label)
	}
	raw, err := io.ReadAll(io.LimitReader(input, maxManifestSize+1))
	if err != nil {
		return nil, err
	}
	runes := make([]rune, len(raw))
	for i, b := range raw {
		runes[i] = rune(b)
	}
	return strings.NewReader(string(runes)), nil
}

// fromGradle reports spring-boot when a Gradle build script (Groovy or
// Kotlin DSL) mentions org.springframework.boot outside comments: as a
// plugin id, a dependency coordinate or an import.
func fromGradle(content []byte) []string {
	return mentionsSpringBoot(stripComments(content, "//", true))
}

// fromGradleCatalog reports spring-boot when a Gradle version catalog
// mentions org.springframework.boot outside comments.
func fromGradleCatalog(content []byte) []string {
	return mentionsSpringBoot(stripComments(content, "#", false))
}

func mentionsSpringBoot(code []byte) []string {
	for i := 0; ; {
		j := bytes.Index(code[i:], []byte(springBootGroup))
		if j < 0 {
			return nil
		}
		start, end := i+j, i+j+len(springBootGroup)
		before := start == 0 || !isIdentByte(code[start-1]) && code[start-1] != '.'
		after := end == len(code) || !isIdentByte(code[end])
		if before && after {
			return []string{"spring-boot"}
		}
		i = end
	}
}

func isIdentByte(c byte) bool {
	return isAlnum(c) || c == '_' || c == '-'
}

// stripComments blanks out line comments starting with lineComment, and
// /* */ block comments if block is set, outside '...' and "..." string
// literals (which end at the end of a line). Newlines are kept.
func stripComments(src []byte, lineComment string, block bool) []byte {
	out := make([]byte, 0, len(src))
	var quote byte
	inBlock := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case inBlock:
			if c == '*' && i+1 < len(src) && src[i+1] == '/' {
				inBlock = false
				i++
			}
			if c == '\n' {
				out = append(out, c)
			}
		case quote != 0:
			out = append(out, c)
			switch c {
			case '\\':
				if i+1 < len(src) && src[i+1] != '\n' {
					out = append(out, src[i+1])
					i++
				}
			case quote, '\n':
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
			out = append(out, c)
		case bytes.HasPrefix(src[i:], []byte(lineComment)):
			for i < len(src) && src[i] != '\n' {
				i++
			}
			if i < len(src) {
				out = append(out, '\n')
			}
		case block && c == '/' && i+1 < len(src) && src[i+1] == '*':
			inBlock = true
			i++
		default:
			out = append(out, c)
		}
	}
	return out
}

// --- Ruby ---

var gemCall = regexp.MustCompile(`^\s*gem\s*\(?\s*(?:"([^"]*)"|'([^']*)')`)

// fromGemfile reads the gem declarations of a Gemfile (comments, including
// =begin/=end blocks, are skipped).
func fromGemfile(content []byte) []string {
	var out []string
	inDoc := false
	for line := range strings.Lines(string(stripComments(content, "#", false))) {
		switch {
		case strings.HasPrefix(line, "=begin"):
			inDoc = true
			continue
		case strings.HasPrefix(line, "=end"):
			inDoc = false
			continue
		case inDoc:
			continue
		}
		if m := gemCall.FindStringSubmatch(line); m != nil && m[1]+m[2] == "rails" {
			out = append(out, "rails")
		}
	}
	return out
}

// fromGemfileLock reads the DEPENDENCIES section of a Gemfile.lock, which
// lists the Gemfile's own gems (the specs sections also list transitive
// ones).
func fromGemfileLock(content []byte) []string {
	var out []string
	inDeps := false
	for line := range strings.Lines(string(content)) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			continue
		}
		if line[0] != ' ' {
			inDeps = line == "DEPENDENCIES"
			continue
		}
		if !inDeps || strings.HasPrefix(line, "   ") {
			continue
		}
		name := strings.TrimSpace(line)
		if i := strings.IndexAny(name, " !("); i >= 0 {
			name = name[:i]
		}
		if name == "rails" {
			out = append(out, "rails")
		}
	}
	return out
}
