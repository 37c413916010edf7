// Package chunk splits file content into content-defined chunks with
// restic/chunker: 512 KiB minimum, 1 MiB average, 8 MiB maximum, cut points
// determined by a Rabin fingerprint over the repository's random irreducible
// polynomial (stored in config.json), so the same repository always cuts the
// same content the same way and an insertion only changes the chunks around it.
package chunk

import (
	"fmt"
	"io"
	"strconv"

	"github.com/restic/chunker"
)

const (
	// MinSize is the smallest chunk (except a file's last one).
	MinSize = chunker.MinSize
	// MaxSize is the largest chunk.
	MaxSize = chunker.MaxSize
)

// Pol is a chunker polynomial.
type Pol = chunker.Pol

// RandomPolynomial returns a new random irreducible polynomial.
func RandomPolynomial() (Pol, error) { return chunker.RandomPolynomial() }

// FormatPolynomial returns pol as hex, as config.json stores it.
func FormatPolynomial(pol Pol) string { return strconv.FormatUint(uint64(pol), 16) }

// ParsePolynomial parses the hex form and checks the polynomial is usable.
func ParsePolynomial(s string) (Pol, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("chunk: polynomial %q: %w", s, err)
	}
	pol := Pol(v)
	if pol.Deg() != 53 || !pol.Irreducible() {
		return 0, fmt.Errorf("chunk: polynomial %q is not an irreducible polynomial of degree 53", s)
	}
	return pol, nil
}

// Chunker cuts one stream at a time; reuse it with Reset. Not safe for
// concurrent use.
type Chunker struct {
	pol Pol
	c   *chunker.Chunker
}

// New returns a chunker for pol.
func New(pol Pol) *Chunker { return &Chunker{pol: pol} }

// Reset starts cutting r.
func (c *Chunker) Reset(r io.Reader) {
	r = strictReader{r}
	if c.c == nil {
		c.c = chunker.New(r, c.pol)
		return
	}
	c.c.Reset(r, c.pol)
}

// Next returns the next chunk, stored in buf (which should have capacity
// MaxSize), or io.EOF after the last one.
func (c *Chunker) Next(buf []byte) ([]byte, error) {
	ch, err := c.c.Next(buf)
	if err != nil {
		return nil, err
	}
	return ch.Data, nil
}

// strictReader wraps io.ErrUnexpectedEOF from the input. The restic chunker
// treats a bare io.ErrUnexpectedEOF as io.ReadFull's short last read and
// reads again, so a reader that keeps returning it (a tar stream cut short:
// archive/tar's error is sticky) would spin forever; wrapped, it is returned
// as the error it is.
type strictReader struct{ r io.Reader }

func (s strictReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.ErrUnexpectedEOF {
		err = fmt.Errorf("chunk: input ended early: %w", err)
	}
	return n, err
}
