package detect

import (
	"slices"
	"testing"
)

// manifestPaths names one file of each manifest kind.
var manifestPaths = []string{
	"package.json",
	"pyproject.toml",
	"Pipfile",
	"requirements.txt",
	"go.mod",
	"Cargo.toml",
	"pom.xml",
	"build.gradle",
	"build.gradle.kts",
	"gradle/libs.versions.toml",
	"Gemfile",
	"Gemfile.lock",
}

// FuzzAddContent feeds arbitrary bytes as each kind of manifest: it must
// never panic, and Result must give sorted, known frameworks.
func FuzzAddContent(f *testing.F) {
	f.Add([]byte(`{"dependencies":{"react":"^18"}}`))
	f.Add([]byte("[project]\ndependencies = [\"django>=5\"]\n[tool.poetry.dependencies]\nflask = \"*\"\n"))
	f.Add([]byte("fastapi[all]>=0.1 ; python_version>'3.8' \\\n  # c\n-e git+https://x#egg=flask\n"))
	f.Add([]byte("require (\n\tgithub.com/gin-gonic/gin v1.9.1 // indirect\n)\n"))
	f.Add([]byte("<project><groupId>org.springframework.boot</groupId></project>"))
	f.Add([]byte("/* x */ id 'org.springframework.boot' // \"\ngem \"rails\"\nDEPENDENCIES\n  rails!\n"))
	known := []string{"actix-web", "angular", "axum", "chi", "django", "echo", "express", "fastapi",
		"fiber", "flask", "gin", "nestjs", "next", "rails", "react", "spring-boot", "svelte", "vue"}
	f.Fuzz(func(t *testing.T, content []byte) {
		for _, p := range manifestPaths {
			if !WantsContent(p, int64(len(content))) {
				continue
			}
			d := New()
			d.AddFile(File{Path: p, Size: int64(len(content))})
			d.AddContent(p, content)
			languages, frameworks := d.Result()
			if languages == nil || frameworks == nil {
				t.Fatalf("%s: Result() gave a nil slice", p)
			}
			if !slices.IsSorted(frameworks) {
				t.Fatalf("%s: frameworks %q not sorted", p, frameworks)
			}
			for _, fw := range frameworks {
				if !slices.Contains(known, fw) {
					t.Fatalf("%s: unknown framework %q", p, fw)
				}
			}
		}
	})
}
