package auth

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
)

// signingKeyLabel is the HKDF info string of the token signing key.
const signingKeyLabel = "aliasgate/jwt-signing/v1"

// ErrBadMasterKey: DeriveSigningKey was given a key that is not 32 bytes.
var ErrBadMasterKey = errors.New("auth: master key must be 32 bytes")

// DeriveSigningKey returns the Ed25519 token signing key derived from the
// vault's master key (HKDF-SHA256, its own label). Every gateway that shares
// a vault shares its master key, so a token issued by one is accepted by all
// of them without storing or distributing a signing key; rotating the master
// key rotates it. Whoever holds the master key could mint tokens, but could
// already decrypt every value in the vault.
func DeriveSigningKey(master []byte) (ed25519.PrivateKey, error) {
	if len(master) != 32 {
		return nil, ErrBadMasterKey
	}
	seed, err := hkdf.Key(sha256.New, master, nil, signingKeyLabel, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("auth: derive signing key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
