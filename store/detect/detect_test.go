package detect

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixtures is the directory of the small fixture projects.
const fixtures = "../../testdata/detect"

// scanDir feeds every regular file under root to a new Detector the way a
// caller walking a project tree does, and returns its result.
func scanDir(t *testing.T, root string) (languages, frameworks []string) {
	t.Helper()
	d := New()
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		d.AddFile(File{Path: rel, Size: info.Size()})
		if WantsContent(rel, info.Size()) {
			content, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			d.AddContent(rel, content)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d.Result()
}

// scanFiles feeds an in-memory project (path -> content) to a new Detector.
func scanFiles(files map[string]string) (languages, frameworks []string) {
	d := New()
	for p, content := range files {
		d.AddFile(File{Path: p, Size: int64(len(content))})
		if WantsContent(p, int64(len(content))) {
			d.AddContent(p, []byte(content))
		}
	}
	return d.Result()
}

func TestFixtures(t *testing.T) {
	tests := []struct {
		dir        string
		languages  []string
		frameworks []string
	}{
		{"fastapi", []string{"Python"}, []string{"fastapi"}},
		{"django", []string{"Python", "HTML"}, []string{"django"}},
		{"flask", []string{"Python"}, []string{"flask"}},
		{"react", []string{"TypeScript"}, []string{"react"}},
		{"next", []string{"TypeScript"}, []string{"next", "react"}},
		{"vue", []string{"Vue", "JavaScript"}, []string{"vue"}},
		{"angular", []string{"TypeScript", "HTML"}, []string{"angular"}},
		{"svelte", []string{"Svelte"}, []string{"svelte"}},
		{"express", []string{"JavaScript"}, []string{"express"}},
		{"nestjs", []string{"TypeScript"}, []string{"nestjs"}},
		{"gin", []string{"Go"}, []string{"gin"}},
		{"echo", []string{"Go"}, []string{"echo"}},
		{"fiber", []string{"Go"}, []string{"fiber"}},
		{"chi", []string{"Go"}, []string{"chi"}},
		{"axum", []string{"Rust"}, []string{"axum"}},
		{"actix-web", []string{"Rust"}, []string{"actix-web"}},
		{"spring-boot-maven", []string{"Java"}, []string{"spring-boot"}},
		{"spring-boot-gradle", []string{"Kotlin"}, []string{"spring-boot"}},
		{"spring-boot-gradle-groovy", []string{"Java"}, []string{"spring-boot"}},
		{"rails", []string{"Ruby", "HTML"}, []string{"rails"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			languages, frameworks := scanDir(t, filepath.Join(fixtures, tt.dir))
			if !slices.Equal(languages, lower(tt.languages)) {
				t.Errorf("languages = %q, want %q", languages, lower(tt.languages))
			}
			if !slices.Equal(frameworks, tt.frameworks) {
				t.Errorf("frameworks = %q, want %q", frameworks, tt.frameworks)
			}
		})
	}
}

func TestEmptyProject(t *testing.T) {
	languages, frameworks := New().Result()
	if languages == nil || frameworks == nil || len(languages) != 0 || len(frameworks) != 0 {
		t.Errorf("Result() = %#v, %#v; want empty non-nil slices", languages, frameworks)
	}
	var zero Detector
	zero.AddFile(File{Path: "main.go", Size: 10})
	zero.AddContent("go.mod", []byte("require github.com/go-chi/chi v1.5.5\n"))
	if languages, frameworks := zero.Result(); !slices.Equal(languages, []string{"go"}) || !slices.Equal(frameworks, []string{"chi"}) {
		t.Errorf("zero Detector: Result() = %q, %q", languages, frameworks)
	}
	// Files that count for nothing still give empty, non-nil slices.
	languages, frameworks = scanFiles(map[string]string{
		"README.md": "# hi", "data.json": "{}", "LICENSE": "MIT", "logo.png": "\x89PNG",
	})
	if languages == nil || frameworks == nil || len(languages) != 0 || len(frameworks) != 0 {
		t.Errorf("Result() = %#v, %#v; want empty non-nil slices", languages, frameworks)
	}
}

func TestLanguages(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]File
		want  []string
	}{
		{
			name: "ordered by bytes, then name",
			files: files(
				File{"a.py", 300}, File{"b.go", 500}, File{"c.rb", 300}, File{"d.go", 100},
			),
			want: []string{"Go", "Python", "Ruby"},
		},
		{
			name:  "under 1% dropped",
			files: files(File{"main.go", 10000}, File{"tiny.py", 99}, File{"ok.rb", 200}),
			want:  []string{"Go", "Ruby"},
		},
		{
			name:  "a single small language is kept",
			files: files(File{"main.go", 1}),
			want:  []string{"Go"},
		},
		{
			name:  "only empty files",
			files: files(File{"a.go", 0}, File{"b.go", 0}, File{"c.py", 0}),
			want:  []string{"Go", "Python"},
		},
		{
			name: "data, prose, docs, config, vendored, hidden and generated files skipped",
			files: files(
				File{"src/app.py", 100},
				File{"package.json", 10000}, File{"config.yml", 10000}, File{"notes.txt", 10000},
				File{"CHANGES.md", 10000}, File{"docs/guide.rb", 10000}, File{"README.rst", 10000},
				File{"node_modules/x/index.js", 10000}, File{"vendor/lib.go", 10000},
				File{".github/tool.go", 10000}, File{".eslintrc.js", 10000},
				File{"dist/bundle.js", 10000}, File{"static/app.min.js", 10000},
				File{"package-lock.json", 10000}, File{"Cargo.lock", 10000},
				File{"schema.sql", 10000}, File{"logo.png", 10000}, File{"bin/tool", 10000},
			),
			want: []string{"Python"},
		},
		{
			name:  "markup counts",
			files: files(File{"index.html", 500}, File{"style.css", 400}, File{"app.js", 300}),
			want:  []string{"HTML", "CSS", "JavaScript"},
		},
		{
			name:  "groups roll up: TSX is TypeScript",
			files: files(File{"App.tsx", 500}, File{"util.ts", 400}),
			want:  []string{"TypeScript"},
		},
		{
			name:  "file names: Makefile, Dockerfile, Rakefile",
			files: files(File{"Makefile", 300}, File{"Dockerfile", 200}, File{"Rakefile", 100}),
			want:  []string{"Makefile", "Dockerfile", "Ruby"},
		},
		{
			name:  "ambiguous .h alone is C",
			files: files(File{"lib.h", 300}),
			want:  []string{"C"},
		},
		{
			name:  "ambiguous .h follows the project's C++",
			files: files(File{"lib.h", 300}, File{"lib.cpp", 200}),
			want:  []string{"C++"},
		},
		{
			name:  "ambiguous .m alone is Objective-C",
			files: files(File{"AppDelegate.m", 300}, File{"Foo.mm", 100}),
			want:  []string{"Objective-C", "Objective-C++"},
		},
		{
			name:  "ambiguous .m follows the project's MATLAB",
			files: files(File{"solve.m", 300}, File{"plot.matlab", 100}),
			want:  []string{"MATLAB"},
		},
		{
			name:  "common extensions: .rs, .php, .pl, .cs, .fs",
			files: files(File{"a.rs", 500}, File{"b.php", 400}, File{"c.pl", 300}, File{"d.cs", 200}, File{"e.fs", 100}),
			want:  []string{"Rust", "PHP", "Perl", "C#", "F#"},
		},
		{
			name:  "other languages",
			files: files(File{"A.java", 9}, File{"b.kt", 8}, File{"c.swift", 7}, File{"d.c", 6}, File{"e.sh", 5}, File{"f.scala", 4}),
			want:  []string{"Java", "Kotlin", "Swift", "C", "Shell", "Scala"},
		},
		{
			name:  "path forms are cleaned",
			files: files(File{"./src/../main.go", 10}, File{"/lib/x.go", 10}, File{"", 10}, File{"/", 10}),
			want:  []string{"Go"},
		},
		{
			name:  "negative size counts as zero",
			files: files(File{"main.go", -5}, File{"x.py", 1}),
			want:  []string{"Python"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New()
			for _, f := range tt.files {
				d.AddFile(f)
			}
			got, _ := d.Result()
			if !slices.Equal(got, lower(tt.want)) {
				t.Errorf("languages = %q, want %q", got, lower(tt.want))
			}
		})
	}
}

