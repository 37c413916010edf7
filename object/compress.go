package object

import (
	"fmt"
	"math"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// Codec compresses and decompresses blobs. It is safe for concurrent use.
type Codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
	raw bool // store every blob raw
}

// NoCompression is the level of a codec that stores every blob raw (a
// backup destination with backup.compression false).
const NoCompression = -1

// NewCodec returns a codec compressing at the given zstd level (1..19;
// 0 means the default, 3; NoCompression stores blobs raw).
func NewCodec(level int) (*Codec, error) {
	raw := level == NoCompression
	if level == 0 || raw {
		level = 3
	}
	n := runtime.GOMAXPROCS(0)
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(n),
		zstd.WithLowerEncoderMem(true),
		zstd.WithWindowSize(windowSize),
		zstd.WithZeroFrames(true))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(n), zstd.WithDecoderMaxMemory(MaxBlobSize))
	if err != nil {
		return nil, err
	}
	return &Codec{enc: enc, dec: dec, raw: raw}, nil
}

// Compress returns the stored form of plain appended to dst and its
// compression. A blob that does not shrink by at least 1/32 is kept raw, so
// incompressible data costs no CPU on restore.
func (c *Codec) Compress(dst, plain []byte) ([]byte, Compression) {
	if c.raw || len(plain) < 64 || looksIncompressible(plain) {
		return append(dst, plain...), Raw
	}
	out := c.enc.EncodeAll(plain, dst)
	if len(out)-len(dst) > len(plain)-len(plain)/32 {
		return append(dst[:len(dst)], plain...), Raw
	}
	return out, Zstd
}

// Decompress returns the plain form of stored appended to dst.
func (c *Codec) Decompress(dst, stored []byte, comp Compression, rawLen int) ([]byte, error) {
	switch comp {
	case Raw:
		return append(dst, stored...), nil
	case Zstd:
		if cap(dst)-len(dst) < rawLen {
			nd := make([]byte, len(dst), len(dst)+rawLen)
			copy(nd, dst)
			dst = nd
		}
		out, err := c.dec.DecodeAll(stored, dst)
		if err != nil {
			return nil, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: unknown compression %d", ErrCorrupt, comp)
}

const (
	sampleCount = 8
	sampleSize  = 2 << 10
	// a 2 KiB sample of random or already-compressed bytes has about 7.9
	// bits of entropy per byte; text and code have about 4.5 to 6
	entropyLimit = 7.5
)

// looksIncompressible samples a large blob in several places and reports
// whether every sample looks like random bytes, so that encrypted, random
// and already-compressed data skip the encoder's match search entirely.
func looksIncompressible(b []byte) bool {
	if len(b) < 4*sampleCount*sampleSize {
		return false
	}
	step := (len(b) - sampleSize) / (sampleCount - 1)
	for i := range sampleCount {
		if entropy(b[i*step:i*step+sampleSize]) < entropyLimit {
			return false
		}
	}
	return true
}

// entropy returns the Shannon entropy of b in bits per byte.
func entropy(b []byte) float64 {
	var hist [256]int
	for _, c := range b {
		hist[c]++
	}
	n := float64(len(b))
	e := 0.0
	for _, k := range hist {
		if k > 0 {
			p := float64(k) / n
			e -= p * math.Log2(p)
		}
	}
	return e
}

// windowSize bounds how far back zstd looks for matches inside one blob: it
// sizes each encoder's history buffer (memory) and costs almost nothing in
// ratio, as most chunks are about 1 MiB.
const windowSize = 2 << 20
