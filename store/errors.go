package store

import (
	"errors"

	"github.com/silo-dev/silo/backend"
	"github.com/silo-dev/silo/catalog"
	"github.com/silo-dev/silo/check"
	"github.com/silo-dev/silo/keyring"
	"github.com/silo-dev/silo/session"
)

var (
	// ErrNoRepository means the location holds no repository yet.
	ErrNoRepository = errors.New("store: no repository")
	// ErrProjectNotFound means no project has that id or name.
	ErrProjectNotFound = catalog.ErrProjectNotFound
	// ErrSnapshotNotFound means no snapshot matches.
	ErrSnapshotNotFound = catalog.ErrSnapshotNotFound
	// ErrKeyNotFound means no key file of an encrypted repository matches.
	ErrKeyNotFound = keyring.ErrKeyNotFound
	// ErrSourceNotFound means an import's source (an s3:// object) is not
	// there.
	ErrSourceNotFound = backend.ErrSourceNotFound
	// ErrAmbiguous means a prefix or name matches several things.
	ErrAmbiguous = catalog.ErrAmbiguous
	// ErrQuota means a store would pass max_project_size or total_quota.
	ErrQuota = errors.New("store: quota exceeded")
	// ErrInvalid means a bad argument (name, type, status...).
	ErrInvalid = catalog.ErrInvalid
	// ErrExists means a name is taken.
	ErrExists = catalog.ErrExists
	// ErrCheckFailed means check found problems.
	ErrCheckFailed = check.ErrFailed
	// ErrConflict means another process or machine changed the repository
	// under an operation in a way it cannot recover from by itself;
	// nothing was recorded and the operation can be run again (see
	// session.ErrConflict).
	ErrConflict = session.ErrConflict
	// ErrReadOnly means a write on a store opened read-only.
	ErrReadOnly = errors.New("store: opened read-only")
)