func files(fs ...File) map[string]File {
	m := make(map[string]File, len(fs))
	for _, f := range fs {
		m[f.Path] = f
	}
	return m
}

func TestWantsContent(t *testing.T) {
	tests := []struct {
		path string
		size int64
		want bool
	}{
		{"package.json", 100, true},
		{"web/package.json", 100, true},
		{"pyproject.toml", 100, true},
		{"Pipfile", 100, true},
		{"requirements.txt", 100, true},
		{"requirements-dev.txt", 100, true},
		{"requirements/base.txt", 100, true},
		{"svc/go.mod", 100, true},
		{"Cargo.toml", 100, true},
		{"pom.xml", 100, true},
		{"build.gradle", 100, true},
		{"app/build.gradle.kts", 100, true},
		{"gradle/libs.versions.toml", 100, true},
		{"Gemfile", 100, true},
		{"Gemfile.lock", 100, true},
		{"./package.json", 100, true},
		{"package.json", 1 << 20, true},
		{"package.json", 1<<20 + 1, false},
		{"package.json", -1, false},
		{"node_modules/react/package.json", 100, false},
		{"web/node_modules/react/package.json", 100, false},
		{"vendor/github.com/gin-gonic/gin/go.mod", 100, false},
		{".git/package.json", 100, false},
		{".venv/lib/pyproject.toml", 100, false},
		{"testdata/go.mod", 100, false},
		{"bower_components/x/package.json", 100, false},
		{"lib/site-packages/flask/requirements.txt", 100, false},
		{"main.go", 100, false},
		{"notes.txt", 100, false},
		{"package.json.bak", 100, false},
		{"Package.json", 100, false},
		{"", 100, false},
		{"/", 100, false},
	}
	for _, tt := range tests {
		if got := WantsContent(tt.path, tt.size); got != tt.want {
			t.Errorf("WantsContent(%q, %d) = %v, want %v", tt.path, tt.size, got, tt.want)
		}
	}
}

