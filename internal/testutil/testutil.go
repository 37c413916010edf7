// Package testutil holds the helpers several packages' tests share. It
// imports nothing of silo, so any package's tests may use it.
package testutil

import (
	"encoding/binary"
	"math/rand/v2"
	"os"
	"testing"
)

// FlipByte XORs the byte at off in the file at path with mask: the damage
// tests' one way of corrupting a pack, an index or a restored file.
func FlipByte(t testing.TB, path string, off int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatalf("read %s at %d: %v", path, off, err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatalf("write %s at %d: %v", path, off, err)
	}
}

// Long reports whether the heavy variants of the tests run
// (SILO_LONG_TESTS=1).
func Long() bool { return os.Getenv("SILO_LONG_TESTS") == "1" }

// RandomBytes returns n incompressible bytes determined by seed (the same
// bytes on every machine and run).
func RandomBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	key[31] = 0x5a
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}
