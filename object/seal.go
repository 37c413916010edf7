package object

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/silo-dev/silo/crypt"
)

// Sealer encrypts what a repository writes when the repository is
// encrypted (see crypt and docs/encryption-design.md). A nil *Sealer is a
// plain repository: ids are plain BLAKE3 and nothing is sealed.
//
// In an encrypted repository:
//   - a blob id is the BLAKE3 of the plain bytes keyed with the id key;
//   - a blob's stored form is nonce || XChaCha20-Poly1305(blob key,
//     compressed or raw bytes), with the associated data
//     "silo blob v1" || id || type || compression, so a blob cannot be
//     swapped for another, even inside one pack;
//   - a pack's table (the same 46-byte entries as a plain pack's) is
//     sealed with the table key, twice, and the trailer's magic is
//     "SILOPKE1" (see sealedTable);
//   - files outside packs (backup records, the sealed config) are sealed
//     with the table key and "silo file v1\0" || name as associated data.
type Sealer struct {
	k crypt.Keys
}

// NewSealer returns the sealer of a repository whose master key is m.
func NewSealer(m *crypt.MasterKey) *Sealer { return &Sealer{k: m.Derive()} }

// ErrSealed means a pack or file is encrypted and the repository was
// opened without its key, or the reverse: a plain pack in an encrypted
// repository.
var ErrSealed = errors.New("object: encryption mismatch")

// Encrypted reports whether s seals (false for nil).
func (s *Sealer) Encrypted() bool { return s != nil }

// ID returns the blob id of plain data: plain BLAKE3 for a nil sealer,
// keyed BLAKE3 otherwise.
func (s *Sealer) ID(plain []byte) ID {
	if s == nil {
		return Hash(plain)
	}
	return ID(s.k.BlobID(plain))
}

// IDKey returns the key of keyed blob ids (nil for a plain repository):
// what a client of the blob protocol needs to compute ids.
func (s *Sealer) IDKey() []byte {
	if s == nil {
		return nil
	}
	k := s.k.IDKey
	return k[:]
}

func blobAD(b Blob) []byte {
	ad := make([]byte, 0, 12+32+2)
	ad = append(ad, "silo blob v1"...)
	ad = append(ad, b.ID[:]...)
	return append(ad, byte(b.Type), byte(b.Comp))
}

// sealBlob appends the sealed form of stored (the blob's compressed or
// raw bytes) to dst.
func (s *Sealer) sealBlob(dst []byte, b Blob, stored []byte) ([]byte, error) {
	return crypt.Seal(dst, &s.k.Blob, stored, blobAD(b))
}

// openBlob appends the compressed or raw bytes inside a sealed blob to dst.
func (s *Sealer) openBlob(dst []byte, b Blob, sealed []byte) ([]byte, error) {
	out, err := crypt.Open(dst, &s.k.Blob, sealed, blobAD(b))
	if err != nil {
		return nil, fmt.Errorf("%w: the blob fails authentication (damaged, or not this repository's)", ErrCorrupt)
	}
	return out, nil
}

func fileAD(name string) []byte { return append([]byte("silo file v1\x00"), name...) }

// SealFile seals the content of a file named name outside the packs; a
// nil sealer returns plain as it is.
func (s *Sealer) SealFile(name string, plain []byte) ([]byte, error) {
	if s == nil {
		return plain, nil
	}
	return crypt.Seal(nil, &s.k.Table, plain, fileAD(name))
}

// OpenFile reverses SealFile; a file renamed, changed or sealed with
// another key fails with ErrCorrupt.
func (s *Sealer) OpenFile(name string, sealed []byte) ([]byte, error) {
	if s == nil {
		return sealed, nil
	}
	out, err := crypt.Open(nil, &s.k.Table, sealed, fileAD(name))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: it fails authentication (damaged, or sealed with another key)", name, ErrCorrupt)
	}
	return out, nil
}

