// Package backendtest is the conformance suite for object.Backend. Every
// implementation runs it from its own tests:
//
//	func TestLocal(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) object.Backend {
//			return object.NewLocal(t.TempDir())
//		})
//	}
//
// newBackend is called once per subtest and must return an empty backend
// that no other subtest uses; subtests may run in any order.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/silo-dev/silo/object"
)

// Run runs the conformance suite against the backends newBackend returns.
func Run(t *testing.T, newBackend func(t *testing.T) object.Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, be object.Backend)
	}{
		{"PutGet", testPutGet},
		{"PutGetEmpty", testPutGetEmpty},
		{"PutGetLarge", testPutGetLarge},
		{"GetRange", testGetRange},
		{"Stat", testStat},
		{"List", testList},
		{"ListStops", testListStops},
		{"Delete", testDelete},
		{"PutExisting", testPutExisting},
		{"PutFailingReader", testPutFailingReader},
		{"PutShortReader", testPutShortReader},
		{"PutLongReader", testPutLongReader},
		{"ConcurrentPuts", testConcurrentPuts},
		{"ConcurrentPutsSameName", testConcurrentPutsSameName},
		{"GetMissing", testGetMissing},
		{"UnusualNames", testUnusualNames},
		{"CanceledPut", testCanceledPut},
		{"Location", testLocation},
		{"PutNew", testPutNew},
		{"CreateOnce", testCreateOnce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newBackend(t))
		})
	}
}

// data returns n reproducible pseudo-random bytes.
func data(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func put(t *testing.T, be object.Backend, name string, b []byte) {
	t.Helper()
	if err := be.Put(context.Background(), name, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", name, len(b), err)
	}
}

func get(t *testing.T, be object.Backend, name string, off, n int64) []byte {
	t.Helper()
	rc, err := be.Get(context.Background(), name, off, n)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", name, off, n, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): read: %v", name, off, n, err)
	}
	if err := rc.Close(); err != nil {
		t.Fatalf("Get(%q, %d, %d): close: %v", name, off, n, err)
	}
	return b
}

func checkContent(t *testing.T, be object.Backend, name string, want []byte) {
	t.Helper()
	got := get(t, be, name, 0, -1)
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q): got %d bytes, want %d bytes (content differs: %v)", name, len(got), len(want), len(got) == len(want))
	}
}

