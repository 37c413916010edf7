package main

// Process tests of damage that must never spread (issue "Damage never
// spreads"): a damaged or empty index.db, a pack whose table is damaged,
// a killed index rebuild.

import (
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/silo-dev/silo/object"
)

// damageRepo stores two versions of a project and returns the repository,
// the versions and their manifests.
func damageRepo(t *testing.T, mib int) (repo string, ids []string, mans []manifest, work string) {
	t.Helper()
	repo = filepath.Join(t.TempDir(), "repo")
	work = filepath.Join(t.TempDir(), "work")
	genCorpus(t, work, 9, mib)
	for i := range 2 {
		if i > 0 {
			mutate(t, work, 90, 1)
		}
		ids = append(ids, storeVersion(t, repo, "proj", work))
		mans = append(mans, takeManifest(t, work))
	}
	return repo, ids, mans, work
}

// A damaged index.db (empty, cut short, or scribbled over) is reported
// with exit code 3 by every command, never crashes one and never lets gc
// delete anything; `silo index rebuild` rebuilds it without a manual step.
func TestDamagedIndexDB(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, path string){
		"empty":     func(t *testing.T, path string) { os.Truncate(path, 0) },
		"cut short": func(t *testing.T, path string) { os.Truncate(path, 8192) },
		"scribbled": func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			r := rand.New(rand.NewPCG(1, 2))
			buf := make([]byte, st.Size())
			for i := range buf {
				buf[i] = byte(r.Uint32())
			}
			f.WriteAt(buf, 0)
		},
	} {
		t.Run(name, func(t *testing.T) {
			repo, ids, mans, _ := damageRepo(t, 4)
			// garbage gc would delete, were it to run
			other := filepath.Join(t.TempDir(), "other")
			genCorpus(t, other, 10, 2)
			storeVersion(t, repo, "other", other)
			mustRun(t, repo, "delete", "--hard", "other")
			packs := countPacks(t, repo)
			damage(t, filepath.Join(repo, "index.db"))
			for _, args := range [][]string{{"projects", "list"}, {"check"}, {"gc"}, {"restore", "proj", filepath.Join(t.TempDir(), "r")}} {
				res := run(t, repo, args...)
				if res.code != exitCheck || !strings.Contains(res.stderr, "index.db") || !strings.Contains(res.stderr, "index rebuild") {
					t.Errorf("silo %s on a damaged index: %s", args[0], res)
				}
				if strings.Contains(res.stderr, "goroutine") || strings.Contains(res.stderr, "SIGSEGV") || strings.Contains(res.stderr, "SIGBUS") {
					t.Fatalf("silo %s crashed: %s", args[0], res.stderr)
				}
			}
			if n := countPacks(t, repo); n != packs {
				t.Fatalf("packs %d after the commands, were %d", n, packs)
			}
			mustRun(t, repo, "index", "rebuild")
			mustRun(t, repo, "check", "--read-data")
			for i, id := range ids {
				restoreMatches(t, repo, id, mans[i])
			}
			if res := run(t, repo, "snapshots", "other"); res.code != exitNotFound {
				t.Fatalf("the hard-deleted project came back after the rebuild: %s", res)
			}
		})
	}
}

// packTableOffset returns where a pack's table starts.
func packTableOffset(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint32(b[len(b)-12:])
	return int64(len(b)) - int64(n)*46 - 32 - 12
}

// A byte flipped in a pack's table (its checksum, or an entry) does not
// cost the pack's other blobs: index rebuild reads the pack blob by blob,
// exits 3 saying so, and every version still restores.
func TestRebuildSalvagesDamagedTable(t *testing.T) {
	for _, where := range []string{"table checksum", "table entry"} {
		t.Run(where, func(t *testing.T) {
			repo, ids, mans, _ := damageRepo(t, 24)
			// the largest data pack, and the small pack holding a snapshot blob
			var big, small string
			var bigSize, smallSize int64 = 0, 1 << 62
			for id, blobs := range packsWithTables(t, repo) {
				p := filepath.Join(repo, filepath.FromSlash(object.PackName(id)))
				st, _ := os.Stat(p)
				if blobs[0].Type == object.DataBlob && st.Size() > bigSize {
					big, bigSize = p, st.Size()
				}
				for _, b := range blobs {
					if b.Type == object.SnapshotBlob && st.Size() < smallSize {
						small, smallSize = p, st.Size()
					}
				}
			}
			for _, p := range []string{big, small} {
				off := packTableOffset(t, p)
				if where == "table checksum" {
					st, _ := os.Stat(p)
					off = st.Size() - 12 - 16
				} else {
					off += 46 + 40 // the second entry's stored length
				}
				flipAt(t, p, off)
			}
			res := run(t, repo, "index", "rebuild")
			if res.code != exitCheck || !strings.Contains(res.stderr, "blob by blob") {
				t.Fatalf("index rebuild over damaged tables: %s", res)
			}
			// nothing was dropped: the project and both versions are there
			for i, id := range ids {
				restoreMatches(t, repo, id, mans[i])
			}
			// gc deletes nothing either of them needs
			run(t, repo, "gc")
			for i, id := range ids {
				restoreMatches(t, repo, id, mans[i])
			}
		})
	}
}

