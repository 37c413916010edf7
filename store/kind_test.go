package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

// Every error silo's layers return lands in one kind, wrapped however
// deep, and a kind survives the trip through an API error code.
func TestKindOf(t *testing.T) {
	cases := []struct {
		err          error
		code         string
		exit, status int
	}{
		{nil, "ok", 0, 200},
		{errors.New("something else"), "internal", 1, 500},
		{context.Canceled, "canceled", 130, 499},
		{fmt.Errorf("restore a/b: %w", object.ErrCorrupt), "corrupt", 3, 500},
		{fmt.Errorf("x: %w", object.ErrBadPack), "corrupt", 3, 500},
		{fmt.Errorf("x: %w", snapshot.ErrBadSnapshot), "corrupt", 3, 500},
		{fmt.Errorf("x: %w", index.ErrDamaged), "index_damaged", 3, 500},
		{fmt.Errorf("x: %w", ErrCheckFailed), "check_failed", 3, 500},
		{fmt.Errorf("x: %w", gc.ErrMissing), "check_failed", 3, 500},
		{fmt.Errorf("x: %w", object.ErrBlobNotFound), "blob_not_found", 3, 404},
		{fmt.Errorf("x: %w", index.ErrBusy), "busy", 4, 503},
		{fmt.Errorf("x: %w", gc.ErrBusy), "busy", 4, 503},
		{fmt.Errorf("x: %w", ErrProjectNotFound), "not_found", 5, 404},
		{fmt.Errorf("x: %w", ErrSnapshotNotFound), "not_found", 5, 404},
		{fmt.Errorf("x: %w", snapshot.ErrNotFound), "not_found", 5, 404},
		{fmt.Errorf("x: %w", ErrNoRepository), "no_repository", 5, 503},
		{fmt.Errorf("x: %w", object.ErrNoRepository), "no_repository", 5, 503},
		{fmt.Errorf("x: %w", ErrQuota), "quota_exceeded", 6, 413},
		{fmt.Errorf("x: %w", snapshot.ErrLimit), "quota_exceeded", 6, 413},
		{fmt.Errorf("x: %w", ErrConflict), "conflict", 7, 409},
		{fmt.Errorf("x: %w", ErrInvalid), "invalid", 2, 400},
		{fmt.Errorf("x: %w", snapshot.ErrEntryLimit), "invalid", 2, 400},
		{fmt.Errorf("x: %w", snapshot.ErrUnsafePath), "unsafe_path", 2, 422},
		{fmt.Errorf("x: %w", snapshot.ErrPathLimit), "unsafe_path", 2, 422},
		{fmt.Errorf("x: %w", snapshot.ErrBadTar), "bad_tar", 2, 400},
		{fmt.Errorf("x: %w", ErrDestinationChanged), "destination_changed", 1, 409},
		// the first kind in the table wins
		{fmt.Errorf("%w while reading: %w", context.Canceled, object.ErrCorrupt), "canceled", 130, 499},
	}
	for _, c := range cases {
		k := KindOf(c.err)
		if k.Code != c.code || k.Exit != c.exit || k.Status != c.status {
			t.Errorf("KindOf(%v) = %s/exit %d/status %d, want %s/%d/%d", c.err, k.Code, k.Exit, k.Status, c.code, c.exit, c.status)
		}
	}
	for _, k := range kinds {
		back := KindOfCode(k.Code)
		if back.Code != k.Code || KindOf(back.Err()).Code != k.Code {
			t.Errorf("code %s: back %s, its error classifies as %s", k.Code, back.Code, KindOf(back.Err()).Code)
		}
		seen := 0
		for _, o := range kinds {
			if o.Code == k.Code {
				seen++
			}
		}
		if seen != 1 {
			t.Errorf("code %s is used by %d kinds", k.Code, seen)
		}
	}
	if k := KindOfCode("no such code"); k.Code != "internal" || k.Err() != nil {
		t.Errorf("an unknown code: %+v", k)
	}
}
