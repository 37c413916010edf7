// Command gcstat prints, for a silo repository on a local path, the stored
// bytes of the blobs reachable only from the versions of the given
// projects: what a hard delete of those projects and a gc should free
// (bench/gc.sh compares the two). It reads index.db and tree blobs only,
// and must run while no silo process holds the repository.
//
//	go run ./bench/gcstat -repo PATH PROJECT...
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/snapshot"
)

func main() {
	repoPath := flag.String("repo", "", "repository `PATH`")
	flag.Parse()
	if *repoPath == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: gcstat -repo PATH PROJECT...")
		os.Exit(2)
	}
	if err := run(*repoPath, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "gcstat:", err)
		os.Exit(1)
	}
}

type report struct {
	Projects      []string `json:"projects"`
	Versions      int      `json:"versions"`
	OtherVersions int      `json:"other_versions"`
	UniqueBlobs   int      `json:"unique_blobs"`
	UniqueBytes   int64    `json:"unique_bytes"` // stored (compressed) bytes
	UniqueRaw     int64    `json:"unique_raw_bytes"`
	SharedBlobs   int      `json:"shared_blobs"`
	SharedBytes   int64    `json:"shared_bytes"`
}

func run(repoPath string, projects []string) error {
	ctx := context.Background()
	if rc, err := object.LoadRepoConfig(ctx, object.NewLocal(repoPath)); err != nil {
		return err
	} else if rc.Encryption != nil {
		return fmt.Errorf("%s is encrypted: gcstat reads the index and packs of a plain local repository only", repoPath)
	}
	db, err := index.Open(filepath.Join(repoPath, "index.db"), index.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	repo, err := object.NewRepository(object.RepositoryOptions{Backend: object.NewLocal(repoPath), Index: db,
		TempDir: filepath.Join(os.TempDir(), "gcstat")})
	if err != nil {
		return err
	}
	defer repo.Close()

	// versions by side: the projects named (by name or id) and the rest
	var doomed, kept []object.ID
	err = db.View(func(tx *index.Tx) error {
		return tx.Snapshots(func(ref index.SnapshotRef, data []byte) error {
			sn, err := snapshot.DecodeSnapshot(data)
			if err != nil {
				return fmt.Errorf("snapshot %s: %w", ref.ID, err)
			}
			if slices.Contains(projects, sn.ProjectName) || slices.Contains(projects, sn.ProjectID) {
				doomed = append(doomed, ref.ID)
			} else {
				kept = append(kept, ref.ID)
			}
			return nil
		})
	})
	if err != nil {
		return err
	}
	reach := func(snaps []object.ID) (map[object.ID]bool, error) {
		out := map[object.ID]bool{}
		var roots []snapshot.ReachRoot
		for _, id := range snaps {
			out[id] = true
			var tree object.ID
			err := db.View(func(tx *index.Tx) error {
				_, data, ok, err := tx.Snapshot(id)
				if err != nil || !ok {
					return fmt.Errorf("snapshot %s: %v", id, err)
				}
				sn, err := snapshot.DecodeSnapshot(data)
				if err == nil {
					tree = sn.Tree
				}
				return err
			})
			if err != nil {
				return nil, err
			}
			roots = append(roots, snapshot.ReachRoot{Tree: tree, Label: id.Short()})
		}
		err := snapshot.Reach(ctx, repo, roots, func(tv snapshot.TreeVisit) error {
			if tv.Err != nil {
				return tv.Err
			}
			out[tv.ID] = true
			for i := range tv.Nodes {
				for _, c := range tv.Nodes[i].Content {
					out[c] = true
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	}
	gone, err := reach(doomed)
	if err != nil {
		return err
	}
	live, err := reach(kept)
	if err != nil {
		return err
	}
	rep := report{Projects: projects, Versions: len(doomed), OtherVersions: len(kept)}
	for id := range gone {
		loc, ok, err := db.Lookup(id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("blob %s is not indexed", id)
		}
		if live[id] {
			rep.SharedBlobs++
			rep.SharedBytes += int64(loc.Length)
			continue
		}
		rep.UniqueBlobs++
		rep.UniqueBytes += int64(loc.Length)
		rep.UniqueRaw += int64(loc.RawLength)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
