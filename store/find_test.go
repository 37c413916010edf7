package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/snapshot"
)

// Dump writes exactly one file of a version; Find lists matching names (or
// whole paths) in every version, newest first, for one project or all.
func TestDumpAndFind(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("p")
	big := testutil.RandomBytes(5, 3<<20)
	writeFile(t, dir, "src/main.go", []byte("package main // v1\n"))
	writeFile(t, dir, "data/big.bin", big)
	v1 := e.save(t, dir, "p")
	e.clock.Advance(time.Hour)
	writeFile(t, dir, "src/main.go", []byte("package main // v2\n"))
	writeFile(t, dir, "src/util/main.go", []byte("package util\n"))
	v2 := e.save(t, dir, "p")
	e.clock.Advance(time.Hour)
	writeFile(t, e.path("q"), "main.go", []byte("package q\n"))
	e.save(t, e.path("q"), "q")

	var out bytes.Buffer
	if n, err := e.s.Dump(ctx, "p@"+v1.Snapshot.String()[:10], "src/main.go", &out); err != nil || out.String() != "package main // v1\n" || n != int64(out.Len()) {
		t.Errorf("dump v1: %q %d %v", out.String(), n, err)
	}
	out.Reset()
	if _, err := e.s.Dump(ctx, "p", "data/big.bin", &out); err != nil || !bytes.Equal(out.Bytes(), big) {
		t.Errorf("dump big.bin: %d bytes, %v", out.Len(), err)
	}
	if _, err := e.s.Dump(ctx, "p", "src", &out); !errors.Is(err, ErrInvalid) {
		t.Errorf("dump of a directory: %v", err)
	}
	if _, err := e.s.Dump(ctx, "p", "nope.txt", &out); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("dump of a missing file: %v", err)
	}

	find := func(ref, pattern string) []string {
		var got []string
		if err := e.s.Find(ctx, ref, pattern, func(m FindMatch) error {
			got = append(got, m.Project+"@"+m.Snapshot[:8]+":"+m.Path)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	s1, s2 := v1.Snapshot.String()[:8], v2.Snapshot.String()[:8]
	if got, want := find("p", "main.go"), []string{"p@" + s2 + ":src/main.go", "p@" + s2 + ":src/util/main.go", "p@" + s1 + ":src/main.go"}; !slices.Equal(got, want) {
		t.Errorf("find main.go in p: %q, want %q", got, want)
	}
	if got := find("", "main.go"); len(got) != 4 {
		t.Errorf("find main.go everywhere: %q", got)
	}
	if got, want := find("p", "src/*/main.go"), []string{"p@" + s2 + ":src/util/main.go"}; !slices.Equal(got, want) {
		t.Errorf("find src/*/main.go: %q, want %q", got, want)
	}
	if err := e.s.Find(ctx, "", "[", func(FindMatch) error { return nil }); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad pattern: %v", err)
	}
}

// Ls and Diff read trees within a read session, as Dump, Find and restores
// do: a collection that starts while they run waits for them.
func TestLsAndDiffHoldReadSessions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := e.path("p")
	writeFile(t, dir, "a.txt", []byte("one\n"))
	v1 := e.save(t, dir, "p")
	e.clock.Advance(time.Hour)
	writeFile(t, dir, "a.txt", []byte("two\n"))
	e.save(t, dir, "p")
	reading := func(what string) {
		t.Helper()
		leases, err := e.s.leases.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(leases, func(r gc.LeaseRecord) bool { return r.Kind == gc.KindRead }) {
			t.Errorf("%s runs without a read session: leases %v", what, leases)
		}
	}
	seen := 0
	if err := e.s.Ls(ctx, "p", "", func(Entry) error { seen++; reading("ls"); return nil }); err != nil || seen == 0 {
		t.Fatalf("ls: %d entries, %v", seen, err)
	}
	seen = 0
	err := e.s.Diff(ctx, "p@"+v1.Snapshot.String()[:12], "p", func(snapshot.Change) error { seen++; reading("diff"); return nil })
	if err != nil || seen == 0 {
		t.Fatalf("diff: %d changes, %v", seen, err)
	}
	if leases, _ := e.s.leases.List(ctx); len(leases) != 0 {
		t.Errorf("sessions left after ls and diff: %v", leases)
	}
}
