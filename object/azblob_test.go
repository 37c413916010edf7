package object_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/object/azuritetest"
	"github.com/silo-dev/silo/object/backendtest"
)

// TestAzureBlobConformance runs the backend suite against Azurite on
// 127.0.0.1: a prefix per test in one container, and a container per
// test, created on first use.
func TestAzureBlobConformance(t *testing.T) {
	opts := object.AzureOptions{ConnectionString: azuritetest.DevConnectionString(azuritetest.Start(t))}
	var n atomic.Int64
	open := func(t *testing.T, loc string) object.Backend {
		be, err := object.NewAzureBlob(context.Background(), loc, opts)
		if err != nil {
			t.Fatal(err)
		}
		if be.Location() != strings.TrimSuffix(loc, "/") {
			t.Fatalf("Location() = %q for %q", be.Location(), loc)
		}
		return be
	}
	t.Run("PrefixPerTest", func(t *testing.T) {
		backendtest.Run(t, func(t *testing.T) object.Backend {
			return open(t, fmt.Sprintf("azblob://silo-conformance/repos/r%03d", n.Add(1)))
		})
	})
	t.Run("ContainerPerTest", func(t *testing.T) {
		backendtest.Run(t, func(t *testing.T) object.Backend {
			return open(t, fmt.Sprintf("azblob://silo-c%03d", n.Add(1)))
		})
	})
	// wrong credentials fail at once, naming the container
	bad := opts
	bad.ConnectionString = strings.Replace(bad.ConnectionString, "AccountKey=Eby8", "AccountKey=Xby8", 1)
	if _, err := object.NewAzureBlob(context.Background(), "azblob://silo-bad/x", bad); err == nil || !strings.Contains(err.Error(), "silo-bad") {
		t.Errorf("wrong key: %v", err)
	}
	for _, loc := range []string{"azblob://A-Upper/x", "azblob://ab", "s3://x/y"} {
		if _, _, err := object.ParseAzureURL(loc); err == nil {
			t.Errorf("ParseAzureURL(%q) accepted", loc)
		}
	}
}
