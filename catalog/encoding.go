package catalog

import (
	"encoding/binary"
	"time"
)

// The catalogue keeps records in index.db in a compact binary form (listing
// 10,000 projects decodes 10,000 records); snapshot and meta blobs carry
// them as JSON. DecodeRecord reads both.
//
//	0x01 | id | name | type | status | git_repository | archive_path
//	| created_at | updated_at | archived_at | deleted_at (varint ns, 0: unset)
//	| size_bytes (varint) | rev (uvarint)
//	| languages | frameworks | tags | user_languages | user_frameworks
//	| detected_languages | detected_frameworks
//
// strings are uvarint length + bytes; lists are uvarint count + strings.
// Form 0x02 (written since records carry their change stamp) appends
//
//	| changed_at (varint ns) | change_id | origin (32 bytes or empty)
//
// where origin, kept in index.db only, is the meta blob that carries the
// record (gc keeps it; see ApplyRecord). Form 0x03, written only for a record
// with default excludes (so older silos read every other record), appends
//
//	| excludes (list)
const (
	RecordBinaryV1       = 0x01
	RecordBinary         = 0x02
	RecordBinaryExcludes = 0x03
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendList(b []byte, l []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

func timeNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func optNS(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return timeNS(*t)
}

// encodeIndex returns the record's index.db form.
func (r *Record) EncodeIndex() []byte {
	b := make([]byte, 0, 256)
	if len(r.Excludes) > 0 {
		b = append(b, RecordBinaryExcludes)
	} else {
		b = append(b, RecordBinary)
	}
	for _, s := range []string{r.ID, r.Name, r.Type, r.Status, r.GitRepository, r.ArchivePath} {
		b = appendString(b, s)
	}
	for _, t := range []int64{timeNS(r.CreatedAt), timeNS(r.UpdatedAt), optNS(r.ArchivedAt), optNS(r.DeletedAt), r.SizeBytes} {
		b = binary.AppendVarint(b, t)
	}
	b = binary.AppendUvarint(b, r.Rev)
	for _, l := range [][]string{r.Languages, r.Frameworks, r.Tags, r.UserLanguages, r.UserFrameworks, r.Detected, r.DetectedFw} {
		b = appendList(b, l)
	}
	b = binary.AppendVarint(b, timeNS(r.ChangedAt))
	b = appendString(b, r.ChangeID)
	if r.Origin.IsZero() {
		b = appendString(b, "")
	} else {
		b = appendString(b, string(r.Origin[:]))
	}
	if len(r.Excludes) > 0 {
		b = appendList(b, r.Excludes)
	}
	return b
}

type recordReader struct {
	b   []byte
	err error
}

func (rr *recordReader) uvarint() uint64 {
	if rr.err != nil {
		return 0
	}
	v, n := binary.Uvarint(rr.b)
	if n <= 0 {
		rr.err = ErrBadRecord
		return 0
	}
	rr.b = rr.b[n:]
	return v
}

func (rr *recordReader) varint() int64 {
	if rr.err != nil {
		return 0
	}
	v, n := binary.Varint(rr.b)
	if n <= 0 {
		rr.err = ErrBadRecord
		return 0
	}
	rr.b = rr.b[n:]
	return v
}

func (rr *recordReader) str() string {
	n := rr.uvarint()
	if rr.err != nil || n > uint64(len(rr.b)) {
		rr.err = ErrBadRecord
		return ""
	}
	s := string(rr.b[:n])
	rr.b = rr.b[n:]
	return s
}

func (rr *recordReader) list() []string {
	n := rr.uvarint()
	if rr.err != nil || n > uint64(len(rr.b)) {
		rr.err = ErrBadRecord
		return nil
	}
	l := make([]string, 0, n)
	for range n {
		l = append(l, rr.str())
	}
	return l
}

func nsTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func nsOpt(ns int64) *time.Time {
	if ns == 0 {
		return nil
	}
	t := nsTime(ns)
	return &t
}

// decodeIndexRecord decodes the binary form.
func decodeIndexRecord(data []byte) (*Record, error) {
	rr := &recordReader{b: data[1:]}
	r := &Record{}
	r.ID, r.Name, r.Type, r.Status, r.GitRepository, r.ArchivePath = rr.str(), rr.str(), rr.str(), rr.str(), rr.str(), rr.str()
	r.CreatedAt, r.UpdatedAt = nsTime(rr.varint()), nsTime(rr.varint())
	r.ArchivedAt, r.DeletedAt = nsOpt(rr.varint()), nsOpt(rr.varint())
	r.SizeBytes = rr.varint()
	r.Rev = rr.uvarint()
	r.Languages, r.Frameworks, r.Tags = rr.list(), rr.list(), rr.list()
	r.UserLanguages, r.UserFrameworks, r.Detected, r.DetectedFw = rr.list(), rr.list(), rr.list(), rr.list()
	if data[0] >= RecordBinary {
		r.ChangedAt = nsTime(rr.varint())
		r.ChangeID = rr.str()
		switch o := rr.str(); len(o) {
		case 0:
		case 32:
			copy(r.Origin[:], o)
		default:
			rr.err = ErrBadRecord
		}
	}
	if data[0] == RecordBinaryExcludes {
		r.Excludes = rr.list()
	}
	if rr.err == nil && len(rr.b) != 0 {
		rr.err = ErrBadRecord
	}
	if rr.err != nil {
		return nil, rr.err
	}
	// match the JSON form: absent optional lists stay nil
	for _, l := range []*[]string{&r.UserLanguages, &r.UserFrameworks, &r.Detected, &r.DetectedFw, &r.Excludes} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return r, nil
}