func listNames(t *testing.T, be object.Backend, prefix string) []string {
	t.Helper()
	var names []string
	err := be.List(context.Background(), prefix, func(fi object.FileInfo) error {
		names = append(names, fi.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	sort.Strings(names)
	return names
}

func checkMissing(t *testing.T, be object.Backend, name string) {
	t.Helper()
	ctx := context.Background()
	if fi, err := be.Stat(ctx, name); !errors.Is(err, object.ErrNotFound) {
		t.Errorf("Stat(%q) = %+v, %v; want ErrNotFound", name, fi, err)
	}
	if rc, err := be.Get(ctx, name, 0, -1); !errors.Is(err, object.ErrNotFound) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Get(%q): %v; want ErrNotFound", name, err)
	}
}

// checkOnly fails unless List("") returns exactly names: nothing partial or
// temporary is visible.
func checkOnly(t *testing.T, be object.Backend, names ...string) {
	t.Helper()
	got := listNames(t, be, "")
	want := slices.Clone(names)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("List(\"\") = %q, want %q", got, want)
	}
}

func testPutGet(t *testing.T, be object.Backend) {
	b := data(1, 10_000)
	put(t, be, "config.json", b)
	checkContent(t, be, "config.json", b)
	put(t, be, "packs/ab/ab01", b[:100])
	checkContent(t, be, "packs/ab/ab01", b[:100])
}

func testPutGetEmpty(t *testing.T, be object.Backend) {
	put(t, be, "empty", nil)
	checkContent(t, be, "empty", nil)
	fi, err := be.Stat(context.Background(), "empty")
	if err != nil || fi.Size != 0 {
		t.Fatalf("Stat(empty) = %+v, %v; want size 0", fi, err)
	}
	if got := get(t, be, "empty", 0, 0); len(got) != 0 {
		t.Fatalf("Get(empty, 0, 0) = %d bytes", len(got))
	}
}

func testPutGetLarge(t *testing.T, be object.Backend) {
	b := data(2, 3<<20+17)
	put(t, be, "packs/00/large", b)
	checkContent(t, be, "packs/00/large", b)
	if got := get(t, be, "packs/00/large", 1<<20+5, 1<<20); !bytes.Equal(got, b[1<<20+5:2<<20+5]) {
		t.Fatalf("ranged Get of a large file: got %d bytes, content differs", len(got))
	}
}

func testGetRange(t *testing.T, be object.Backend) {
	b := data(3, 1000)
	put(t, be, "packs/ab/range", b)
	for _, tc := range []struct{ off, n int64 }{
		{0, -1}, {0, 1000}, {0, 1}, {0, 10}, {10, 100}, {990, 10}, {999, 1},
		{500, -1}, {999, -1}, {1000, -1}, {1000, 0}, {0, 0}, {500, 0},
	} {
		want := b[tc.off:]
		if tc.n >= 0 {
			want = want[:tc.n]
		}
		got := get(t, be, "packs/ab/range", tc.off, tc.n)
		if !bytes.Equal(got, want) {
			t.Errorf("Get(offset %d, length %d) = %d bytes, want %d (content equal: %v)",
				tc.off, tc.n, len(got), len(want), bytes.Equal(got, want))
		}
	}
}

func testStat(t *testing.T, be object.Backend) {
	b := data(4, 4321)
	put(t, be, "packs/cd/stat", b)
	fi, err := be.Stat(context.Background(), "packs/cd/stat")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if fi.Name != "packs/cd/stat" || fi.Size != int64(len(b)) {
		t.Errorf("Stat = %+v, want name packs/cd/stat and size %d", fi, len(b))
	}
	if fi.ModTime.IsZero() {
		t.Errorf("Stat: zero ModTime")
	}
	_, err = be.Stat(context.Background(), "packs/cd/missing")
	if !errors.Is(err, object.ErrNotFound) {
		t.Errorf("Stat(missing) = %v, want ErrNotFound", err)
	}
	_, err = be.Stat(context.Background(), "no/such/dir/file")
	if !errors.Is(err, object.ErrNotFound) {
		t.Errorf("Stat(missing in missing dir) = %v, want ErrNotFound", err)
	}
}

func testList(t *testing.T, be object.Backend) {
	files := map[string][]byte{
		"config.json":      data(5, 10),
		"packs/ab/xyz":     data(6, 20),
		"packs/ab/xyw":     data(7, 30),
		"packs/abc/1":      data(8, 40),
		"packs/cd/123":     data(9, 50),
		"index/1":          data(10, 60),
		"snapshots/a/b/c1": data(11, 70),
	}
	for name, b := range files {
		put(t, be, name, b)
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"config.json", "index/1", "packs/ab/xyw", "packs/ab/xyz", "packs/abc/1", "packs/cd/123", "snapshots/a/b/c1"}},
		{"packs/", []string{"packs/ab/xyw", "packs/ab/xyz", "packs/abc/1", "packs/cd/123"}},
		{"packs/ab/", []string{"packs/ab/xyw", "packs/ab/xyz"}},
		{"packs/ab", []string{"packs/ab/xyw", "packs/ab/xyz", "packs/abc/1"}},
		{"packs/ab/xy", []string{"packs/ab/xyw", "packs/ab/xyz"}},
		{"packs/ab/xyz", []string{"packs/ab/xyz"}},
		{"snapshots/", []string{"snapshots/a/b/c1"}},
		{"conf", []string{"config.json"}},
		{"nothing/", nil},
		{"packs/zz/", nil},
		{"zzz", nil},
	} {
		got := listNames(t, be, tc.prefix)
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
	err := be.List(context.Background(), "", func(fi object.FileInfo) error {
		if want := int64(len(files[fi.Name])); fi.Size != want {
			t.Errorf("List: %s has size %d, want %d", fi.Name, fi.Size, want)
		}
		if fi.ModTime.IsZero() {
			t.Errorf("List: %s has a zero ModTime", fi.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testListStops(t *testing.T, be object.Backend) {
	for i := range 5 {
		put(t, be, fmt.Sprintf("packs/0%d/p%d", i, i), data(uint64(i), 5))
	}
	stop := errors.New("stop here")
	calls := 0
	err := be.List(context.Background(), "packs/", func(object.FileInfo) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) {
		t.Errorf("List returned %v, want the callback's error", err)
	}
	if calls != 1 {
		t.Errorf("List called fn %d times after it failed, want 1", calls)
	}
}

func testDelete(t *testing.T, be object.Backend) {
	ctx := context.Background()
	b := data(12, 100)
	put(t, be, "packs/ef/del", b)
	put(t, be, "packs/ef/keep", b)
	if err := be.Delete(ctx, "packs/ef/del"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	checkMissing(t, be, "packs/ef/del")
	checkOnly(t, be, "packs/ef/keep")
	checkContent(t, be, "packs/ef/keep", b)
	if err := be.Delete(ctx, "packs/ef/del"); !errors.Is(err, object.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
	if err := be.Delete(ctx, "never/there"); !errors.Is(err, object.ErrNotFound) {
		t.Errorf("Delete(missing) = %v, want ErrNotFound", err)
	}
	// a deleted name can be put again
	put(t, be, "packs/ef/del", b[:10])
	checkContent(t, be, "packs/ef/del", b[:10])
}

func testPutExisting(t *testing.T, be object.Backend) {
	first, second := data(13, 300), data(14, 200)
	put(t, be, "packs/12/same", first)
	put(t, be, "packs/12/same", second)
	checkContent(t, be, "packs/12/same", first)
	checkOnly(t, be, "packs/12/same")
}

// failingReader returns n good bytes, then err.
type failingReader struct {
	b   []byte
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

func testPutFailingReader(t *testing.T, be object.Backend) {
	boom := errors.New("disk on fire")
	b := data(15, 100_000)
	err := be.Put(context.Background(), "packs/34/fail", &failingReader{b: b[:50_000], err: boom}, int64(len(b)))
	if err == nil {
		t.Fatal("Put with a failing reader returned nil")
	}
	checkMissing(t, be, "packs/34/fail")
	checkOnly(t, be)
	// the name is still free for a good put
	put(t, be, "packs/34/fail", b)
	checkContent(t, be, "packs/34/fail", b)
}

// plainReader hides every ability but Read.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

func testPutShortReader(t *testing.T, be object.Backend) {
	b := data(16, 1000)
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"packs/56/plain", plainReader{bytes.NewReader(b[:600])}},
		{"packs/56/seeker", bytes.NewReader(b[:600])},
		{"packs/56/empty", plainReader{bytes.NewReader(nil)}},
	} {
		if err := be.Put(context.Background(), tc.name, tc.r, int64(len(b))); err == nil {
			t.Errorf("Put(%s) of 600 bytes with size %d returned nil", tc.name, len(b))
		}
		checkMissing(t, be, tc.name)
	}
	checkOnly(t, be)
}

func testPutLongReader(t *testing.T, be object.Backend) {
	b := data(17, 1000)
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"packs/78/plain", plainReader{bytes.NewReader(b)}},
		{"packs/78/seeker", bytes.NewReader(b)},
	} {
		if err := be.Put(context.Background(), tc.name, tc.r, 600); err == nil {
			t.Errorf("Put(%s) of 1000 bytes with size 600 returned nil", tc.name)
		}
		checkMissing(t, be, tc.name)
	}
	checkOnly(t, be)
}

func testConcurrentPuts(t *testing.T, be object.Backend) {
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b := data(uint64(100+i), 1000+i*517)
			name := fmt.Sprintf("packs/%02x/c%d", i, i)
			if err := be.Put(context.Background(), name, bytes.NewReader(b), int64(len(b))); err != nil {
				t.Errorf("Put(%s): %v", name, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var names []string
	for i := range n {
		name := fmt.Sprintf("packs/%02x/c%d", i, i)
		names = append(names, name)
		checkContent(t, be, name, data(uint64(100+i), 1000+i*517))
	}
	checkOnly(t, be, names...)
}

func testConcurrentPutsSameName(t *testing.T, be object.Backend) {
	const n = 16
	b := data(18, 50_000)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := be.Put(context.Background(), "packs/9a/same", bytes.NewReader(b), int64(len(b))); err != nil {
				t.Errorf("Put: %v", err)
			}
		})
	}
	wg.Wait()
	checkContent(t, be, "packs/9a/same", b)
	checkOnly(t, be, "packs/9a/same")
}

// testCreateOnce: of writers that Create one name at once, with different
// contents, exactly one creates it and its content is what the name holds;
// a Create of a name that exists leaves it. A backend without the Creator
// ability skips nothing: its Put is checked above.
func testCreateOnce(t *testing.T, be object.Backend) {
	cr, ok := be.(object.Creator)
	if !ok {
		return
	}
	const n = 12
	for round := range 3 {
		name := fmt.Sprintf("config-%d.json", round)
		var wg sync.WaitGroup
		created := make([]bool, n)
		for i := range n {
			wg.Go(func() {
				b := data(uint64(1000+i), 3000+i)
				ok, err := cr.Create(context.Background(), name, bytes.NewReader(b), int64(len(b)))
				if err != nil {
					t.Errorf("Create %s (writer %d): %v", name, i, err)
				}
				created[i] = ok
			})
		}
		wg.Wait()
		winners := 0
		for i, ok := range created {
			if ok {
				winners++
				checkContent(t, be, name, data(uint64(1000+i), 3000+i))
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d of %d writers created %s, want exactly 1", round, winners, n, name)
		}
	}
	b := data(7, 10)
	if ok, err := cr.Create(context.Background(), "config-0.json", bytes.NewReader(b), int64(len(b))); ok || err != nil {
		t.Fatalf("Create of a name that exists: %v, %v", ok, err)
	}
	if got := get(t, be, "config-0.json", 0, -1); bytes.Equal(got, b) {
		t.Fatal("Create of a name that exists replaced it")
	}
}

func testGetMissing(t *testing.T, be object.Backend) {
	ctx := context.Background()
	put(t, be, "packs/bc/present", data(19, 10))
	for _, tc := range []struct {
		name    string
		off, n  int64
		comment string
	}{
		{"packs/bc/absent", 0, -1, "whole"},
		{"packs/bc/absent", 5, 10, "range"},
		{"packs/bc/absent", 0, 0, "empty range"},
		{"no/such/dir", 0, -1, "missing directory"},
	} {
		rc, err := be.Get(ctx, tc.name, tc.off, tc.n)
		if !errors.Is(err, object.ErrNotFound) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("Get(%s, %d, %d) (%s): %v; want ErrNotFound", tc.name, tc.off, tc.n, tc.comment, err)
		}
	}
}

func testUnusualNames(t *testing.T, be object.Backend) {
	ctx := context.Background()
	names := []string{
		"name with spaces",
		"dir with space/file name",
		"plus+equals=amp&semi;comma,",
		"percent%20not-escaped%2F",
		"question?mark#hash",
		"quotes'single\"double",
		"brackets[1](2){3}<4>",
		"tilde~at@bang!dollar$star*",
		"ünïcödé/名前/файл",
		"emoji-😀",
		"dots..in...name",
		"-leading-dash/_under_",
		"colon:pipe|caret^backtick`",
	}
	for i, name := range names {
		b := data(uint64(200+i), 10+i)
		put(t, be, name, b)
		checkContent(t, be, name, b)
		fi, err := be.Stat(ctx, name)
		if err != nil || fi.Size != int64(len(b)) || fi.Name != name {
			t.Errorf("Stat(%q) = %+v, %v", name, fi, err)
		}
		if got := get(t, be, name, 2, 5); !bytes.Equal(got, b[2:7]) {
			t.Errorf("ranged Get(%q) differs", name)
		}
	}
	checkOnly(t, be, names...)
	for _, name := range names {
		if got := listNames(t, be, name); !slices.Contains(got, name) {
			t.Errorf("List(%q) = %q, does not contain the name", name, got)
		}
		if err := be.Delete(ctx, name); err != nil {
			t.Errorf("Delete(%q): %v", name, err)
		}
		checkMissing(t, be, name)
	}
	checkOnly(t, be)
}

func testCanceledPut(t *testing.T, be object.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := data(20, 1000)
	err := be.Put(ctx, "packs/de/canceled", bytes.NewReader(b), int64(len(b)))
	if err == nil {
		t.Fatal("Put with a canceled context returned nil")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a canceled context = %v, want an error wrapping context.Canceled", err)
	}
	checkMissing(t, be, "packs/de/canceled")
	checkOnly(t, be)
}

func testLocation(t *testing.T, be object.Backend) {
	if be.Location() == "" {
		t.Error("Location() is empty")
	}
}

// testPutNew: object.PutNew (the backend's NewPutter, or Put and Stat)
// stores the bytes and returns the info Stat gives.
func testPutNew(t *testing.T, be object.Backend) {
	ctx := context.Background()
	b := data(9, 777)
	fi, err := object.PutNew(ctx, be, "locks/new-0.json", bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("PutNew: %v", err)
	}
	st, err := be.Stat(ctx, "locks/new-0.json")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size != int64(len(b)) || fi.ModTime.IsZero() || !fi.ModTime.Equal(st.ModTime) {
		t.Errorf("PutNew = %+v, Stat = %+v", fi, st)
	}
	checkContent(t, be, "locks/new-0.json", b)
	if _, err := object.PutNew(ctx, be, "locks/new-1.json", plainReader{bytes.NewReader(b[:10])}, int64(len(b))); err == nil {
		t.Error("PutNew of a short reader succeeded")
	}
}
