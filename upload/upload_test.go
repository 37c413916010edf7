package upload_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/internal/testutil"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/object/repotest"
	"github.com/silo-dev/silo/session"
	"github.com/silo-dev/silo/upload"
)

// newBlobs serves uploads over a repository in a temporary directory;
// refuse and quota, when set, are what Writable and Quota answer.
func newBlobs(t *testing.T, refuse, quota *error) (*upload.Blobs, *repotest.Repo) {
	r := repotest.New(t)
	env := &session.Env{Leases: gc.NewLeases(r.BE, gc.LeasesOptions{Machine: "test"}), DB: r.DB, Repo: r.Repo,
		Log: slog.New(slog.DiscardHandler), Shared: true, ListedAt: time.Now,
		Refresh: func(context.Context) error { return nil }}
	closed := errors.New("closed for the test")
	u := upload.New(upload.Options{Repo: r.Repo, TTL: time.Hour, Closed: closed,
		Begin:    func(ctx context.Context) (*session.Session, error) { return session.Begin(ctx, env, gc.KindUpload) },
		Writable: func() error { return *refuse },
		Quota:    func() error { return *quota }})
	t.Cleanup(u.Close)
	return u, r
}

// A blob put is reported present at once and readable before any flush;
// a wrong digest, an oversize blob, a bad type or an undecodable tree is
// refused and stores nothing; Writable refuses both questions, Quota only
// a put (after the blob was checked), and a closed service answers with
// its Closed error.
func TestPutMissingBlob(t *testing.T) {
	ctx := context.Background()
	var refuse, quota error
	u, r := newBlobs(t, &refuse, &quota)
	data := testutil.RandomBytes(1, 100<<10)
	id := object.Hash(data)
	missing, err := u.Missing(ctx, []object.ID{id, id})
	if err != nil || len(missing) != 1 || missing[0] != id {
		t.Fatalf("before the put: missing %v, %v", missing, err)
	}
	res, err := u.Put(ctx, object.DataBlob, id, bytes.NewReader(data))
	if err != nil || res.Exists || res.Size != int64(len(data)) || res.Stored == 0 {
		t.Fatalf("put: %+v, %v", res, err)
	}
	if missing, err := u.Missing(ctx, []object.ID{id}); err != nil || len(missing) != 0 {
		t.Fatalf("after the put: missing %v, %v", missing, err)
	}
	if got, err := u.Blob(ctx, id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Blob of a blob in an open pack: %v", err)
	}
	if res, err := u.Put(ctx, object.DataBlob, id, bytes.NewReader(data)); err != nil || !res.Exists || res.Stored != 0 {
		t.Fatalf("the same blob again: %+v, %v", res, err)
	}

	other := []byte("other bytes")
	for name, c := range map[string]struct {
		t    object.BlobType
		id   object.ID
		body []byte
		want error
	}{
		"digest":   {object.DataBlob, object.Hash([]byte("x")), other, upload.ErrDigestMismatch},
		"type":     {object.SnapshotBlob, object.Hash(other), other, catalog.ErrInvalid},
		"tree":     {object.TreeBlob, object.Hash(other), other, catalog.ErrInvalid},
		"oversize": {object.DataBlob, object.ID{9}, make([]byte, upload.MaxDataBlob+1), catalog.ErrInvalid},
	} {
		_, err := u.Put(ctx, c.t, c.id, bytes.NewReader(c.body))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	if ok, _ := r.Repo.Has(object.Hash(other)); ok {
		t.Fatal("a refused blob was stored")
	}

	quota = errors.New("over quota")
	if _, err := u.Put(ctx, object.DataBlob, object.Hash(other), bytes.NewReader(other)); !errors.Is(err, quota) {
		t.Errorf("put over quota: %v", err)
	}
	if _, err := u.Missing(ctx, []object.ID{id}); err != nil {
		t.Errorf("Missing over quota: %v", err)
	}
	refuse = errors.New("read-only")
	if _, err := u.Missing(ctx, []object.ID{id}); !errors.Is(err, refuse) {
		t.Errorf("Missing when not writable: %v", err)
	}
	refuse, quota = nil, nil
	u.Close()
	if _, err := u.Put(ctx, object.DataBlob, object.Hash(other), bytes.NewReader(other)); err == nil || err.Error() != "closed for the test" {
		t.Errorf("put after Close: %v", err)
	}
}
