package snapshot

import (
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/silo-dev/silo/object"
)

// A tree with a filtered file is SLT2 and keeps each file's filter; one
// without stays SLT1, as every tree before filters.
func TestTreeFilterRoundTrip(t *testing.T) {
	nodes := []Node{
		{Name: "a.txt", Type: File, Mode: 0o644, Size: 3, Content: []object.ID{{1}}, Filter: "crlf"},
		{Name: "b.bin", Type: File, Mode: 0o644, Size: 3, Content: []object.ID{{2}}},
		{Name: "d", Type: Dir, Mode: 0o755, Subtree: object.ID{3}},
	}
	data := EncodeTree(nodes)
	if string(data[:4]) != "SLT2" {
		t.Fatalf("magic %q, want SLT2", data[:4])
	}
	got, err := DecodeTree(data)
	if err != nil || !reflect.DeepEqual(got, nodes) {
		t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, got, nodes)
	}
	nodes[0].Filter = ""
	if plain := EncodeTree(nodes); string(plain[:4]) != "SLT1" {
		t.Fatalf("a tree without filters is %q, want SLT1", plain[:4])
	}
	nodes[0].Filter = "bad name/"
	if _, err := DecodeTree(EncodeTree(nodes)); !errors.Is(err, ErrBadTree) {
		t.Fatalf("a bad filter name decoded: %v", err)
	}
}

// through returns the first failure: a quota stop of the consumer is not
// hidden by the broken pipe the producer meets after it, and a producer's
// own failure (a damaged blob) comes back as it is.
func TestThroughFirstFailureWins(t *testing.T) {
	errQuota := errors.New("quota")
	for range 200 {
		err := through(func(w io.Writer) error {
			buf := make([]byte, 4096)
			for {
				if _, err := w.Write(buf); err != nil {
					return errors.New("filter: signal: broken pipe")
				}
			}
		}, func(in io.Reader, _ io.Writer) error {
			io.ReadFull(in, make([]byte, 10000))
			return errQuota
		}, nil)
		if !errors.Is(err, errQuota) {
			t.Fatalf("through: %v, want the quota stop", err)
		}
	}
	errBlob := errors.New("damaged blob")
	err := through(func(w io.Writer) error { w.Write([]byte("x")); return errBlob },
		func(in io.Reader, _ io.Writer) error { _, err := io.ReadAll(in); return err }, nil)
	if !errors.Is(err, errBlob) {
		t.Fatalf("through: %v, want the damaged blob", err)
	}
}
