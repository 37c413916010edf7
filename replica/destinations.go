package replica

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/silo-dev/silo/object"
)

// ErrDestinationChanged means a local backup destination this repository
// backed up to before no longer holds that backup: the drive is probably
// not mounted, and the backup would go to whatever filesystem holds the
// empty mount point.
var ErrDestinationChanged = errors.New("store: not the backup destination backed up to before")

// DestinationsFile is the file in the source's base directory in which it
// remembers its local backup destinations.
const DestinationsFile = "backup-destinations.json"

// Destinations is backup-destinations.json: per absolute destination
// path, the repository found there and the device that held it.
type Destinations struct {
	Destinations map[string]Known `json:"destinations"`
}

// Known is a local destination backed up to before.
type Known struct {
	Repository string    `json:"repository"` // the destination's config.json id
	Device     string    `json:"device"`     // its filesystem (DeviceUnknown where there is no telling)
	Time       time.Time `json:"time"`       // when it was last backed up to
}

// LoadDestinations reads the destinations remembered in dir (none when the
// file is not there).
func LoadDestinations(dir string) (Destinations, error) {
	doc := Destinations{Destinations: map[string]Known{}}
	name := filepath.Join(dir, DestinationsFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return doc, nil
	}
	if err != nil {
		return doc, err
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return doc, fmt.Errorf("%s: %w", name, err)
	}
	if doc.Destinations == nil {
		doc.Destinations = map[string]Known{}
	}
	return doc, nil
}

// CheckDestination refuses the local destination to (absolute: abs) when
// doc, the source's memory of its destinations, says it backed up there
// before and there is now no repository there, or another repository on
// another device than then: a drive that is not mounted leaves its mount
// point behind, and a backup there would fill the filesystem under it.
// device names the filesystem of a path (DeviceOf, or a test's).
func CheckDestination(ctx context.Context, doc Destinations, to, abs string, device func(string) string) error {
	known, ok := doc.Destinations[abs]
	if !ok {
		return nil // a new destination
	}
	dev := device(abs)
	otherDevice := known.Device != DeviceUnknown && dev != DeviceUnknown && dev != known.Device
	rc, err := object.LoadRepoConfig(ctx, object.NewLocal(abs))
	var now string
	switch {
	case errors.Is(err, object.ErrNoRepository):
		now = "there is no repository there now"
	case err != nil:
		return fmt.Errorf("backup destination %s: %w", to, err)
	case rc.ID == known.Repository || !otherDevice:
		// the same repository (on whatever device the drive has now), or
		// a repository made anew on the drive that held the old one
		return nil
	default:
		now = "repository " + rc.ID + " is there now"
	}
	if otherDevice {
		now += ", on device " + dev
	}
	return fmt.Errorf("backup destination %s: %w (backed up there before: repository %s on device %s; %s): is the drive mounted? (to start a new backup there, give --new-destination)",
		to, ErrDestinationChanged, known.Repository, known.Device, now)
}

// Remember records in dir that the local destination abs holds repository
// id, on the device it is on now. The file is written durably (temp file,
// fsync, rename, fsync of the directory); the caller serialises writers.
func Remember(dir, abs, id, device string, now time.Time) error {
	doc, err := LoadDestinations(dir)
	if err != nil {
		return err
	}
	doc.Destinations[abs] = Known{Repository: id, Device: device, Time: now}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-destinations-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, DestinationsFile))
	}
	if err == nil {
		err = object.SyncDir(dir)
	}
	return err
}
