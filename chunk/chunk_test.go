package chunk_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/silo-dev/silo/chunk"
)

func randomData(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'c'}).Read(b)
	return b
}

func cut(t *testing.T, c *chunk.Chunker, data []byte) [][]byte {
	t.Helper()
	c.Reset(bytes.NewReader(data))
	buf := make([]byte, chunk.MaxSize)
	var out [][]byte
	for {
		ch, err := c.Next(buf)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(ch))
	}
}

func TestPolynomial(t *testing.T) {
	pol, err := chunk.RandomPolynomial()
	if err != nil {
		t.Fatal(err)
	}
	s := chunk.FormatPolynomial(pol)
	got, err := chunk.ParsePolynomial(s)
	if err != nil || got != pol {
		t.Fatalf("ParsePolynomial(%q) = %v, %v; want %v", s, got, err, pol)
	}
	for _, bad := range []string{"", "xyz", "0", "3", "ffffffffffffffffff", chunk.FormatPolynomial(pol * 2)} {
		if _, err := chunk.ParsePolynomial(bad); err == nil {
			t.Errorf("ParsePolynomial(%q) accepted", bad)
		}
	}
}

func TestChunkBoundsAndDeterminism(t *testing.T) {
	pol, _ := chunk.RandomPolynomial()
	data := randomData(1, 24<<20+17)
	c := chunk.New(pol)
	a := cut(t, c, data)
	if !bytes.Equal(bytes.Join(a, nil), data) {
		t.Fatal("chunks do not reassemble the input")
	}
	for i, ch := range a {
		if len(ch) > chunk.MaxSize || (i < len(a)-1 && len(ch) < chunk.MinSize) {
			t.Errorf("chunk %d of %d bytes", i, len(ch))
		}
	}
	if len(a) < 8 || len(a) > 60 {
		t.Errorf("%d chunks for 24 MiB with a 1 MiB average", len(a))
	}
	// the same polynomial cuts the same way, with a reused chunker too
	b := cut(t, c, data)
	if len(a) != len(b) {
		t.Fatalf("second cut: %d chunks, first %d", len(b), len(a))
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("chunk %d differs on the second cut", i)
		}
	}
	// zeros never cut below the minimum nor above the maximum
	for i, ch := range cut(t, c, make([]byte, 20<<20)) {
		if len(ch) > chunk.MaxSize || len(ch) < chunk.MinSize {
			t.Errorf("zero chunk %d of %d bytes", i, len(ch))
		}
	}
	if got := cut(t, c, nil); len(got) != 0 {
		t.Errorf("empty input gave %d chunks", len(got))
	}
}

// An insertion only changes the chunks around it.
func TestInsertionResynchronises(t *testing.T) {
	pol, _ := chunk.RandomPolynomial()
	data := randomData(2, 16<<20)
	c := chunk.New(pol)
	before := map[string]bool{}
	for _, ch := range cut(t, c, data) {
		before[string(ch)] = true
	}
	shifted := append([]byte("x"), data...)
	after := cut(t, c, shifted)
	changed := 0
	for _, ch := range after {
		if !before[string(ch)] {
			changed++
		}
	}
	if changed == 0 || changed > 2 {
		t.Errorf("%d of %d chunks changed after a one-byte insertion", changed, len(after))
	}
}
