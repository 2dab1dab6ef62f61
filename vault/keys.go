package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aliasgate/aliasgate/internal/atomicfile"
)

// MasterKeyEnv is the environment variable that holds the master key
// (base64 of 32 bytes). It wins over the key file.
const MasterKeyEnv = "ALIASGATE_MASTER_KEY"

// MasterKeyFile is the name of the key file in the data directory.
const MasterKeyFile = "master.key"

// ErrBadMasterKey: the master key could not be read or is malformed.
var ErrBadMasterKey = errors.New("vault: bad master key")

// LoadMasterKey returns the 32-byte master key from the environment variable
// ALIASGATE_MASTER_KEY (base64), or else from <dataDir>/master.key, which is
// created (mode 0600, random) when missing and create is set. source says
// where the key came from ("env" or the file path), for the start-up log.
// Errors never contain key material.
func LoadMasterKey(dataDir string, getenv func(string) string, create bool) (key []byte, source string, err error) {
	if v := strings.TrimSpace(getenv(MasterKeyEnv)); v != "" {
		k, err := decodeKey(v)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %s: %v", ErrBadMasterKey, MasterKeyEnv, err)
		}
		return k, "env " + MasterKeyEnv, nil
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	k, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		k, err = createKeyFile(path)
	}
	if err != nil {
		return nil, "", err
	}
	return k, path, nil
}

func decodeKey(s string) ([]byte, error) {
	var k []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("not valid base64")
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("decodes to %d bytes, want 32", len(k))
	}
	return k, nil
}

func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrBadMasterKey, path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is readable by group or others (mode %04o); run chmod 600 on it", ErrBadMasterKey, path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrBadMasterKey, path, err)
	}
	k, err := decodeKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadMasterKey, path, err)
	}
	return k, nil
}

func createKeyFile(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("vault: create data dir: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("vault: random: %w", err)
	}
	if err := atomicfile.WriteNew(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		if errors.Is(err, os.ErrExist) { // another process created it first
			return readKeyFile(path)
		}
		return nil, fmt.Errorf("vault: create master key: %w", err)
	}
	return k, nil
}

// Keyring holds the keys derived from the master key: the data-encryption
// keys by version, and the HMAC key of the alias index.
type Keyring struct {
	current        uint32
	aeads          map[uint32]cipher.AEAD
	indexKey       []byte
	fingerprintKey []byte
	rand           io.Reader
}

// FingerprintKey returns the key card fingerprints are made with (HKDF of
// the master key, "aliasgate/fingerprint/v1"); callers derive per-account
// keys from it. It never rotates silently.
func (kr *Keyring) FingerprintKey() []byte { return append([]byte(nil), kr.fingerprintKey...) }

const (
	metaKeyCurrent = "dek/current"
	metaKeyPrefix  = "dek/"
	dekAAD         = "aliasgate data key v"
)

// OpenKeyring derives the key-encryption and index keys from master and
// unwraps the vault's data keys from the store's metadata, creating the first
// one when the vault is new. A master key other than the one the vault was
// created with fails with ErrWrongMasterKey.
func OpenKeyring(ctx context.Context, store Store, master []byte) (*Keyring, error) {
	if len(master) != 32 {
		return nil, fmt.Errorf("%w: want 32 bytes", ErrBadMasterKey)
	}
	kek, err := hkdf.Key(sha256.New, master, nil, "aliasgate/kek/v1", 32)
	if err != nil {
		return nil, fmt.Errorf("vault: derive key: %w", err)
	}
	indexKey, err := hkdf.Key(sha256.New, master, nil, "aliasgate/index/v1", 32)
	if err != nil {
		return nil, fmt.Errorf("vault: derive key: %w", err)
	}
	fpKey, err := hkdf.Key(sha256.New, master, nil, "aliasgate/fingerprint/v1", 32)
	if err != nil {
		return nil, fmt.Errorf("vault: derive key: %w", err)
	}
	wrap, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	kr := &Keyring{aeads: map[uint32]cipher.AEAD{}, indexKey: indexKey, fingerprintKey: fpKey, rand: rand.Reader}

	cur, err := store.PutMetaIfAbsent(ctx, metaKeyCurrent, []byte("1"))
	if err != nil {
		return nil, fmt.Errorf("vault: read key version: %w", err)
	}
	v, err := strconv.ParseUint(string(cur), 10, 32)
	if err != nil || v == 0 {
		return nil, fmt.Errorf("vault: stored key version is corrupt")
	}
	kr.current = uint32(v)
	for ver := uint32(1); ver <= kr.current; ver++ {
		aead, err := kr.loadDEK(ctx, store, wrap, ver)
		if err != nil {
			return nil, err
		}
		kr.aeads[ver] = aead
	}
	return kr, nil
}

func (kr *Keyring) loadDEK(ctx context.Context, store Store, wrap cipher.AEAD, ver uint32) (cipher.AEAD, error) {
	name := metaKeyPrefix + strconv.FormatUint(uint64(ver), 10)
	aad := []byte(dekAAD + strconv.FormatUint(uint64(ver), 10))
	wrapped, err := store.GetMeta(ctx, name)
	if errors.Is(err, ErrNotFound) {
		dek := make([]byte, 32)
		if _, err := io.ReadFull(kr.rand, dek); err != nil {
			return nil, fmt.Errorf("vault: random: %w", err)
		}
		nonce := make([]byte, wrap.NonceSize())
		if _, err := io.ReadFull(kr.rand, nonce); err != nil {
			return nil, fmt.Errorf("vault: random: %w", err)
		}
		wrapped, err = store.PutMetaIfAbsent(ctx, name, wrap.Seal(nonce, nonce, dek, aad))
	}
	if err != nil {
		return nil, fmt.Errorf("vault: read data key %d: %w", ver, err)
	}
	ns := wrap.NonceSize()
	if len(wrapped) < ns {
		return nil, fmt.Errorf("vault: data key %d is corrupt", ver)
	}
	dek, err := wrap.Open(nil, wrapped[:ns], wrapped[ns:], aad)
	if err != nil {
		return nil, ErrWrongMasterKey
	}
	return newAEAD(dek)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("vault: cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("vault: cipher: %w", err)
	}
	return aead, nil
}

// seal encrypts value for alias under the current data key and returns the
// key version and nonce ‖ ciphertext.
func (kr *Keyring) seal(alias string, value []byte) (uint32, []byte, error) {
	aead := kr.aeads[kr.current]
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(value)+aead.Overhead())
	if _, err := io.ReadFull(kr.rand, out); err != nil {
		return 0, nil, fmt.Errorf("vault: random: %w", err)
	}
	return kr.current, aead.Seal(out, out, value, []byte(alias)), nil
}

// open decrypts a record. A ciphertext altered or moved to another alias
// fails with ErrTampered.
func (kr *Keyring) open(r *Record) ([]byte, error) {
	aead, ok := kr.aeads[r.KeyVersion]
	if !ok {
		return nil, fmt.Errorf("vault: record uses unknown key version %d", r.KeyVersion)
	}
	ns := aead.NonceSize()
	if len(r.Ciphertext) < ns {
		return nil, ErrTampered
	}
	v, err := aead.Open(nil, r.Ciphertext[:ns], r.Ciphertext[ns:], []byte(r.Alias))
	if err != nil {
		return nil, ErrTampered
	}
	return v, nil
}

// indexKeyFor returns HMAC-SHA256(index key, format ‖ 0 ‖ value).
func (kr *Keyring) indexKeyFor(f Format, value string) []byte {
	m := hmac.New(sha256.New, kr.indexKey)
	m.Write([]byte(f))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}
