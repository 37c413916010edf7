package object_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httputil"
	"testing"
)

func TestZZDebugEmpty(t *testing.T) {
	f := newFakeS3(t)
	b := f.newBucket(t)
	be := f.open(t, "s3://"+b+"/x", f.options())
	f.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, _ := httputil.DumpRequest(r, false)
		t.Logf("%s", d)
		f.s3.ServeHTTP(w, r)
	})
	t.Log(be.Put(context.Background(), "e", bytes.NewReader(nil), 0))
}
