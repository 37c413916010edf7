//go:build unix

package snapshot_test

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// caseFoldingByDefault: restores on macOS refuse case collisions without
// being asked (its filesystem ignores case by default); Linux's do not.
const caseFoldingByDefault = runtime.GOOS == "darwin"

// chmod sets exact permission bits including setuid, setgid and sticky
// (os.Chmod would need FileMode flags for those).
func chmod(t testing.TB, path string, mode uint32) {
	t.Helper()
	if err := unix.Fchmodat(unix.AT_FDCWD, path, mode, 0); err != nil {
		t.Fatal(err)
	}
}

// scrambleTimes gives every entry under root (root included, symlinks'
// own times too) a distinct mtime with a nanosecond part. Setting times
// does not touch the parent directory's mtime, so the order does not matter.
func scrambleTimes(t testing.TB, root string, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 42))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// between 2001 and 2033, any nanosecond
		ns := int64(1e18) + rng.Int64N(int64(1e18))
		ts := []unix.Timespec{unix.NsecToTimespec(ns), unix.NsecToTimespec(ns)}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func lstat(t testing.TB, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// compareTrees checks that got holds exactly what want holds: the same
// entries, types, permission bits (without setuid, setgid and sticky, which
// a restore drops), sizes,
// bytes, link targets and mtimes to the nanosecond, directories' and
// symlinks' own included. Sockets, fifos and devices in want must be absent
// from got. With root set, the two roots' modes and mtimes are compared too.
func compareTrees(t testing.TB, want, got string, root bool) {
	t.Helper()
	compareTreesOpt(t, want, got, root, true)
}

// compareTreesOpt is compareTrees; without dirTimes, directories' mtimes
// are not compared (a restore into existing directories leaves them to
// the kernel).
func compareTreesOpt(t testing.TB, want, got string, root, dirTimes bool) {
	t.Helper()
	seen := map[string]bool{}
	var problems []string
	bad := func(format string, a ...any) {
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(format, a...))
		}
	}
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		gp := filepath.Join(got, rel)
		var ws, gs unix.Stat_t
		if err := unix.Lstat(p, &ws); err != nil {
			return err
		}
		wt := ws.Mode & unix.S_IFMT
		if wt != unix.S_IFREG && wt != unix.S_IFDIR && wt != unix.S_IFLNK {
			if unix.Lstat(gp, &gs) == nil {
				bad("%s: special file (mode %o) was restored", rel, ws.Mode)
			}
			return nil
		}
		seen[rel] = true
		if err := unix.Lstat(gp, &gs); err != nil {
			bad("%s: missing: %v", rel, err)
			if wt == unix.S_IFDIR {
				return fs.SkipDir
			}
			return nil
		}
		if rel == "." && !root {
			return nil
		}
		if gs.Mode&unix.S_IFMT != wt {
			bad("%s: type %o, want %o", rel, gs.Mode&unix.S_IFMT, wt)
			return nil
		}
		// a restore drops setuid, setgid and sticky bits
		if wt != unix.S_IFLNK && gs.Mode&0o7777 != ws.Mode&0o777 {
			bad("%s: mode %04o, want %04o", rel, gs.Mode&0o7777, ws.Mode&0o777)
		}
		if gs.Mtim.Nano() != ws.Mtim.Nano() && (dirTimes || wt != unix.S_IFDIR) {
			bad("%s: mtime %d, want %d", rel, gs.Mtim.Nano(), ws.Mtim.Nano())
		}
		switch wt {
		case unix.S_IFREG:
			if gs.Size != ws.Size {
				bad("%s: size %d, want %d", rel, gs.Size, ws.Size)
			} else if err := sameContent(p, gp); err != nil {
				bad("%s: %v", rel, err)
			}
		case unix.S_IFLNK:
			wl, _ := os.Readlink(p)
			gl, _ := os.Readlink(gp)
			if wl != gl {
				bad("%s: link target %q, want %q", rel, gl, wl)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(got, p)
		if !seen[rel] {
			bad("%s: extra entry in the restored tree", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("%s differs from %s:\n  %s", got, want, strings.Join(problems, "\n  "))
	}
}