// TestFrameworkParsing checks each manifest parser on positive and negative
// cases: exact package names only, comments and unrelated sections ignored,
// malformed input contributing nothing.
func TestFrameworkParsing(t *testing.T) {
	tests := []struct {
		name    string
		path    string
		content string
		want    []string
	}{
		// package.json
		{"npm all", "package.json", `{"dependencies":{"react":"1","next":"1","vue":"1","@angular/core":"1"},
			"devDependencies":{"svelte":"1","express":"1"},"peerDependencies":{"@nestjs/core":"1"}}`,
			[]string{"angular", "express", "nestjs", "next", "react", "svelte", "vue"}},
		{"npm similar names", "package.json", `{"dependencies":{"react-native-foo":"1","preact":"1","vue-router":"1",
			"@angular/common":"1","express-session":"1","@nestjs/common":"1","@types/react":"1","nextjs":"1"}}`, nil},
		{"npm other fields", "package.json", `{"name":"react","keywords":["vue"],"scripts":{"express":"x"},
			"optionalDependencies":{"svelte":"1"},"bundledDependencies":["next"]}`, nil},
		{"npm wrong shapes", "package.json", `{"dependencies":["react"],"devDependencies":"vue","peerDependencies":{"express":"1"}}`,
			[]string{"express"}},
		{"npm malformed", "package.json", `{"dependencies":{"react":"1"`, nil},
		{"npm not an object", "package.json", `["react"]`, nil},
		{"npm BOM", "package.json", "\ufeff{\"dependencies\":{\"react\":\"1\"}}", []string{"react"}},
		{"npm in node_modules", "node_modules/react/package.json", `{"name":"react","dependencies":{"react":"1"}}`, nil},
		{"npm nested node_modules", "web/node_modules/x/package.json", `{"dependencies":{"express":"1"}}`, nil},

		// requirements*.txt
		{"req names", "requirements.txt", "Django==4.2\nFastAPI[all]>=0.1 ; python_version>'3.8'\nflask@https://x/flask.zip\n",
			[]string{"django", "fastapi", "flask"}},
		{"req flask-cors only", "requirements.txt", "flask-cors==4.0\nFlask_Login\nflask.ext\ndjango-rest-framework\nfastapi-users\n", nil},
		{"req comments", "requirements.txt", "# flask\n  # django==4\nrequests  # needs fastapi\n", nil},
		{"req options", "requirements.txt", "-r flask.txt\n--index-url https://x/django\n-c fastapi.txt\n./flask\n", nil},
		{"req egg", "requirements.txt", "-e git+https://github.com/pallets/flask.git#egg=Flask\n", []string{"flask"}},
		{"req continuation", "requirements.txt", "django \\\n  >=4.2\n", []string{"django"}},
		{"req CRLF", "requirements/prod.txt", "gunicorn\r\nflask==3.0\r\n", []string{"flask"}},
		{"req not a name", "requirements.txt", "flask/x\n-flask\n", nil},

		// pyproject.toml
		{"pep621", "pyproject.toml", "[project]\nname='x'\ndependencies=['fastapi>=0.1', \"Django\"]\n",
			[]string{"django", "fastapi"}},
		{"pep621 optional only", "pyproject.toml", "[project]\ndependencies=['flask-cors']\n[project.optional-dependencies]\nweb=['flask']\n", nil},
		{"pep621 comment", "pyproject.toml", "[project]\ndependencies=[\n  # 'flask',\n  'requests',\n]\n", nil},
		{"poetry", "pyproject.toml", "[tool.poetry.dependencies]\npython='^3.11'\nFlask={version='^3', extras=['async']}\n", []string{"flask"}},
		{"poetry dev group", "pyproject.toml", "[tool.poetry.group.dev.dependencies]\nflask='*'\n", nil},
		{"pyproject wrong shapes", "pyproject.toml", "project = 'flask'\n[tool]\npoetry = ['django']\n", nil},
		{"pyproject malformed", "pyproject.toml", "[project\ndependencies=['flask']\n", nil},
		{"pipfile", "Pipfile", "[packages]\ndjango='*'\n[dev-packages]\nflask='*'\n", []string{"django"}},

		// go.mod
		{"gomod single", "go.mod", "module x\n\nrequire github.com/gin-gonic/gin v1.9.1\n", []string{"gin"}},
		{"gomod block", "go.mod", "module x\nrequire (\n\tgithub.com/labstack/echo/v4 v4.11.4\n\tgithub.com/gofiber/fiber/v2 v2.52.0 // web\n\tgithub.com/go-chi/chi v1.5.5\n)\n",
			[]string{"chi", "echo", "fiber"}},
		{"gomod v1 echo", "go.mod", "require github.com/labstack/echo v3.3.10+incompatible\n", []string{"echo"}},
		{"gomod indirect", "go.mod", "require github.com/gin-gonic/gin v1.9.1 // indirect\n", nil},
		{"gomod comment", "go.mod", "module x\n// require github.com/gin-gonic/gin v1.9.1\n", nil},
		{"gomod similar", "go.mod", "require (\n github.com/gin-contrib/cors v1\n github.com/labstack/echo-contrib v0.1\n github.com/go-chi/chi-extra v1\n github.com/gin-gonic/gin/binding v1\n)\n", nil},
		{"gomod replace", "go.mod", "replace (\n github.com/gin-gonic/gin => ../gin\n)\nreplace github.com/go-chi/chi v1 => x v1\n", nil},
		{"gomod quoted", "go.mod", "require \"github.com/go-chi/chi/v5\" v5.0.0\n", []string{"chi"}},

		// Cargo.toml
		{"cargo", "Cargo.toml", "[dependencies]\naxum = \"0.7\"\nactix-web = { version = \"4\" }\n", []string{"actix-web", "axum"}},
		{"cargo renamed", "Cargo.toml", "[dependencies]\nweb = { package = \"actix-web\", version = \"4\" }\n", []string{"actix-web"}},
		{"cargo workspace and target", "Cargo.toml", "[workspace.dependencies]\naxum='0.7'\n[target.'cfg(unix)'.dependencies]\nactix-web='4'\n",
			[]string{"actix-web", "axum"}},
		{"cargo similar and dev", "Cargo.toml", "[dependencies]\naxum-extra='1'\nactix='0.13'\n# axum = '0.7'\n[dev-dependencies]\naxum='0.7'\n", nil},
		{"cargo malformed", "Cargo.toml", "[dependencies\naxum = \"0.7\"\n", nil},
		{"cargo too deep", "Cargo.toml", "[dependencies]\naxum='1'\nx=" + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n", nil},

		// pom.xml
		{"pom dependency", "pom.xml", "<project><dependencies><dependency><groupId> org.springframework.boot </groupId></dependency></dependencies></project>",
			[]string{"spring-boot"}},
		{"pom comment", "pom.xml", "<project><!-- <groupId>org.springframework.boot</groupId> --><groupId>com.example</groupId></project>", nil},
		{"pom other group", "pom.xml", "<project><groupId>org.springframework</groupId><artifactId>org.springframework.boot</artifactId></project>", nil},
		{"pom malformed", "pom.xml", "<project><groupId>org.springframework.boot</groupId>", nil},
		{"pom latin1", "pom.xml", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><project><name>caf\xe9</name><groupId>org.springframework.boot</groupId></project>",
			[]string{"spring-boot"}},

		// build.gradle(.kts), version catalogs
		{"gradle groovy", "build.gradle", "plugins {\n  id 'org.springframework.boot' version '3.2.0'\n}\n", []string{"spring-boot"}},
		{"gradle apply", "build.gradle", "apply plugin: \"org.springframework.boot\"\n", []string{"spring-boot"}},
		{"gradle kts dependency", "build.gradle.kts", "dependencies { implementation(\"org.springframework.boot:spring-boot-starter\") }\n", []string{"spring-boot"}},
		{"gradle comments", "build.gradle.kts", "// id(\"org.springframework.boot\")\n/* implementation(\"org.springframework.boot:x\")\n */\nval url = \"http://x\"\n", nil},
		{"gradle similar", "build.gradle", "implementation 'org.springframework:spring-core'\nid 'org.springframework.bootx'\nid 'xorg.springframework.boot'\n", nil},
		{"gradle catalog", "gradle/libs.versions.toml", "[plugins]\nspring-boot = { id = \"org.springframework.boot\", version = \"3.2.0\" }\n", []string{"spring-boot"}},
		{"gradle catalog comment", "gradle/libs.versions.toml", "# org.springframework.boot\n[plugins]\n", nil},

		// Gemfile, Gemfile.lock
		{"gemfile", "Gemfile", "source 'https://rubygems.org'\ngem 'rails', '~> 7.1'\n", []string{"rails"}},
		{"gemfile parens", "Gemfile", "group :web do\n  gem(\"rails\")\nend\n", []string{"rails"}},
		{"gemfile comments", "Gemfile", "# gem \"rails\"\n=begin\ngem 'rails'\n=end\ngem \"pg\" # not rails\n", nil},
		{"gemfile similar", "Gemfile", "gem 'rails-html-sanitizer'\ngem \"railties\"\ngem 'sprockets-rails'\n", nil},
		{"gemfile lock", "Gemfile.lock", "GEM\n  specs:\n    rails (7.1.3)\n\nDEPENDENCIES\n  pg\n  rails (~> 7.1)\n", []string{"rails"}},
		{"gemfile lock transitive only", "Gemfile.lock", "GEM\n  specs:\n    rails (7.1.3)\n\nDEPENDENCIES\n  administrate\n", nil},
		{"gemfile lock git", "Gemfile.lock", "DEPENDENCIES\n  rails!\n", []string{"rails"}},

		// not manifests
		{"not a manifest", "deps.txt", "flask\n", nil},
		{"vendored go.mod", "vendor/x/go.mod", "require github.com/gin-gonic/gin v1\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := New()
			d.AddContent(tt.path, []byte(tt.content))
			_, got := d.Result()
			want := tt.want
			if want == nil {
				want = []string{}
			}
			if !slices.Equal(got, want) {
				t.Errorf("frameworks of %s %q = %q, want %q", tt.path, tt.content, got, want)
			}
		})
	}
}

