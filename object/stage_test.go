package object

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failingPutter puts files in place through a Local until failAt puts
// have been made, then refuses (a drive that fills up).
type failingPutter struct {
	*Local
	puts, failAt int
}

func (f *failingPutter) PutFile(ctx context.Context, name, path string) error {
	f.puts++
	if f.puts >= f.failAt {
		os.Remove(path)
		return errors.New("no space left on device")
	}
	return f.Local.PutFile(ctx, name, path)
}

// Staged files are put in place in order after their sync; a put that
// fails leaves the earlier files in place, and no file of the batch
// behind in the temporary directory.
func TestStageAndCommit(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	l := NewLocal(root)
	tmp := filepath.Join(root, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	contents := []string{"first pack", "second pack", "third pack"}
	var files []Staged
	for i, c := range contents {
		sf, err := Stage(tmp, "packs/0"+string(rune('a'+i))+"/x", strings.NewReader(c), int64(len(c)))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, sf)
	}
	// a short read is refused and leaves nothing behind
	if _, err := Stage(tmp, "packs/short", strings.NewReader("abc"), 4); err == nil || !strings.Contains(err.Error(), "copied 3 bytes, want 4") {
		t.Errorf("a short copy staged: %v", err)
	}
	n, err := CommitStaged(ctx, &failingPutter{Local: l, failAt: 3}, files)
	if n != 2 || err == nil || !strings.Contains(err.Error(), "no space") {
		t.Fatalf("commit with the third put failing: %d in place, %v", n, err)
	}
	for i, c := range contents {
		rc, gerr := l.Get(ctx, files[i].Name, 0, -1)
		if i >= n {
			if gerr == nil {
				rc.Close()
				t.Errorf("%s is in place after its put failed", files[i].Name)
			}
			continue
		}
		if gerr != nil {
			t.Fatalf("%s: %v", files[i].Name, gerr)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, []byte(c)) {
			t.Errorf("%s holds %q, want %q", files[i].Name, got, c)
		}
		if files[i].Path != "" {
			t.Errorf("file %d not consumed", i)
		}
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("the temporary directory keeps %d files", len(ents))
	}
}
