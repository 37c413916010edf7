package keyring

import (
	"encoding/json"
	"fmt"

	"github.com/silo-dev/silo/object"
)

// sealedConfig makes the sealed section of a new encrypted repository.
func sealedConfig(seal *object.Sealer, id, pol string) (*object.Encryption, error) {
	plain, err := json.Marshal(object.SealedConfig{Repository: id, ChunkerPolynomial: pol, AEAD: object.AEADName, IDs: object.IDsName})
	if err != nil {
		return nil, err
	}
	sealed, err := seal.SealFile(object.ConfigName, plain)
	if err != nil {
		return nil, err
	}
	return &object.Encryption{AEAD: object.AEADName, KDF: object.KDFName, IDs: object.IDsName, Sealed: sealed}, nil
}

// openSealedConfig opens rc's sealed section with seal and fills in the
// polynomial; a key from another repository fails here.
func openSealedConfig(be object.Backend, rc *object.RepoConfig, seal *object.Sealer) error {
	plain, err := seal.OpenFile(object.ConfigName, rc.Encryption.Sealed)
	if err != nil {
		return fmt.Errorf("%w for %s: the key opens, but the repository's sealed config does not (a key file of another repository?): %v",
			ErrPassword, be.Location(), err)
	}
	var sc object.SealedConfig
	if err := json.Unmarshal(plain, &sc); err != nil {
		return fmt.Errorf("%s/%s: %w: sealed section: %v", be.Location(), object.ConfigName, object.ErrCorrupt, err)
	}
	switch {
	case sc.Repository != rc.ID:
		return fmt.Errorf("%s/%s: %w: the sealed section is repository %s's, the file says %s", be.Location(), object.ConfigName, object.ErrCorrupt, sc.Repository, rc.ID)
	case sc.AEAD != object.AEADName || sc.IDs != object.IDsName:
		return fmt.Errorf("%s/%s: %w: sealed algorithms %s and %s ids differ from what this silo writes", be.Location(), object.ConfigName, object.ErrCorrupt, sc.AEAD, sc.IDs)
	}
	rc.ChunkerPolynomial = sc.ChunkerPolynomial
	return nil
}
