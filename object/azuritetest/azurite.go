// Package azuritetest starts Azurite, the Azure Storage emulator (npm
// package azurite), on 127.0.0.1 for tests of the azblob:// backend.
package azuritetest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Version is the Azurite release the tests and .ci/run install.
const Version = "3.37.0"

// DevConnectionString is Azurite's published development account (the
// same for every Azurite install) at endpoint.
func DevConnectionString(endpoint string) string {
	return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;" +
		"AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;" +
		"BlobEndpoint=" + endpoint + "/devstoreaccount1;"
}

// binary finds azurite-blob: SILO_AZURITE, then PATH, then a copy npm
// installs (once) under the temporary directory. "" when there is none and
// npm is missing.
func binary(t testing.TB) string {
	if p := os.Getenv("SILO_AZURITE"); p != "" {
		return p
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p
	}
	dir := filepath.Join(os.TempDir(), "silo-azurite-"+Version)
	bin := filepath.Join(dir, "node_modules", ".bin", "azurite-blob")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return ""
	}
	t.Logf("installing azurite %s with npm into %s", Version, dir)
	out, err := exec.Command(npm, "install", "--silent", "--prefix", dir, "azurite@"+Version).CombinedOutput()
	if err != nil {
		t.Fatalf("npm install azurite@%s: %v\n%s", Version, err, out)
	}
	return bin
}

// Start runs Azurite's blob service on a free loopback port until the test
// ends and returns its endpoint (http://127.0.0.1:PORT). Without Azurite or
// npm the test is skipped, saying so.
func Start(t testing.TB) string {
	t.Helper()
	bin := binary(t)
	if bin == "" {
		t.Skip("no azurite and no npm to install it (npm install azurite@" + Version + ")")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", fmt.Sprint(port), "--location", t.TempDir(),
		"--silent", "--skipApiVersionCheck", "--loose")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(endpoint + "/devstoreaccount1?comp=list")
		if err == nil {
			resp.Body.Close()
			return endpoint
		}
		if time.Now().After(deadline) {
			t.Fatalf("azurite did not answer on %s: %v", endpoint, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
