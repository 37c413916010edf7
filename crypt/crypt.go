// Package crypt holds the primitives of silo's encryption at rest, as
// docs/encryption-design.md sets them out (with its second reading): a
// random master key wrapped per password in key files (scrypt with
// bounded parameters, which the associated data binds), subkeys derived
// from the master key, XChaCha20-Poly1305 sealing with associated data,
// and keyed BLAKE3 blob ids.
//
// object.Sealer applies it to packs, tables and files; package keyring
// keeps the key files and the sealed config. It is its own package so the construction
// can be read and tested apart.
package crypt

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
	"golang.org/x/crypto/scrypt"
)

// MasterKeySize is the length of the master key.
const MasterKeySize = 64

var (
	// ErrWrongPassword means no key file opened with the password.
	ErrWrongPassword = errors.New("crypt: wrong password")
	// ErrAuth means sealed data failed authentication: damaged, forged,
	// or opened with the wrong key or associated data.
	ErrAuth = errors.New("crypt: authentication failed")
	// ErrKDFParams means a key file asks for scrypt parameters outside the
	// bounds (a forged key file must not exhaust memory or time).
	ErrKDFParams = errors.New("crypt: scrypt parameters out of bounds")
)

// MasterKey is the repository's root secret.
type MasterKey [MasterKeySize]byte

// NewMasterKey returns a random master key.
func NewMasterKey() (MasterKey, error) {
	var k MasterKey
	_, err := io.ReadFull(rand.Reader, k[:])
	return k, err
}

// Keys are the subkeys of a master key, each for one use.
type Keys struct {
	Blob    [32]byte // AEAD of blobs
	Table   [32]byte // AEAD of pack tables, the sealed config, records
	Control [32]byte // derived, unused: leases and gc records are sealed with Table, bound to their names
	IDKey   [32]byte // keyed BLAKE3 of blob ids

	// hashers keeps keyed BLAKE3 hashers for BlobID: setting one up
	// costs more than hashing a small blob
	hashers *sync.Pool
}

// Derive splits the master key into its subkeys with HKDF-SHA256, one info
// string per use, so no two uses share a key.
func (m *MasterKey) Derive() Keys {
	var k Keys
	for _, d := range []struct {
		info string
		out  *[32]byte
	}{{"silo blob encryption v1", &k.Blob}, {"silo table encryption v1", &k.Table},
		{"silo control v1", &k.Control}, {"silo blob id v1", &k.IDKey}} {
		r := hkdf.New(sha256.New, m[:], nil, []byte(d.info))
		if _, err := io.ReadFull(r, d.out[:]); err != nil {
			panic(err) // HKDF-SHA256 yields 255*32 bytes; 32 never fails
		}
	}
	k.poolHashers()
	return k
}

// IDKeys returns Keys that compute blob ids alone, from the id key (a
// client of the HTTP blob protocol holds nothing else).
func IDKeys(idKey []byte) (*Keys, error) {
	if len(idKey) != 32 {
		return nil, fmt.Errorf("crypt: an id key of %d bytes, want 32", len(idKey))
	}
	k := &Keys{}
	copy(k.IDKey[:], idKey)
	k.poolHashers()
	return k, nil
}

func (k *Keys) poolHashers() {
	idKey := k.IDKey
	k.hashers = &sync.Pool{New: func() any {
		h, err := blake3.NewKeyed(idKey[:])
		if err != nil {
			panic(err) // a 32-byte key is always accepted
		}
		return h
	}}
}

// BlobID is the blob id of plain data in an encrypted repository: BLAKE3
// keyed with the id key, so a known file's id cannot be computed without it.
func (k *Keys) BlobID(data []byte) [32]byte {
	if k.hashers == nil {
		return keyedHash(&k.IDKey, data)
	}
	h := k.hashers.Get().(*blake3.Hasher)
	h.Reset()
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	k.hashers.Put(h)
	return out
}

func keyedHash(key *[32]byte, data []byte) [32]byte {
	h, err := blake3.NewKeyed(key[:])
	if err != nil {
		panic(err) // a 32-byte key is always accepted
	}
	h.Write(data)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Seal encrypts plain with key, binding ad, and returns nonce || ciphertext
// appended to dst. The 24-byte nonce is random (XChaCha20-Poly1305 makes
// random nonces safe at any practical count).
func Seal(dst []byte, key *[32]byte, plain, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	off := len(dst)
	dst = append(dst, make([]byte, aead.NonceSize())...)
	if _, err := io.ReadFull(rand.Reader, dst[off:]); err != nil {
		return nil, err
	}
	return aead.Seal(dst, dst[off:off+aead.NonceSize()], plain, ad), nil
}

// Open reverses Seal; any change to sealed or ad fails with ErrAuth.
func Open(dst []byte, key *[32]byte, sealed, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a nonce and a tag", ErrAuth, len(sealed))
	}
	out, err := aead.Open(dst, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], ad)
	if err != nil {
		return nil, ErrAuth
	}
	return out, nil
}

// Overhead is what Seal adds to a plaintext.
const Overhead = chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead

// KDF are a key file's scrypt parameters.
type KDF struct {
	N    int    `json:"N"`
	R    int    `json:"r"`
	P    int    `json:"p"`
	Salt []byte `json:"salt"`
}

// Bounds on what a key file may ask for: at most 1 GiB of memory
// (128*N*r bytes) and a salt of 16 to 64 bytes.
const (
	maxKDFMemory = 1 << 30
	maxKDFWork   = 4 << 30
)

