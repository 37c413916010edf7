package object

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/silo-dev/silo/crypt"
	"github.com/zeebo/blake3"
)

const (
	entrySize   = 46
	trailerSize = 12
	packMagic   = "SILOPAK1"
	// MaxPackBlobs bounds the entry count a pack table may claim.
	MaxPackBlobs = 1 << 22
	// MaxPackCount is how many blobs a pack holds when its Index asks for
	// a limit (see PackLimiter): index.DB does once index.db is large.
	MaxPackCount = 512
)

// PackWriter appends blobs to a pack being written to w and finally writes
// its table. It hashes everything it writes, so Finish returns the pack id.
type PackWriter struct {
	w     io.Writer
	h     *blake3.Hasher
	off   int64
	blobs []Blob
	seal  *Sealer // nil: a plain pack
}

// NewPackWriter starts a pack on w.
func NewPackWriter(w io.Writer) *PackWriter {
	return &PackWriter{w: w, h: blake3.New()}
}

// NewSealedPackWriter starts a pack on w whose table s seals (nil: a plain
// pack). The blobs added must be sealed already.
func NewSealedPackWriter(w io.Writer, s *Sealer) *PackWriter {
	return &PackWriter{w: w, h: blake3.New(), seal: s}
}

func (p *PackWriter) write(b []byte) error {
	n, err := p.w.Write(b)
	p.h.Write(b[:n])
	p.off += int64(n)
	return err
}

// Add appends one blob's stored bytes.
func (p *PackWriter) Add(b Blob, stored []byte) error {
	if p.off+int64(len(stored)) > 1<<32-1 {
		return fmt.Errorf("object: pack too large")
	}
	b.Offset = uint32(p.off)
	b.Length = uint32(len(stored))
	if err := p.write(stored); err != nil {
		return err
	}
	p.blobs = append(p.blobs, b)
	return nil
}

// Size returns the bytes written so far (blobs only).
func (p *PackWriter) Size() int64 { return p.off }

// Count returns the number of blobs added.
func (p *PackWriter) Count() int { return len(p.blobs) }

// Blobs returns the blobs added so far.
func (p *PackWriter) Blobs() []Blob { return p.blobs }

// NextID returns the id the pack would get if it were finished now (the
// zero id for a sealed pack: its table's random nonces make its id new).
func (p *PackWriter) NextID() ID {
	if p.seal != nil {
		return ID{}
	}
	h := p.h.Clone()
	h.Write(EncodeTable(p.blobs))
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}

// Finish writes the table, its checksum and the trailer and returns the
// pack's id and total size.
func (p *PackWriter) Finish() (ID, int64, error) {
	tab := EncodeTable(p.blobs)
	if p.seal != nil {
		var err error
		if tab, err = p.seal.encodeTable(p.blobs); err != nil {
			return ID{}, 0, err
		}
	}
	if err := p.write(tab); err != nil {
		return ID{}, 0, err
	}
	var id ID
	copy(id[:], p.h.Sum(nil))
	return id, p.off, nil
}

// EncodeTable returns the table, checksum and trailer for blobs.
func EncodeTable(blobs []Blob) []byte {
	buf := encodeEntries(blobs)
	sum := blake3.Sum256(buf)
	buf = append(buf, sum[:]...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(blobs)))
	buf = append(buf, packMagic...)
	return buf
}

func encodeEntries(blobs []Blob) []byte {
	buf := make([]byte, 0, len(blobs)*entrySize+32+trailerSize)
	for _, b := range blobs {
		buf = append(buf, b.ID[:]...)
		buf = append(buf, byte(b.Type), byte(b.Comp))
		buf = binary.LittleEndian.AppendUint32(buf, b.Offset)
		buf = binary.LittleEndian.AppendUint32(buf, b.Length)
		buf = binary.LittleEndian.AppendUint32(buf, b.RawLength)
	}
	return buf
}

