//go:build unix

package main

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

// checkDeep reads back the file f a restore of ref wrote under depth-1
// directories "a" in dest, one directory at a time.
func checkDeep(t *testing.T, dest, ref string, depth int) {
	t.Helper()
	fd, err := unix.Open(dest, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for level := 1; level < depth; level++ {
		next, err := unix.Openat(fd, "a", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatalf("%s: level %d: %v", ref, level, err)
		}
		fd = next
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstatat(fd, "f", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Size != 4 || st.Mtim.Sec != 1700000000 {
		t.Fatalf("%s: the deepest file: size %d, mtime %d, %v", ref, st.Size, st.Mtim.Sec, err)
	}
}

// deepRestoreLimit says why a restore depth levels deep cannot be tried
// here ("" when it can): restore holds a descriptor per level.
func deepRestoreLimit(depth int) string {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err == nil && uint64(lim.Max) > uint64(depth)+64 {
		return ""
	}
	return fmt.Sprintf("RLIMIT_NOFILE is %d", lim.Max)
}
