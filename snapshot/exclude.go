package snapshot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	ignore "github.com/sabhiram/go-gitignore"
)

// IgnoreFile is the file in a project's top directory whose lines (gitignore
// syntax) a store leaves out, besides --exclude.
const IgnoreFile = ".siloignore"

// CacheDirSignature starts a CACHEDIR.TAG file (bford.ch/cachedir).
const CacheDirSignature = "Signature: 8a477f597d28d172789f06886806bc55"

// Excludes are the rules of what a directory store leaves out.
type Excludes struct {
	// Patterns are gitignore patterns; Files are files of them, one per
	// line. The directory's own IgnoreFile adds its lines.
	Patterns []string
	Files    []string
	// LargerThan leaves out files over this many bytes (0: none).
	LargerThan int64
	// Caches leaves out directories holding a CACHEDIR.TAG file that
	// starts with CacheDirSignature.
	Caches bool
}

// Matcher compiles the patterns and the lines of dir's IgnoreFile, in
// gitignore syntax (a trailing / for directories only, ! to re-include, a
// leading / anchors at the top), with the size and cache-directory rules,
// into StoreOptions.Exclude; nil when there is nothing to exclude.
func (e Excludes) Matcher(dir string) (func(rel string, n *Node) bool, error) {
	lines := slices.Clone(e.Patterns)
	for _, f := range e.Files {
		more, err := patternLines(f)
		if err != nil {
			return nil, fmt.Errorf("store: exclude file: %w", err)
		}
		lines = append(lines, more...)
	}
	switch more, err := patternLines(filepath.Join(dir, IgnoreFile)); {
	case err == nil:
		lines = append(lines, more...)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("store: %w", err)
	}
	if len(lines) == 0 && e.LargerThan <= 0 && !e.Caches {
		return nil, nil
	}
	m := ignore.CompileIgnoreLines(lines...)
	return func(rel string, n *Node) bool {
		isDir := n.Type == Dir
		switch {
		case e.LargerThan > 0 && n.Type == File && int64(n.Size) > e.LargerThan:
			return true
		case e.Caches && isDir && isCacheDir(filepath.Join(dir, filepath.FromSlash(rel))):
			return true
		case isDir:
			rel += "/"
		}
		return len(lines) > 0 && m.MatchesPath(rel)
	}, nil
}

// patternLines reads a file of patterns, one per line (LF or CRLF).
func patternLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n"), nil
}

// isCacheDir reports whether dir holds a CACHEDIR.TAG with the signature.
func isCacheDir(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "CACHEDIR.TAG"))
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, len(CacheDirSignature))
	_, err = io.ReadFull(f, b)
	return err == nil && string(b) == CacheDirSignature
}