func decodeEntry(e []byte) Blob {
	var b Blob
	copy(b.ID[:], e[:32])
	b.Type = BlobType(e[32])
	b.Comp = Compression(e[33])
	b.Offset = binary.LittleEndian.Uint32(e[34:])
	b.Length = binary.LittleEndian.Uint32(e[38:])
	b.RawLength = binary.LittleEndian.Uint32(e[42:])
	return b
}

// TableLength returns how many bytes at the end of a pack hold its table,
// checksum and trailer (an encrypted pack: its two sealed tables and
// trailer), given the 12-byte trailer.
func TableLength(trailer []byte) (int64, error) {
	if len(trailer) != trailerSize || (string(trailer[4:]) != packMagic && string(trailer[4:]) != sealedMagic) {
		return 0, fmt.Errorf("%w: bad trailer magic", ErrBadPack)
	}
	n := binary.LittleEndian.Uint32(trailer)
	if n > MaxPackBlobs {
		return 0, fmt.Errorf("%w: %d entries claimed", ErrBadPack, n)
	}
	if string(trailer[4:]) == sealedMagic {
		return 2*(int64(n)*entrySize+crypt.Overhead) + trailerSize, nil
	}
	return int64(n)*entrySize + 32 + trailerSize, nil
}

// checkSealing refuses a sealed pack without a key and a plain pack in an
// encrypted repository (a downgrade: an encrypted repository holds no plain pack).
func checkSealing(trailer []byte, s *Sealer) error {
	sealed := string(trailer[4:]) == sealedMagic
	switch {
	case sealed && s == nil:
		return fmt.Errorf("%w: the pack is encrypted, and the repository was opened as a plain one", ErrSealed)
	case !sealed && s != nil:
		return fmt.Errorf("%w: a plain pack in an encrypted repository (written by someone without the key?)", ErrSealed)
	}
	return nil
}

// DecodeTable decodes the tail of a pack of packSize bytes (tail holds at
// least the table, checksum and trailer) and validates every entry: known
// type and compression, blobs in order, inside the pack, not overlapping the
// table, and plausible lengths.
func DecodeTable(tail []byte, packSize int64) ([]Blob, error) {
	return decodeTable(tail, packSize, nil)
}

// decodeTable is DecodeTable of a pack of a repository that s seals (nil:
// a plain one).
func decodeTable(tail []byte, packSize int64, s *Sealer) ([]Blob, error) {
	if len(tail) < trailerSize {
		return nil, fmt.Errorf("%w: pack of %d bytes is too short", ErrBadPack, len(tail))
	}
	tl, err := TableLength(tail[len(tail)-trailerSize:])
	if err != nil {
		return nil, err
	}
	if int64(len(tail)) < tl || packSize < tl {
		return nil, fmt.Errorf("%w: table of %d bytes does not fit", ErrBadPack, tl)
	}
	if err := checkSealing(tail[len(tail)-trailerSize:], s); err != nil {
		return nil, err
	}
	tab := tail[int64(len(tail))-tl:]
	var entries []byte
	overhead := uint32(0)
	if s != nil {
		if entries, err = s.sealedCopies(tab); err != nil {
			return nil, err
		}
		overhead = crypt.Overhead
	} else {
		n := (len(tab) - 32 - trailerSize) / entrySize
		entries = tab[:n*entrySize]
		sum := blake3.Sum256(entries)
		if !bytes.Equal(sum[:], tab[n*entrySize:n*entrySize+32]) {
			return nil, fmt.Errorf("%w: table checksum mismatch", ErrCorrupt)
		}
	}
	n := len(entries) / entrySize
	dataEnd := packSize - tl
	blobs := make([]Blob, n)
	var next int64
	for i := range blobs {
		blobs[i] = decodeEntry(entries[i*entrySize:])
		b := &blobs[i]
		switch {
		case !b.Type.Valid():
			return nil, fmt.Errorf("%w: entry %d: unknown blob type %d", ErrBadPack, i, b.Type)
		case b.Comp != Raw && b.Comp != Zstd:
			return nil, fmt.Errorf("%w: entry %d: unknown compression %d", ErrBadPack, i, b.Comp)
		case int64(b.Offset) != next:
			return nil, fmt.Errorf("%w: entry %d: offset %d, want %d", ErrBadPack, i, b.Offset, next)
		case int64(b.Offset)+int64(b.Length) > dataEnd:
			return nil, fmt.Errorf("%w: entry %d: blob runs past the data", ErrBadPack, i)
		case b.Comp == Raw && b.Length != b.RawLength+overhead:
			return nil, fmt.Errorf("%w: entry %d: raw blob with two lengths", ErrBadPack, i)
		case b.RawLength > MaxBlobSize:
			return nil, fmt.Errorf("%w: entry %d: blob of %d bytes", ErrBadPack, i, b.RawLength)
		}
		next = int64(b.Offset) + int64(b.Length)
	}
	if next != dataEnd {
		return nil, fmt.Errorf("%w: %d bytes between the last blob and the table", ErrBadPack, dataEnd-next)
	}
	return blobs, nil
}