// DefaultKDF is what new key files use: N=2^16, r=8, p=1 (64 MiB, as
// kopia's default; many silo processes may derive at once).
func DefaultKDF() (KDF, error) {
	k := KDF{N: 1 << 16, R: 8, P: 1, Salt: make([]byte, 32)}
	_, err := io.ReadFull(rand.Reader, k.Salt)
	return k, err
}

// Check refuses parameters outside the bounds.
func (k KDF) Check() error {
	switch {
	case k.N < 1<<14 || k.N&(k.N-1) != 0:
		return fmt.Errorf("%w: N=%d (a power of two, at least 2^14)", ErrKDFParams, k.N)
	case k.R < 1 || k.R > 32 || k.P < 1 || k.P > 16:
		return fmt.Errorf("%w: r=%d p=%d", ErrKDFParams, k.R, k.P)
	case int64(128)*int64(k.N)*int64(k.R) > maxKDFMemory:
		return fmt.Errorf("%w: N=%d r=%d needs more than 1 GiB", ErrKDFParams, k.N, k.R)
	case int64(128)*int64(k.N)*int64(k.R)*int64(k.P) > maxKDFWork:
		// p repeats the work: bound the time a key file may cost too
		return fmt.Errorf("%w: N=%d r=%d p=%d is more work than 4 GiB of memory passes", ErrKDFParams, k.N, k.R, k.P)
	case len(k.Salt) < 16 || len(k.Salt) > 64:
		return fmt.Errorf("%w: a salt of %d bytes", ErrKDFParams, len(k.Salt))
	}
	return nil
}

// KeyFile is one password's wrapping of the master key, stored as
// keys/<ID>.json. The associated data of the wrapped key binds the file's
// id, its KDF parameters and salt, so none can be swapped.
type KeyFile struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Host    string    `json:"host,omitempty"`
	User    string    `json:"user,omitempty"`
	KDF     string    `json:"kdf"` // "scrypt"
	Params  KDF       `json:"params"`
	Data    []byte    `json:"data"` // nonce || sealed master key
}

func (f *KeyFile) ad() []byte {
	b, _ := json.Marshal(struct {
		V      string `json:"v"`
		ID     string `json:"id"`
		KDF    string `json:"kdf"`
		Params KDF    `json:"params"`
	}{"silo key v1", f.ID, f.KDF, f.Params})
	return b
}

// Wrap seals master under password into a new key file named id.
func Wrap(master *MasterKey, password []byte, id string, kdf KDF) (*KeyFile, error) {
	if err := kdf.Check(); err != nil {
		return nil, err
	}
	f := &KeyFile{ID: id, Created: time.Now().UTC(), KDF: "scrypt", Params: kdf}
	kek, err := f.kek(password)
	if err != nil {
		return nil, err
	}
	if f.Data, err = Seal(nil, &kek, master[:], f.ad()); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *KeyFile) kek(password []byte) ([32]byte, error) {
	var kek [32]byte
	if f.KDF != "scrypt" {
		return kek, fmt.Errorf("%w: kdf %q", ErrKDFParams, f.KDF)
	}
	if err := f.Params.Check(); err != nil {
		return kek, err
	}
	b, err := scrypt.Key(password, f.Params.Salt, f.Params.N, f.Params.R, f.Params.P, 32)
	if err != nil {
		return kek, err
	}
	copy(kek[:], b)
	return kek, nil
}

// Unwrap opens the key file with password: ErrWrongPassword when the
// password (or the file) does not match.
func (f *KeyFile) Unwrap(password []byte) (MasterKey, error) {
	var m MasterKey
	kek, err := f.kek(password)
	if err != nil {
		return m, err
	}
	plain, err := Open(nil, &kek, f.Data, f.ad())
	if err != nil || len(plain) != MasterKeySize {
		return m, fmt.Errorf("%w (key %s)", ErrWrongPassword, f.ID)
	}
	copy(m[:], plain)
	return m, nil
}

// MaxKeyFiles bounds how many key files an open tries: each costs a
// memory-hard derivation.
const MaxKeyFiles = 20

// UnwrapAny tries the key files in order (at most MaxKeyFiles) and returns
// the master key and the file that opened it. A key file it cannot use
// (parameters out of bounds, another KDF: damaged, forged or from a later
// silo) is passed over, so it cannot lock out the others.
func UnwrapAny(files []*KeyFile, password []byte) (MasterKey, *KeyFile, error) {
	return UnwrapFirst(files, password, nil)
}

// UnwrapFirst is UnwrapAny that takes only a master key accept approves
// (nil: any): a key file that unwraps to a key accept refuses (another
// repository's, left by a concurrent init) counts as one tried. accept's
// error, when no key is accepted, is the one returned.
func UnwrapFirst(files []*KeyFile, password []byte, accept func(MasterKey) error) (MasterKey, *KeyFile, error) {
	tried, unusable := 0, 0
	var lastErr, refused error
	for _, f := range files {
		if tried == MaxKeyFiles {
			break
		}
		tried++
		m, err := f.Unwrap(password)
		if err == nil && accept != nil {
			if refused = accept(m); refused != nil {
				continue
			}
		}
		if err == nil {
			return m, f, nil
		}
		if !errors.Is(err, ErrWrongPassword) {
			unusable++
			lastErr = err
		}
	}
	if refused != nil {
		return MasterKey{}, nil, refused
	}
	if unusable > 0 {
		return MasterKey{}, nil, fmt.Errorf("%w: tried %d key file(s), %d of them unusable (%v)", ErrWrongPassword, tried, unusable, lastErr)
	}
	return MasterKey{}, nil, fmt.Errorf("%w: tried %d key file(s)", ErrWrongPassword, tried)
}
