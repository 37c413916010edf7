package store

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/silo-dev/silo/crypt"
	"github.com/silo-dev/silo/gc"
	"github.com/silo-dev/silo/hooks"
	"github.com/silo-dev/silo/index"
	"github.com/silo-dev/silo/object"
	"github.com/silo-dev/silo/replica"
	"github.com/silo-dev/silo/snapshot"
)

// Kind is what sort of failure an error is. It is the one classification
// behind the command line's exit codes, the HTTP API's statuses and error
// codes, and the errors the API's clients give back (Kind.Err), so that a
// failure reads the same whichever way silo was driven.
type Kind struct {
	// Code is the API's error code ("not_found", ...).
	Code string
	// Exit is the command line's exit status.
	Exit int
	// Status is the HTTP status.
	Status int
	// err is the sentinel a client's error for Code unwraps to; is are the
	// errors (errors.Is) of this kind.
	err error
	is  []error
}

// Err is the sentinel error a client returns for an answer of this kind,
// so that errors.Is and exit codes work as they do locally.
func (k Kind) Err() error { return k.err }

// Exit statuses of the command line (see the README).
const (
	ExitOK        = 0
	ExitError     = 1
	ExitUsage     = 2 // a mistake on the command line, or input silo refuses
	ExitCheck     = 3 // check failed, data damaged or lost
	ExitBusy      = 4 // another gc runs; the index stayed busy
	ExitNotFound  = 5
	ExitQuota     = 6
	ExitConflict  = 7 // another process changed the repository under the command: run it again
	ExitInterrupt = 130
)