// MaxBlobSize bounds the plain size of any blob (a tree of a huge
// directory is the largest).
const MaxBlobSize = 1 << 30

// Salvage reads what can still be trusted of a pack whose table is damaged:
// every entry of its table that it can parse (ignoring the table's
// checksum) and every hint (a location the caller knew, such as an old
// index entry) whose bytes decode and hash to the blob's id. A blob's id is
// the hash of its plain bytes, so what Salvage returns is verified blob by
// blob whatever the table says. bad counts the entries it could not
// verify. It reads the whole pack into memory.
func Salvage(ctx context.Context, be Backend, pack ID, hints []Blob) (good []Blob, bad int, err error) {
	return salvage(ctx, be, pack, hints, nil)
}

// salvage is Salvage in a repository that s seals (nil: a plain one): the
// entries come from whichever sealed copy of the table opens, and each
// blob must open, decompress and hash to its keyed id.
func salvage(ctx context.Context, be Backend, pack ID, hints []Blob, s *Sealer) (good []Blob, bad int, err error) {
	rc, err := be.Get(ctx, PackName(pack), 0, -1)
	if err != nil {
		return nil, 0, err
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, 0, fmt.Errorf("pack %s: %w", pack, err)
	}
	var cands []Blob
	if len(data) >= trailerSize {
		tr := data[len(data)-trailerSize:]
		if tl, err := TableLength(tr); err == nil && tl <= int64(len(data)) && checkSealing(tr, s) == nil {
			tab := data[int64(len(data))-tl:]
			entries := tab[:max(0, len(tab)-32-trailerSize)]
			if s != nil {
				entries, _ = s.sealedCopies(tab)
			}
			for i := range len(entries) / entrySize {
				cands = append(cands, decodeEntry(entries[i*entrySize:]))
			}
		}
	}
	cands = append(cands, hints...)
	codec, err := NewCodec(0)
	if err != nil {
		return nil, 0, err
	}
	seen := map[ID]bool{}
	var plain, opened []byte
	for _, b := range cands {
		if seen[b.ID] {
			continue
		}
		end := int64(b.Offset) + int64(b.Length)
		ok := b.Type.Valid() && (b.Comp == Raw || b.Comp == Zstd) && b.RawLength <= MaxBlobSize && end <= int64(len(data))
		if ok {
			stored := data[b.Offset:end]
			err = nil
			if s != nil {
				opened, err = s.openBlob(opened[:0], b, stored)
				stored = opened
			}
			if err == nil {
				plain, err = codec.Decompress(plain[:0], stored, b.Comp, int(b.RawLength))
			}
			ok = err == nil && len(plain) == int(b.RawLength) && s.ID(plain) == b.ID
		}
		if !ok {
			bad++
			continue
		}
		seen[b.ID] = true
		good = append(good, b)
	}
	slices.SortFunc(good, func(a, b Blob) int { return int(a.Offset) - int(b.Offset) })
	return good, bad, nil
}