// TestMonorepo checks that manifests at any depth contribute, and vendored
// copies do not.
func TestMonorepo(t *testing.T) {
	languages, frameworks := scanFiles(map[string]string{
		"web/package.json":                     `{"dependencies":{"react":"18"}}`,
		"web/src/App.jsx":                      strings.Repeat("x", 300),
		"web/node_modules/vue/package.json":    `{"dependencies":{"vue":"3"}}`,
		"web/node_modules/vue/dist/vue.js":     strings.Repeat("x", 100000),
		"api/go.mod":                           "require github.com/go-chi/chi/v5 v5.0.0\n",
		"api/main.go":                          strings.Repeat("x", 500),
		"api/vendor/github.com/x/y/go.mod":     "require github.com/gin-gonic/gin v1\n",
		"api/vendor/github.com/x/y/y.go":       strings.Repeat("x", 100000),
		"ml/requirements.txt":                  "fastapi\n",
		"ml/app.py":                            strings.Repeat("x", 400),
		"ml/.venv/lib/flask/requirements.txt":  "flask\n",
		"ml/.venv/lib/python3.12/flask/app.py": strings.Repeat("x", 100000),
	})
	if want := []string{"go", "python", "javascript"}; !slices.Equal(languages, want) {
		t.Errorf("languages = %q, want %q", languages, want)
	}
	if want := []string{"chi", "fastapi", "react"}; !slices.Equal(frameworks, want) {
		t.Errorf("frameworks = %q, want %q", frameworks, want)
	}
}

