package object_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/silo-dev/silo/object"
)

// The local backend's per-operation cost, to show that the FS seam under
// it adds nothing measurable beside the system calls: put (temp file,
// write, sync, rename, sync dir), a ranged get, and a stat.

func BenchmarkLocalPut(b *testing.B) {
	be := object.NewLocal(b.TempDir())
	ctx := context.Background()
	data := bytes.Repeat([]byte("silo"), 16<<10)
	b.SetBytes(int64(len(data)))
	i := 0
	for b.Loop() {
		name := fmt.Sprintf("packs/%02x/%08d", i%256, i)
		if err := be.Put(ctx, name, bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkLocalGet(b *testing.B) {
	be := object.NewLocal(b.TempDir())
	ctx := context.Background()
	data := bytes.Repeat([]byte("silo"), 16<<10)
	if err := be.Put(ctx, "packs/ab/pack", bytes.NewReader(data), int64(len(data))); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4<<10)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		rc, err := be.Get(ctx, "packs/ab/pack", 1000, int64(len(buf)))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(rc, buf); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}

func BenchmarkLocalStat(b *testing.B) {
	be := object.NewLocal(b.TempDir())
	ctx := context.Background()
	if err := be.Put(ctx, "config.json", bytes.NewReader([]byte("{}")), 2); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := be.Stat(ctx, "config.json"); err != nil {
			b.Fatal(err)
		}
	}
}
