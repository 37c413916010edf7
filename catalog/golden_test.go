package catalog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
)

// The golden files under testdata/golden/catalog hold the catalogue records
// as repositories keep them: the binary forms in index.db (0x02, written
// now, and 0x01, written before records carried change stamps, which
// index.db files still hold), the JSON form inside snapshot blobs, and
// the meta blobs. Each test encodes fixed inputs and compares bytes, then
// decodes the golden bytes and compares values. A deliberate format
// change: keep the old file as a decode-only fixture (as record-v1.golden
// is), then rewrite with
//
//	go test ./catalog/ -run Golden -update

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

func goldenPath(name string) string {
	return filepath.Join("..", "testdata", "golden", "catalog", name)
}

func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	return testutil.Golden(t, goldenPath(name), got, *update)
}

// fixture reads a decode-only golden file; -update writes it only when it
// is missing (it holds a form no code writes any more).
func fixture(t *testing.T, name string, make func() []byte) []byte {
	t.Helper()
	path := goldenPath(name)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && *update {
		data = make()
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return data
	}
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return data
}

func goldenRecord() *Record {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)
	archived := at.Add(48 * time.Hour)
	deleted := at.Add(72 * time.Hour)
	return &Record{
		ID: "0e4c1f2a-7d3b-4f7e-9a61-2b5c8d9e0f11", Name: "shop-api", Type: TypeGeneration, Status: StatusArchived,
		CreatedAt: at, UpdatedAt: at.Add(time.Hour), SizeBytes: 7 << 30,
		Languages: []string{"Go", "TypeScript"}, Frameworks: []string{"gin", "react"}, Tags: []string{"prod", "team-a"},
		GitRepository: "https://git.example/shop/api.git", UserLanguages: []string{"Go"}, UserFrameworks: []string{"gin"},
		Detected: []string{"Go", "TypeScript"}, DetectedFw: []string{"gin", "react"},
		ArchivedAt: &archived, DeletedAt: &deleted, ArchivePath: "archives/2026/01/0e4c1f2a.tar.gz", Rev: 300,
		ChangedAt: at.Add(2 * time.Hour), ChangeID: "5f0c2a9e8b7d6c41", Origin: object.Hash([]byte("meta blob")),
	}
}

// encodeV1 writes the 0x01 form as record.go documents it: the 0x02 form
// without changed_at, change_id and origin.
func encodeV1(r *Record) []byte {
	b := []byte{RecordBinaryV1}
	for _, s := range []string{r.ID, r.Name, r.Type, r.Status, r.GitRepository, r.ArchivePath} {
		b = appendString(b, s)
	}
	for _, v := range []int64{timeNS(r.CreatedAt), timeNS(r.UpdatedAt), optNS(r.ArchivedAt), optNS(r.DeletedAt), r.SizeBytes} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.AppendUvarint(b, r.Rev)
	for _, l := range [][]string{r.Languages, r.Frameworks, r.Tags, r.UserLanguages, r.UserFrameworks, r.Detected, r.DetectedFw} {
		b = appendList(b, l)
	}
	return b
}

// TestGoldenRecordBinary pins both binary forms of a catalogue record in
// index.db: 0x02 is what encodeIndex writes; 0x01 is a frozen fixture of
// the older form, which must still decode (to the record without its
// change stamp and origin).
func TestGoldenRecordBinary(t *testing.T) {
	want := goldenRecord()
	data := golden(t, "record-v2.golden", want.EncodeIndex())
	if data[0] != 0x02 {
		t.Fatalf("golden record form 0x%02x, want 0x02", data[0])
	}
	got, err := DecodeRecord(data)
	if err != nil {
		t.Fatalf("decode golden record 0x02: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("golden record 0x02 decodes to\n%+v\nwant\n%+v", got, want)
	}

	old := *want
	old.ChangedAt, old.ChangeID, old.Origin = time.Time{}, "", object.ID{}
	v1 := fixture(t, "record-v1.golden", func() []byte { return encodeV1(&old) })
	if v1[0] != 0x01 || !bytes.Equal(v1, encodeV1(&old)) {
		t.Fatalf("record-v1.golden is not the documented 0x01 form of the golden record")
	}
	got, err = DecodeRecord(v1)
	if err != nil {
		t.Fatalf("decode golden record 0x01: %v", err)
	}
	if !reflect.DeepEqual(got, &old) {
		t.Fatalf("golden record 0x01 decodes to\n%+v\nwant\n%+v", got, &old)
	}
	// a 0x01 record re-encoded is the same record in the 0x02 form
	again, err := DecodeRecord(got.EncodeIndex())
	if err != nil || !reflect.DeepEqual(again, &old) {
		t.Fatalf("0x01 record re-encoded as 0x02: %+v, %v", again, err)
	}
}

// TestGoldenRecordJSON pins the JSON form of a record that snapshot blobs
// carry (Snapshot.Project): every field but the origin, which index.db
// alone keeps.
func TestGoldenRecordJSON(t *testing.T) {
	want := goldenRecord()
	data := golden(t, "record.json", want.Encode())
	got, err := DecodeRecord(data)
	if err != nil {
		t.Fatalf("decode golden record JSON: %v", err)
	}
	want.Origin = object.ID{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("golden record JSON decodes to\n%+v\nwant\n%+v", got, want)
	}
}

// TestGoldenMeta pins the meta blobs: a project record, a template record
// and a forget record, as EncodeMeta writes them and store's applyCatalogue reads
// them.
func TestGoldenMeta(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	proj := goldenRecord()
	proj.Origin = object.ID{} // not in the JSON form
	metas := map[string]Meta{
		"meta-project.json": {Kind: "project", Time: at, Project: proj},
		"meta-template.json": {Kind: "template", Time: at, Template: &TemplateRecord{Name: "go-service", Category: "backend",
			Snapshot: object.Hash([]byte("tpl")).String(), CreatedAt: at, Rev: 2, ChangedAt: at.Add(time.Second), ChangeID: "aa01"}},
		"meta-template-removed.json": {Kind: "template", Time: at, Template: &TemplateRecord{Name: "old", Removed: true, Rev: 9,
			Snapshot: object.Hash([]byte("old")).String(), CreatedAt: at}},
		"meta-forget.json": {Kind: "forget", Time: at, Forget: &Forget{ProjectID: proj.ID,
			Snapshots: []string{object.Hash([]byte("v1")).String(), object.Hash([]byte("v2")).String()}}},
	}
	for name, m := range metas {
		t.Run(name, func(t *testing.T) {
			enc, err := EncodeMeta(m)
			if err != nil {
				t.Fatal(err)
			}
			data := golden(t, name, enc)
			var got Meta
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("decode golden meta: %v", err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Fatalf("golden meta decodes to\n%+v\nwant\n%+v", got, m)
			}
		})
	}
}