func TestAddContentTooLarge(t *testing.T) {
	d := New()
	d.AddContent("requirements.txt", []byte("flask\n"+strings.Repeat("#", 1<<20)))
	if _, fw := d.Result(); len(fw) != 0 {
		t.Errorf("frameworks = %q, want none for content over 1 MiB", fw)
	}
}

// lower turns a table's linguist spellings ("TypeScript") into what Result
// gives, the storage guide's lower case ("typescript").
func lower(langs []string) []string {
	out := make([]string, len(langs))
	for i, l := range langs {
		out[i] = strings.ToLower(l)
	}
	return out
}

// TestMerge: the files of every fixture dealt out among three Detectors
// (round robin, and all to one) and merged give what one Detector given
// them all gives, frameworks included.
func TestMerge(t *testing.T) {
	var files []File
	var contents = map[string][]byte{}
	err := filepath.WalkDir(fixtures, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(fixtures, p)
		rel = filepath.ToSlash(rel)
		files = append(files, File{Path: rel, Size: info.Size()})
		if WantsContent(rel, info.Size()) {
			if contents[rel], err = os.ReadFile(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(files) < 50 {
		t.Fatalf("%d fixture files: %v", len(files), err)
	}
	one := New()
	for _, f := range files {
		one.AddFile(f)
	}
	for p, c := range contents {
		one.AddContent(p, c)
	}
	wantL, wantF := one.Result()
	if len(wantL) < 3 || len(wantF) < 3 {
		t.Fatalf("the fixtures give %v and %v: too little to compare", wantL, wantF)
	}
	for _, spread := range []func(i int) int{func(i int) int { return i % 3 }, func(int) int { return 1 }} {
		parts := []*Detector{New(), New(), New()}
		for i, f := range files {
			parts[spread(i)].AddFile(f)
		}
		parts[2].AddContent("unused", nil) // a Detector's own contents merge too
		for p, c := range contents {
			parts[0].AddContent(p, c)
		}
		merged := New()
		for _, p := range parts {
			merged.Merge(p)
		}
		if l, f := merged.Result(); !slices.Equal(l, wantL) || !slices.Equal(f, wantF) {
			t.Errorf("merged: %v %v, want %v %v", l, f, wantL, wantF)
		}
	}
}
