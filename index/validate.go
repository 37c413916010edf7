package index

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's file format (v1.4, format version 2), as far as validate reads
// it: pages 0 and 1 are meta pages, each a 16-byte page header followed by
//
//	magic u32 | version u32 | page size u32 | flags u32 | root pgid u64
//	| root sequence u64 | freelist pgid u64 | high-water pgid u64 | txid u64
//	| checksum u64
//
// in the machine's byte order, the checksum being FNV-1a 64 of the 56 bytes
// before it. bbolt itself trusts a meta page that passes these checks and
// maps the whole file; a file cut short then faults when a page past its
// end is read (SIGBUS), which is why Open checks the high-water mark
// against the file's size first.
const (
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
	pageHeaderSize = 16
	metaSize       = 64
	noFreelist     = ^uint64(0)
)

type boltMeta struct {
	pageSize         uint32
	root, free, high uint64
	txid             uint64
}

// parseMeta decodes and checks one meta page's body.
func parseMeta(b []byte) (boltMeta, error) {
	var m boltMeta
	if len(b) < metaSize {
		return m, fmt.Errorf("meta page cut short")
	}
	ne := binary.NativeEndian
	if ne.Uint32(b[0:]) != boltMagic {
		return m, fmt.Errorf("not a bbolt file (bad magic)")
	}
	if v := ne.Uint32(b[4:]); v != boltVersion {
		return m, fmt.Errorf("bbolt format version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != ne.Uint64(b[56:]) {
		return m, fmt.Errorf("meta page checksum mismatch")
	}
	m.pageSize = ne.Uint32(b[8:])
	m.root, m.free, m.high, m.txid = ne.Uint64(b[16:]), ne.Uint64(b[32:]), ne.Uint64(b[40:]), ne.Uint64(b[48:])
	if m.pageSize < 512 || m.pageSize > 1<<20 || m.pageSize&(m.pageSize-1) != 0 {
		return m, fmt.Errorf("page size %d", m.pageSize)
	}
	if m.root >= m.high || (m.free != noFreelist && m.free >= m.high) || m.high < 4 {
		return m, fmt.Errorf("page ids out of range (root %d, freelist %d, high-water %d)", m.root, m.free, m.high)
	}
	return m, nil
}

// validate checks index.db before bbolt maps it: at least one intact meta
// page, and a file long enough for every page that meta page counts. It
// returns an error wrapping ErrDamaged that says what is wrong.
func validate(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	damaged := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s; run `silo index rebuild` to rebuild it from the packs",
			ErrDamaged, path, fmt.Sprintf(format, a...))
	}
	if st.Size() == 0 {
		return damaged("the file is empty")
	}
	head := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(head, 0); err != nil {
		if err == io.EOF {
			return damaged("the file is only %d bytes long", st.Size())
		}
		return err
	}
	var best *boltMeta
	var reasons []string
	m0, err0 := parseMeta(head[pageHeaderSize:])
	if err0 == nil {
		best = &m0
	} else {
		reasons = append(reasons, "meta page 0: "+err0.Error())
	}
	// the second meta page sits one page further; its size comes from the
	// first one, or bbolt's default when the first is unreadable
	pageSize := int64(4096)
	if best != nil {
		pageSize = int64(best.pageSize)
	}
	second := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(second, pageSize); err == nil {
		m1, err1 := parseMeta(second[pageHeaderSize:])
		switch {
		case err1 != nil:
			reasons = append(reasons, "meta page 1: "+err1.Error())
		case best == nil || m1.txid > best.txid:
			best = &m1
		}
	} else {
		reasons = append(reasons, "meta page 1: missing")
	}
	if best == nil {
		return damaged("no intact meta page (%s)", reasons[0])
	}
	if need := int64(best.high) * int64(best.pageSize); st.Size() < need {
		return damaged("the file is %d bytes long, its pages need %d (cut short)", st.Size(), need)
	}
	return nil
}
