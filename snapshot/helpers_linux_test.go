package snapshot_test

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// openWatch records which regular files under a tree are opened, with
// inotify (root can read anything, so permissions cannot prove it).
type openWatch struct {
	fd  int
	wds map[int32]string
}

func watchOpens(t testing.TB, root string) *openWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	w := &openWatch{fd: fd, wds: map[int32]string{}}
	t.Cleanup(func() { unix.Close(fd) })
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		wd, err := unix.InotifyAddWatch(fd, p, unix.IN_OPEN|unix.IN_DONT_FOLLOW)
		if err != nil {
			return err
		}
		w.wds[int32(wd)] = p
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// opened drains the events so far and returns the regular files opened.
func (w *openWatch) opened(t testing.TB) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(w.fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			name = bytes.TrimRight(name, "\x00")
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				t.Fatal("inotify queue overflowed")
			}
			if ev.Mask&unix.IN_ISDIR == 0 && len(name) > 0 {
				out = append(out, filepath.Join(w.wds[ev.Wd], string(name)))
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
	return out
}
