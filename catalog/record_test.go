package catalog

import (
	"reflect"
	"testing"
	"time"

	"github.com/silo-dev/silo/object"
)

func TestRecordIndexRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 27, 12, 0, 0, 123456789, time.UTC)
	later := at.Add(time.Hour)
	recs := []*Record{
		{ID: "id-1", Name: "shop-api", Type: TypeGeneration, Status: StatusActive, CreatedAt: at, UpdatedAt: later,
			SizeBytes: 12345, Languages: []string{"Python"}, Frameworks: []string{"fastapi"}, Tags: []string{"a", "b"},
			GitRepository: "https://git.example/x", UserLanguages: []string{"Python"}, Detected: []string{"Python"},
			DetectedFw: []string{"fastapi"}, ArchivedAt: &later, DeletedAt: &at, ArchivePath: "/a/b.tar.gz", Rev: 7,
			ChangedAt: later, ChangeID: "c0ffee", Origin: object.Hash([]byte("meta"))},
		{ID: "id-2", Name: "empty", Type: TypeMigration, Status: StatusDeleted, Languages: []string{}, Frameworks: []string{}, Tags: []string{}},
		{ID: "id-3", Name: "with-excludes", Type: TypeGeneration, Status: StatusActive, Languages: []string{}, Frameworks: []string{},
			Tags: []string{}, Excludes: []string{"dist/", "*.log"}},
	}
	for _, r := range recs {
		got, err := DecodeRecord(r.EncodeIndex())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
		// the JSON form (snapshot and meta blobs) decodes to the same record
		fromJSON, err := DecodeRecord(r.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if fromJSON.Project().Name != got.Project().Name || !reflect.DeepEqual(fromJSON.Project(), got.Project()) {
			t.Errorf("JSON and binary forms differ:\n%+v\n%+v", fromJSON.Project(), got.Project())
		}
	}
	// every truncation is an error, never a panic
	b := recs[0].EncodeIndex()
	for i := 1; i < len(b); i++ {
		if _, err := DecodeRecord(b[:i]); err == nil {
			t.Errorf("truncated to %d bytes: no error", i)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add((&Record{ID: "x", Name: "n", Tags: []string{"t"}}).EncodeIndex())
	f.Add([]byte(`{"project_id":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRecord(data)
		if err != nil {
			return
		}
		if data[0] == RecordBinary || data[0] == RecordBinaryExcludes {
			again, err := DecodeRecord(r.EncodeIndex())
			if err != nil || !reflect.DeepEqual(again, r) {
				t.Fatalf("re-encode: %v", err)
			}
		}
	})
}