// The kinds, in the order KindOf tries them (the first match wins: an
// error that is both canceled and corrupt was canceled).
var (
	KindCanceled       = Kind{Code: "canceled", Exit: ExitInterrupt, Status: 499, err: context.Canceled, is: []error{context.Canceled}}
	KindTimeout        = Kind{Code: "timeout", Exit: ExitError, Status: http.StatusGatewayTimeout, err: context.DeadlineExceeded, is: []error{context.DeadlineExceeded}}
	KindMissingBlobs   = Kind{Code: "missing_blobs", Exit: ExitConflict, Status: http.StatusConflict, err: ErrMissingBlobs, is: []error{ErrMissingBlobs}}
	KindDigestMismatch = Kind{Code: "digest_mismatch", Exit: ExitCheck, Status: http.StatusBadRequest, err: ErrDigestMismatch, is: []error{ErrDigestMismatch}}
	KindQuota          = Kind{Code: "quota_exceeded", Exit: ExitQuota, Status: http.StatusRequestEntityTooLarge, err: ErrQuota,
		is: []error{ErrQuota, snapshot.ErrLimit, snapshot.ErrAddedLimit}}
	KindUnsafePath = Kind{Code: "unsafe_path", Exit: ExitUsage, Status: http.StatusUnprocessableEntity, err: snapshot.ErrUnsafePath,
		is: []error{snapshot.ErrUnsafePath, snapshot.ErrPathLimit}}
	KindBadTar    = Kind{Code: "bad_tar", Exit: ExitUsage, Status: http.StatusBadRequest, err: snapshot.ErrBadTar, is: []error{snapshot.ErrBadTar}}
	KindAmbiguous = Kind{Code: "ambiguous", Exit: ExitUsage, Status: http.StatusBadRequest, err: ErrAmbiguous, is: []error{ErrAmbiguous}}
	KindInvalid   = Kind{Code: "invalid", Exit: ExitUsage, Status: http.StatusBadRequest, err: ErrInvalid,
		is: []error{ErrInvalid, snapshot.ErrBadTree, snapshot.ErrEntryLimit}}
	KindNoRepository = Kind{Code: "no_repository", Exit: ExitNotFound, Status: http.StatusServiceUnavailable, err: ErrNoRepository,
		is: []error{ErrNoRepository, object.ErrNoRepository}}
	KindNotFound = Kind{Code: "not_found", Exit: ExitNotFound, Status: http.StatusNotFound, err: ErrProjectNotFound,
		is: []error{ErrProjectNotFound, ErrSnapshotNotFound, ErrKeyNotFound, ErrBackupNotFound, ErrSourceNotFound, snapshot.ErrNotFound}}
	// a blob the index lacks: asked for over the API, it is not found; met
	// while reading a version, the repository is damaged
	KindBlobNotFound = Kind{Code: "blob_not_found", Exit: ExitCheck, Status: http.StatusNotFound, err: object.ErrBlobNotFound, is: []error{object.ErrBlobNotFound}}
	// a pre_* hook refused the operation (storage.hooks)
	KindVetoed = Kind{Code: "vetoed", Exit: ExitError, Status: http.StatusForbidden, err: hooks.ErrVetoed, is: []error{hooks.ErrVetoed}}
	// an encrypted repository and no password, or a wrong one
	KindPassword = Kind{Code: "password", Exit: ExitError, Status: http.StatusUnauthorized, err: ErrPassword, is: []error{ErrPassword, crypt.ErrWrongPassword}}
	KindExists   = Kind{Code: "exists", Exit: ExitError, Status: http.StatusConflict, err: ErrExists, is: []error{ErrExists}}
	KindBusy     = Kind{Code: "busy", Exit: ExitBusy, Status: http.StatusServiceUnavailable, err: index.ErrBusy, is: []error{index.ErrBusy, gc.ErrBusy}}
	KindConflict = Kind{Code: "conflict", Exit: ExitConflict, Status: http.StatusConflict, err: ErrConflict, is: []error{ErrConflict, replica.ErrPacksLost}}
	// a backup destination that is not the one backed up to before (an
	// unmounted drive)
	KindDestinationChanged = Kind{Code: "destination_changed", Exit: ExitError, Status: http.StatusConflict, err: ErrDestinationChanged,
		is: []error{ErrDestinationChanged, ErrNotADestination}}
	KindReadOnly     = Kind{Code: "read_only", Exit: ExitError, Status: http.StatusServiceUnavailable, err: ErrReadOnly, is: []error{ErrReadOnly, index.ErrReadOnly}}
	KindSchema       = Kind{Code: "schema", Exit: ExitError, Status: http.StatusInternalServerError, err: index.ErrSchema, is: []error{index.ErrSchema}}
	KindIndexDamaged = Kind{Code: "index_damaged", Exit: ExitCheck, Status: http.StatusInternalServerError, err: index.ErrDamaged, is: []error{index.ErrDamaged, index.ErrCorrupt}}
	KindCheckFailed  = Kind{Code: "check_failed", Exit: ExitCheck, Status: http.StatusInternalServerError, err: ErrCheckFailed, is: []error{ErrCheckFailed, gc.ErrMissing}}
	KindCorrupt      = Kind{Code: "corrupt", Exit: ExitCheck, Status: http.StatusInternalServerError, err: object.ErrCorrupt,
		is: []error{object.ErrCorrupt, object.ErrBadPack, object.ErrSealed, snapshot.ErrBadSnapshot}}
	// KindInternal is every other error.
	KindInternal = Kind{Code: "internal", Exit: ExitError, Status: http.StatusInternalServerError}

	kinds = []Kind{KindCanceled, KindTimeout, KindMissingBlobs, KindDigestMismatch, KindQuota, KindUnsafePath, KindBadTar,
		KindAmbiguous, KindInvalid, KindNoRepository, KindNotFound, KindBlobNotFound, KindVetoed, KindPassword, KindExists, KindBusy, KindConflict,
		KindDestinationChanged, KindReadOnly, KindSchema, KindIndexDamaged, KindCheckFailed, KindCorrupt}
)

// Kinds returns every kind but KindInternal, in the order KindOf tries
// them.
func Kinds() []Kind { return slices.Clone(kinds) }

// KindOf classifies an error (nil for a nil error is the zero Kind, exit 0).
func KindOf(err error) Kind {
	if err == nil {
		return Kind{Code: "ok", Exit: ExitOK, Status: http.StatusOK}
	}
	for _, k := range kinds {
		for _, target := range k.is {
			if errors.Is(err, target) {
				return k
			}
		}
	}
	return KindInternal
}

// KindOfCode returns the kind of an API error code (KindInternal when the
// code is unknown). Codes of earlier servers map too.
func KindOfCode(code string) Kind {
	switch code {
	case "locked":
		return KindBusy
	case "bad_json":
		return KindInvalid
	case "unavailable":
		return KindReadOnly
	}
	for _, k := range kinds {
		if k.Code == code {
			return k
		}
	}
	return KindInternal
}