// The table of an encrypted pack:
//
//	blob 0 | ... | blob n-1 | sealed table | sealed table | count u32 | "SILOPKE1"
//
// Each sealed table is nonce (24) || XChaCha20-Poly1305(table key,
// entries) || tag (16), where entries are n plain-format entries (46
// bytes each) and the associated data is "silo pack table v1" followed by
// the 12-byte trailer. The two copies are sealed apart (different nonces),
// so a damaged byte in one leaves the other readable: recovery (Salvage,
// index rebuild) still finds every blob. The plain table's BLAKE3 is not
// written: the tags authenticate each copy.
const sealedMagic = "SILOPKE1"

func tableAD(trailer []byte) []byte {
	return append([]byte("silo pack table v1"), trailer...)
}

func sealedTrailer(n int) []byte {
	return append(binary.LittleEndian.AppendUint32(nil, uint32(n)), sealedMagic...)
}

// encodeTable returns an encrypted pack's two sealed tables and trailer.
func (s *Sealer) encodeTable(blobs []Blob) ([]byte, error) {
	entries := encodeEntries(blobs)
	tr := sealedTrailer(len(blobs))
	ad := tableAD(tr)
	out, err := crypt.Seal(nil, &s.k.Table, entries, ad)
	if err == nil {
		out, err = crypt.Seal(out, &s.k.Table, entries, ad)
	}
	if err != nil {
		return nil, err
	}
	return append(out, tr...), nil
}

// sealedCopies returns the entries of whichever sealed copy of the table
// in tab (two copies and the trailer) opens, the first one first.
func (s *Sealer) sealedCopies(tab []byte) (entries []byte, err error) {
	tr := tab[len(tab)-trailerSize:]
	one := (len(tab) - trailerSize) / 2
	ad := tableAD(tr)
	for i := range 2 {
		if entries, err = crypt.Open(nil, &s.k.Table, tab[i*one:(i+1)*one], ad); err == nil {
			return entries, nil
		}
	}
	return nil, fmt.Errorf("%w: both copies of the sealed table fail authentication", ErrCorrupt)
}

// SealedFiles returns be with every file it puts sealed and every file it
// gets opened by s (SealFile and OpenFile, so a file's name is bound): the
// view garbage collection's leases and plans go through in an encrypted
// repository, so that they neither show machine and process names nor
// can be forged (a forged plan fails to open, and reading plans fails,
// instead of condemning live packs). Listing, Stat and Delete pass
// through; a ranged Get is refused. A nil s returns be itself.
func SealedFiles(be Backend, s *Sealer) Backend {
	if s == nil {
		return be
	}
	return sealedFiles{Backend: be, s: s}
}

type sealedFiles struct {
	Backend
	s *Sealer
}

// maxSealedFile bounds a control file read or written whole.
const maxSealedFile = 256 << 20

func (f sealedFiles) seal(name string, r io.Reader) ([]byte, error) {
	plain, err := io.ReadAll(io.LimitReader(r, maxSealedFile+1))
	if err != nil {
		return nil, err
	}
	if len(plain) > maxSealedFile {
		return nil, fmt.Errorf("object: %s: more than %d bytes to seal", name, maxSealedFile)
	}
	return f.s.SealFile(name, plain)
}

func (f sealedFiles) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	sealed, err := f.seal(name, r)
	if err != nil {
		return err
	}
	return f.Backend.Put(ctx, name, bytes.NewReader(sealed), int64(len(sealed)))
}

// PutNew keeps the inner backend's NewPutter ability (see PutNew).
func (f sealedFiles) PutNew(ctx context.Context, name string, r io.Reader, size int64) (FileInfo, error) {
	sealed, err := f.seal(name, r)
	if err != nil {
		return FileInfo{}, err
	}
	return PutNew(ctx, f.Backend, name, bytes.NewReader(sealed), int64(len(sealed)))
}

func (f sealedFiles) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	if offset != 0 || length >= 0 {
		return nil, fmt.Errorf("object: %s: a sealed file is read whole", name)
	}
	rc, err := f.Backend.Get(ctx, name, 0, -1)
	if err != nil {
		return nil, err
	}
	sealed, err := io.ReadAll(io.LimitReader(rc, maxSealedFile+crypt.Overhead))
	rc.Close()
	if err != nil {
		return nil, err
	}
	plain, err := f.s.OpenFile(name, sealed)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(plain)), nil
}
