package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"

	"github.com/aliasgate/aliasgate/internal/atomicfile"
)

// pemType is the PEM block type of a PKCS#8 private key.
const pemType = "PRIVATE KEY"

// LoadOrCreateSigningKey returns the Ed25519 token signing key stored at
// path as a PKCS#8 PEM "PRIVATE KEY" block. When the file does not exist it
// generates a key and writes it with mode 0600: to a temporary file in the
// same directory, synced, then linked into place without replacing a file
// another process created meanwhile (that file wins and is loaded). The
// directory must exist.
//
// A file readable or writable by group or others is refused
// (ErrInsecureKeyFile; on Unix-like systems), and a file that is not an
// Ed25519 PKCS#8 PEM key gives ErrCorruptKeyFile. Errors name the path.
func LoadOrCreateSigningKey(path string) (ed25519.PrivateKey, error) {
	key, err := loadSigningKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	created, err := createSigningKey(path)
	if errors.Is(err, fs.ErrExist) {
		return loadSigningKey(path)
	}
	return created, err
}

func loadSigningKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("auth: open signing key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("auth: stat signing key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("auth: signing key %s is not a regular file: %w", path, ErrCorruptKeyFile)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("auth: signing key %s has mode %04o, want 0600 (chmod 600 %s): %w",
			path, fi.Mode().Perm(), path, ErrInsecureKeyFile)
	}
	const maxKeyFile = 64 << 10
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("auth: read signing key %s: %w", path, err)
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("auth: signing key %s is larger than 64 KiB: %w", path, ErrCorruptKeyFile)
	}
	return parseSigningKey(path, b)
}

func parseSigningKey(path string, b []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("auth: signing key %s holds no PEM block: %w", path, ErrCorruptKeyFile)
	}
	if block.Type != pemType {
		return nil, fmt.Errorf("auth: signing key %s holds a %q PEM block, want %q: %w",
			path, block.Type, pemType, ErrCorruptKeyFile)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: signing key %s: %w: %w", path, ErrCorruptKeyFile, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("auth: signing key %s is a %T, want an Ed25519 key: %w", path, k, ErrCorruptKeyFile)
	}
	return key, nil
}

func createSigningKey(path string) (ed25519.PrivateKey, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("auth: encode signing key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der})

	if err := atomicfile.WriteNew(path, data, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		return nil, fmt.Errorf("auth: create signing key: %w", err)
	}
	return key, nil
}
