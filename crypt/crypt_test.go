package crypt

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/zeebo/blake3"
)

// testKDF is the smallest allowed cost, so the tests stay fast.
func testKDF(t *testing.T) KDF {
	k, err := DefaultKDF()
	if err != nil {
		t.Fatal(err)
	}
	k.N = 1 << 14
	return k
}

func TestWrapUnwrap(t *testing.T) {
	m, err := NewMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	f, err := Wrap(&m, []byte("correct horse"), "k1", testKDF(t))
	if err != nil {
		t.Fatal(err)
	}
	// a key file survives its JSON form
	b, _ := json.Marshal(f)
	var g KeyFile
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	got, err := g.Unwrap([]byte("correct horse"))
	if err != nil || got != m {
		t.Fatalf("unwrap: %v", err)
	}
	if _, err := g.Unwrap([]byte("wrong")); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	// the parameters are bound: a key file whose id or salt was changed,
	// or whose cost was lowered, does not open
	for name, mod := range map[string]func(*KeyFile){
		"id":   func(k *KeyFile) { k.ID = "k2" },
		"salt": func(k *KeyFile) { k.Params.Salt = append([]byte{}, k.Params.Salt...); k.Params.Salt[0] ^= 1 },
		"r":    func(k *KeyFile) { k.Params.R = 4 },
		"data": func(k *KeyFile) { k.Data = append([]byte{}, k.Data...); k.Data[len(k.Data)-1] ^= 1 },
	} {
		h := g
		mod(&h)
		if _, err := h.Unwrap([]byte("correct horse")); !errors.Is(err, ErrWrongPassword) {
			t.Errorf("key file with a changed %s: %v", name, err)
		}
	}
	// forged costs are refused before any derivation
	for _, p := range []KDF{{N: 1 << 30, R: 8, P: 1, Salt: g.Params.Salt}, {N: 1000, R: 8, P: 1, Salt: g.Params.Salt},
		{N: 1 << 14, R: 8, P: 1, Salt: []byte("short")}, {N: 1 << 14, R: 64, P: 1, Salt: g.Params.Salt}} {
		h := g
		h.Params = p
		if _, err := h.Unwrap([]byte("correct horse")); !errors.Is(err, ErrKDFParams) {
			t.Errorf("params %+v: %v", p, err)
		}
	}
	// several passwords for one master key
	f2, _ := Wrap(&m, []byte("second"), "k2", testKDF(t))
	got, which, err := UnwrapAny([]*KeyFile{f, f2}, []byte("second"))
	if err != nil || got != m || which.ID != "k2" {
		t.Fatalf("UnwrapAny: %v %v", which, err)
	}
	if _, _, err := UnwrapAny([]*KeyFile{f, f2}, []byte("none")); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("UnwrapAny with no match: %v", err)
	}
}

func TestSealBindsAssociatedData(t *testing.T) {
	m, _ := NewMasterKey()
	k := m.Derive()
	plain := []byte("file contents and names")
	id := k.BlobID(plain)
	sealed, err := Seal(nil, &k.Blob, plain, id[:])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) || len(sealed) != len(plain)+Overhead {
		t.Fatal("the plaintext shows, or the overhead is not as documented")
	}
	got, err := Open(nil, &k.Blob, sealed, id[:])
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %v", err)
	}
	other := k.BlobID([]byte("another blob"))
	if _, err := Open(nil, &k.Blob, sealed, other[:]); !errors.Is(err, ErrAuth) {
		t.Errorf("opened under another blob's id: %v", err)
	}
	if _, err := Open(nil, &k.Table, sealed, id[:]); !errors.Is(err, ErrAuth) {
		t.Errorf("opened with the table key: %v", err)
	}
	sealed[30] ^= 1
	if _, err := Open(nil, &k.Blob, sealed, id[:]); !errors.Is(err, ErrAuth) {
		t.Errorf("a flipped byte opened: %v", err)
	}
	if _, err := Open(nil, &k.Blob, sealed[:10], id[:]); !errors.Is(err, ErrAuth) {
		t.Errorf("a truncated blob opened: %v", err)
	}
	// two seals of one plaintext differ (random nonces)
	a, _ := Seal(nil, &k.Blob, plain, id[:])
	b, _ := Seal(nil, &k.Blob, plain, id[:])
	if bytes.Equal(a, b) {
		t.Error("two seals are equal")
	}
}

func TestSubkeysAndIDs(t *testing.T) {
	m, _ := NewMasterKey()
	k := m.Derive()
	if k.Blob == k.Table || k.Table == k.Control || k.Control == k.IDKey || k.Blob == k.IDKey {
		t.Fatal("two uses share a subkey")
	}
	if k2 := m.Derive(); k2.Blob != k.Blob || k2.Table != k.Table || k2.Control != k.Control || k2.IDKey != k.IDKey {
		t.Fatal("derivation is not deterministic")
	}
	// pooled hashers give what a fresh keyed hasher gives, over and over
	for i := range 3 {
		d := []byte(strings.Repeat("x", i*1000))
		ik, err := IDKeys(k.IDKey[:])
		if err != nil || k.BlobID(d) != keyedHash(&k.IDKey, d) || ik.BlobID(d) != k.BlobID(d) {
			t.Fatalf("pooled keyed id %d differs", i)
		}
	}
	data := []byte("a well-known file")
	plainID := blake3.Sum256(data)
	if id := k.BlobID(data); id == plainID || id != k.BlobID(data) {
		t.Fatal("the keyed id equals the plain hash, or is not deterministic")
	}
	m2, _ := NewMasterKey()
	k2 := m2.Derive()
	if k2.BlobID(data) == k.BlobID(data) {
		t.Fatal("two repositories give one file the same id")
	}
}