// A rebuild killed half-way leaves the index as it was: everything still
// lists, checks and restores, and the next rebuild completes.
func TestKilledRebuildLeavesTheIndex(t *testing.T) {
	if testing.Short() {
		t.Skip("process crash test")
	}
	repo, ids, mans, _ := damageRepo(t, 30)
	for i := range 6 {
		cmd := siloCmd(t, repo, "index", "rebuild")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+40*i) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		res := mustRun(t, repo, "--json", "snapshots", "proj")
		var list []any
		if json.Unmarshal([]byte(res.stdout), &list); len(list) != 2 {
			t.Fatalf("kill %d: %d versions listed after a killed rebuild", i, len(list))
		}
		mustRun(t, repo, "check")
	}
	for i, id := range ids {
		restoreMatches(t, repo, id, mans[i])
	}
	mustRun(t, repo, "index", "rebuild")
	if left, _ := filepath.Glob(filepath.Join(repo, "index.db.rebuild-*")); len(left) != 0 {
		t.Fatalf("rebuild leftovers: %v", left)
	}
	mustRun(t, repo, "check", "--read-data")
}

// A blob damaged inside a pack: check names it and the versions and files
// that use it; repair copies the pack's good blobs away, records the
// damaged one lost and condemns the pack; gc deletes the pack and runs
// despite the loss; storing the files again writes the blob back, and
// every version restores.
func TestRepairSalvagesAndHeals(t *testing.T) {
	repo, ids, mans, work := damageRepo(t, 12)
	// a data blob of a file present, unchanged, in both versions
	var victim object.Blob
	var victimPack object.ID
	for id, blobs := range packsWithTables(t, repo) {
		if blobs[0].Type == object.DataBlob && len(blobs) > 3 {
			victim, victimPack = blobs[1], id
			break
		}
	}
	if victimPack.IsZero() {
		t.Fatal("no data pack with several blobs")
	}
	packPath := filepath.Join(repo, filepath.FromSlash(object.PackName(victimPack)))
	flipAt(t, packPath, int64(victim.Offset)+int64(victim.Length)/2)
	res := run(t, repo, "check", "--read-data")
	if res.code != exitCheck || !strings.Contains(res.stdout+res.stderr, victimPack.String()) {
		t.Fatalf("check after a flipped byte: %s", res)
	}
	res = run(t, repo, "--json", "repair")
	if res.code != exitCheck {
		t.Fatalf("repair: %s", res)
	}
	var rep struct {
		Damaged []struct {
			Pack string `json:"pack"`
			Good int    `json:"good_blobs"`
			Bad  int    `json:"bad_blobs"`
		} `json:"damaged"`
		Copied   int `json:"blobs_copied"`
		Lost     int `json:"blobs_lost"`
		Affected []struct {
			Snapshot string   `json:"snapshot"`
			Paths    []string `json:"paths"`
		} `json:"affected_versions"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("repair --json: %v\n%s", err, res.stdout)
	}
	if len(rep.Damaged) != 1 || rep.Damaged[0].Pack != victimPack.String() || rep.Damaged[0].Bad != 1 || rep.Lost != 1 || rep.Copied < 3 {
		t.Fatalf("repair report: %+v", rep)
	}
	if len(rep.Affected) == 0 || len(rep.Affected[0].Paths) == 0 {
		t.Fatalf("repair names no version or file: %+v", rep.Affected)
	}
	// gc runs despite the known loss and deletes the damaged pack
	mustRun(t, repo, "gc")
	if _, err := os.Stat(packPath); !os.IsNotExist(err) {
		t.Fatalf("the damaged pack is still there after gc: %v", err)
	}
	// the next store of the same tree writes the lost blob back
	storeVersion(t, repo, "proj", work)
	mustRun(t, repo, "check", "--read-data")
	for i, id := range ids {
		restoreMatches(t, repo, id, mans[i])
	}
}

// A pack file gone: a rebuild records its blobs lost (exit 3, naming the
// broken versions); a store of the unchanged tree writes them again
// instead of reusing the parent's chunk lists, so the versions of that
// tree restore again (the older version's own files stay lost).
func TestLostBlobsAreWrittenAgain(t *testing.T) {
	repo, ids, mans, work := damageRepo(t, 8)
	for id, blobs := range packsWithTables(t, repo) {
		if blobs[0].Type == object.DataBlob {
			os.Remove(filepath.Join(repo, filepath.FromSlash(object.PackName(id))))
			break
		}
	}
	res := run(t, repo, "index", "rebuild")
	if res.code != exitCheck || !strings.Contains(res.stderr, "lost") {
		t.Fatalf("rebuild with a pack gone: %s", res)
	}
	res = mustRun(t, repo, "--json", "store", "--project", "proj", work)
	var sum struct {
		Result struct {
			Stats struct {
				BlobsAdded int `json:"blobs_added"`
			} `json:"stats"`
		} `json:"result"`
	}
	// a store that takes over a second prints progress lines first
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatalf("store summary %q: %v", lines[len(lines)-1], err)
	}
	if sum.Result.Stats.BlobsAdded == 0 {
		t.Fatalf("the store after the loss wrote nothing: %s", res.stdout)
	}
	restoreMatches(t, repo, ids[1], mans[1])
	res = run(t, repo, "check", "--read-data")
	if res.code == 0 {
		// the pack held only blobs the tree still has
		return
	}
	if strings.Contains(res.stderr, "@"+ids[1][:8]) {
		t.Fatalf("check still finds the current tree's version broken: %s", res.stderr)
	}
}

// Exit codes of damage and of mistakes (issue item 18): a data pack cut
// short or emptied makes restore exit 3 naming the pack; a damaged
// config.json exits 3 naming the field; flags urfave refuses exit 2.
func TestExitCodesOfDamage(t *testing.T) {
	repo, _, _, _ := damageRepo(t, 2)
	var biggest string
	var size int64
	filepath.WalkDir(filepath.Join(repo, "packs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil && fi.Size() > size {
				biggest, size = p, fi.Size()
			}
		}
		return nil
	})
	cfgPath := filepath.Join(repo, "config.json")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		damage func()
		args   []string
		code   int
		want   string
	}{
		{"data pack cut short", func() { os.Truncate(biggest, size/3) }, []string{"restore", "proj", filepath.Join(t.TempDir(), "a")}, exitCheck, filepath.Base(biggest)},
		{"data pack emptied", func() { os.Truncate(biggest, 0) }, []string{"restore", "proj", filepath.Join(t.TempDir(), "b")}, exitCheck, filepath.Base(biggest)},
		{"bad chunker polynomial", func() {
			os.WriteFile(cfgPath, []byte(strings.Replace(string(cfg), `"chunker_polynomial": "`, `"chunker_polynomial": "1`, 1)), 0o644)
		}, []string{"snapshots", "proj"}, exitCheck, "chunker_polynomial"},
		{"pack_size 0", func() {
			var m map[string]any
			json.Unmarshal(cfg, &m)
			m["pack_size"] = 0
			b, _ := json.Marshal(m)
			os.WriteFile(cfgPath, b, 0o644)
		}, []string{"snapshots", "proj"}, exitCheck, "pack_size 0 is out of range"},
		{"pack_size -5", func() {
			var m map[string]any
			json.Unmarshal(cfg, &m)
			m["pack_size"] = -5
			b, _ := json.Marshal(m)
			os.WriteFile(cfgPath, b, 0o644)
		}, []string{"snapshots", "proj"}, exitCheck, "pack_size -5 is out of range"},
		{"unknown flag", func() {}, []string{"snapshots", "--bogus", "proj"}, exitUsage, "bogus"},
		{"required flag left out", func() {}, []string{"store", t.TempDir()}, exitUsage, "--project"},
	} {
		os.WriteFile(cfgPath, cfg, 0o644)
		c.damage()
		res := run(t, repo, c.args...)
		if res.code != c.code || !strings.Contains(res.stderr, c.want) {
			t.Errorf("%s: silo %s exited %d (%s), want %d naming %q", c.name, strings.Join(c.args, " "), res.code, strings.TrimSpace(res.stderr), c.code, c.want)
		}
	}
}
