package object

import (
	"fmt"
	"runtime"

	"github.com/klauspost/compress/zstd"
)

// Codec compresses and decompresses blobs. It is safe for concurrent use.
type Codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// NewCodec returns a codec compressing at the given zstd level (1..19;
// 0 means the default, 3).
func NewCodec(level int) (*Codec, error) {
	if level == 0 {
		level = 3
	}
	n := runtime.GOMAXPROCS(0)
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
		zstd.WithEncoderConcurrency(n),
		zstd.WithLowerEncoderMem(true),
		zstd.WithZeroFrames(true))
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(n), zstd.WithDecoderMaxMemory(MaxBlobSize))
	if err != nil {
		return nil, err
	}
	return &Codec{enc: enc, dec: dec}, nil
}

// Compress returns the stored form of plain appended to dst and its
// compression. A blob that does not shrink by at least 1/32 is kept raw, so
// incompressible data costs no CPU on restore.
func (c *Codec) Compress(dst, plain []byte) ([]byte, Compression) {
	if len(plain) < 64 {
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
