package chunk

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"time"
)

// stickyReader returns some bytes, then io.ErrUnexpectedEOF forever (as
// archive/tar does for a stream cut inside an entry).
type stickyReader struct{ data []byte }

func (r *stickyReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestTruncatedInputIsAnError(t *testing.T) {
	pol, err := RandomPolynomial()
	if err != nil {
		t.Fatal(err)
	}
	c := New(pol)
	c.Reset(&stickyReader{data: bytes.Repeat([]byte("silo "), 300000)})
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, MaxSize)
		for {
			if _, err := c.Next(buf); err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if !errors.Is(err, io.ErrUnexpectedEOF) || err == io.ErrUnexpectedEOF {
			t.Fatalf("Next: %v, want a wrapped io.ErrUnexpectedEOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the chunker spins on a reader that keeps failing")
	}
}
