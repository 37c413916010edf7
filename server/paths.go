package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/silo-dev/silo/store"
)

// Server paths a request may name.
//
// An extract's destination must be absolute and, once cleaned and with the
// symlinks of its existing part resolved, lie under one of api.extract_roots
// (default: the repository's cache/ directory), and never inside, equal to
// or above the repository's base directory, except below its cache/. The
// resolved path is what the restore writes to. A backup's destination must
// be backup.destination or one of api.backup_destinations. Refusals are 400
// (not absolute) or 403 forbidden_destination, naming the path and what is
// allowed; nothing is written.

// resolvePath cleans an absolute path and resolves the symlinks of its
// longest existing prefix; the rest is appended as it is.
func resolvePath(p string) (string, error) {
	p = filepath.Clean(p)
	rest := ""
	cur := p
	for {
		if _, err := os.Lstat(cur); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			break
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
	real, err := filepath.EvalSymlinks(cur)
	if err != nil {
		return "", err
	}
	return filepath.Join(real, rest), nil
}

// within reports whether p is dir or below it (both clean and absolute).
func within(p, dir string) bool {
	if p == dir {
		return true
	}
	return strings.HasPrefix(p, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

func forbiddenDestination(msg string, allowed []string) error {
	return &apiError{status: http.StatusForbidden, code: "forbidden_destination", msg: msg,
		details: map[string][]string{"allowed": allowed}}
}

// repoBase returns the repository's base directory, absolute and resolved.
func (s *Server) repoBase() (string, error) {
	base, err := filepath.Abs(s.st.BaseDir())
	if err != nil {
		return "", err
	}
	return resolvePath(base)
}

// extractRoots returns the configured roots (resolved), or the
// repository's cache/ directory.
func (s *Server) extractRoots(base string) ([]string, error) {
	roots := s.st.Config().API.ExtractRoots
	if len(roots) == 0 {
		return []string{filepath.Join(base, "cache")}, nil
	}
	out := make([]string, 0, len(roots))
	for _, r := range roots {
		rr, err := resolvePath(r)
		if err != nil {
			return nil, fmt.Errorf("api.extract_roots %s: %w", r, err)
		}
		out = append(out, rr)
	}
	return out, nil
}

// checkExtractDest returns the path an extract to dest writes to, or the
// answer refusing it.
func (s *Server) checkExtractDest(dest string) (string, error) {
	if !filepath.IsAbs(dest) {
		return "", badRequest("invalid", fmt.Sprintf("destination %q must be an absolute path on the server", dest))
	}
	base, err := s.repoBase()
	if err != nil {
		return "", err
	}
	roots, err := s.extractRoots(base)
	if err != nil {
		return "", err
	}
	real, err := resolvePath(dest)
	if err != nil {
		return "", badRequest("invalid", fmt.Sprintf("destination %q: %v", dest, err))
	}
	shown := real
	if real != filepath.Clean(dest) {
		shown = fmt.Sprintf("%s (%s)", dest, real)
	}
	cache := filepath.Join(base, "cache")
	if (within(real, base) || within(base, real)) && !(within(real, cache) && real != cache) {
		return "", forbiddenDestination(fmt.Sprintf("destination %s is the repository %s, inside it or above it: refusing to write there (allowed roots: %s)",
			shown, base, strings.Join(roots, ", ")), roots)
	}
	for _, root := range roots {
		if within(real, root) {
			return real, nil
		}
	}
	return "", forbiddenDestination(fmt.Sprintf("destination %s is outside the extract roots %s (config key storage.api.extract_roots)",
		shown, strings.Join(roots, ", ")), roots)
}

// checkBackupDest refuses a backup destination that is relative or not one
// the configuration names.
func (s *Server) checkBackupDest(to string) error {
	if to == "" {
		return nil
	}
	cfg := s.st.Config()
	allowed := append([]string{cfg.Backup.Destination}, cfg.API.BackupDestinations...)
	if store.IsRemote(to) {
		for _, a := range allowed {
			if a != "" && strings.TrimSuffix(a, "/") == strings.TrimSuffix(to, "/") {
				return nil
			}
		}
	} else {
		if !filepath.IsAbs(to) {
			return badRequest("invalid", fmt.Sprintf("destination %q must be an absolute path on the server (or s3://bucket/prefix)", to))
		}
		want, err := resolvePath(to)
		if err != nil {
			return badRequest("invalid", fmt.Sprintf("destination %q: %v", to, err))
		}
		for _, a := range allowed {
			if a == "" || store.IsRemote(a) {
				continue
			}
			abs, err := filepath.Abs(a)
			if err != nil {
				continue
			}
			if ra, err := resolvePath(abs); err == nil && ra == want {
				return nil
			}
		}
	}
	return forbiddenDestination(fmt.Sprintf("backup destination %s is neither storage.backup.destination nor listed in storage.api.backup_destinations (allowed: %s)",
		to, strings.Join(allowed, ", ")), allowed)
}
