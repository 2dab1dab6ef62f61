package vault

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aliasgate/aliasgate/internal/atomicfile"
	"github.com/aliasgate/aliasgate/internal/secretfile"
	"github.com/aliasgate/aliasgate/internal/sleep"
)

// MasterKeyEnv is the environment variable that holds the master key
// (base64 of 32 bytes). It is used instead of the key file, which, when
// there too, must hold the same key (LoadMasterKey).
const MasterKeyEnv = "ALIASGATE_MASTER_KEY"

// MasterKeyFile is the name of the key file in the data directory.
const MasterKeyFile = "master.key"

// ErrBadMasterKey: the master key could not be read or is malformed.
var ErrBadMasterKey = errors.New("vault: bad master key")

// LoadMasterKey returns the 32-byte master key from the environment variable
// ALIASGATE_MASTER_KEY (base64), or else from <dataDir>/master.key, which is
// created (mode 0600, random) when missing and create is set. A variable
// of white space only is refused (ErrBadMasterKey), not taken for unset;
// an empty one is unset. With the variable set, a key file that is there
// too must hold the same key: another key, or a file that cannot be read,
// is refused (ErrBadMasterKey, naming both), never silently overruled
// (checkKeyFile). source says
// where the key came from ("env" or the file path), for the start-up log.
// Errors never contain key material.
func LoadMasterKey(dataDir string, getenv func(string) string, create bool) (key []byte, source string, err error) {
	raw := getenv(MasterKeyEnv)
	if v := strings.TrimSpace(raw); v != "" {
		k, err := decodeKey(v)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %s: %v", ErrBadMasterKey, MasterKeyEnv, err)
		}
		if err := checkKeyFile(filepath.Join(dataDir, MasterKeyFile), k); err != nil {
			return nil, "", err
		}
		return k, "env " + MasterKeyEnv, nil
	} else if raw != "" {
		// Set to white space only: a secret that did not arrive. Taken
		// for unset, a fresh data dir would get a new key file instead.
		return nil, "", fmt.Errorf("%w: %s is set but blank", ErrBadMasterKey, MasterKeyEnv)
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

// checkKeyFile checks, when ALIASGATE_MASTER_KEY holds k, that the key
// file at path, if there (in any form: a link, a file others may read),
// holds k too: a key file left from an earlier run that the variable
// silently overruled meant a gateway under a key the operator did not
// think in use. Compared in constant time; errors name both sources and
// show neither key.
func checkKeyFile(path string, k []byte) error {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	fk, err := readKeyFile(path)
	if err != nil {
		return fmt.Errorf("%w (%s is set too: the key file must hold the same key or be removed)", err, MasterKeyEnv)
	}
	if subtle.ConstantTimeCompare(fk, k) != 1 {
		return fmt.Errorf("%w: %s's master key does not match the one in %s: keep only the vault's key "+
			"(unset the variable, or move the file out of the data dir)", ErrBadMasterKey, MasterKeyEnv, path)
	}
	return nil
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
		return nil, errors.New("not valid base64 " + masterKeyForm)
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("decodes to %d bytes, want 32 %s", len(k), masterKeyForm)
	}
	return k, nil
}

// masterKeyForm says, in a refusal of a master key, what one is and how to
// make one (a hex key, openssl rand -hex 32, decodes as base64 to 48 bytes).
const masterKeyForm = "(a master key is 32 random bytes in base64: make one with openssl rand -base64 32)"

func readKeyFile(path string) ([]byte, error) {
	b, err := secretfile.Read(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrBadMasterKey, err)
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
// keys by version, and the HMAC keys of the alias index, of card
// fingerprints and of the numbers index (numbers.go). It is safe for concurrent use.
//
// Data keys live in the store's metadata, wrapped (AES-256-GCM) under the
// key-encryption key, one set-once entry per version: dek/1, dek/2, … The
// current version, which new records are sealed with, is the highest one
// present. Rotate adds the next version with PutMetaIfAbsent, so two
// gateways rotating at once agree on one new key instead of forking; every
// gateway picks new versions up with Refresh (and by itself when it meets a
// record sealed under a version it has not loaded yet). Old versions are
// never removed: records keep decrypting with theirs until the background
// re-encryption (Reencryptor) moves them to the current one.
type Keyring struct {
	state          atomic.Pointer[keyState]
	store          Store       // where the wrapped data keys are kept
	wrap           cipher.AEAD // the key-encryption key
	indexKey       []byte
	indexMACs      sync.Pool // HMAC-SHA256 states under indexKey (*indexMAC), reset and wiped
	fingerprintKey []byte
	numberKey      []byte // the numbers index's (numbers.go), one for every account
	rand           io.Reader
	mu             sync.Mutex // serialises Refresh and Rotate
}

// keyState is an immutable snapshot of the loaded data keys, but for its
// count of writes in flight.
type keyState struct {
	current uint32
	aeads   map[uint32]cipher.AEAD
	wrapped map[uint32][]byte // each version as the store holds it (wrapped under the KEK), for Restore
	// prev is the state this one replaced (nil for the first): the
	// re-encryption waits for the writes of every older state.
	prev *keyState
	// writes counts the writes pinned to this state (pinWrites) that have
	// not reached their store yet: their records may be sealed with its
	// version.
	writes atomic.Int64
}

// pinWrites pins the current key state for a write to a persistent store,
// from before its records are sealed until unpinWrites once the store
// answered: a record sealed with a version older than the current one may
// still be on its way to the store only while a state of that version is
// pinned (waitWrites).
func (kr *Keyring) pinWrites() *keyState {
	for {
		st := kr.state.Load()
		st.writes.Add(1)
		if kr.state.Load() == st {
			return st // a waiter that loads a newer state sees this pin
		}
		st.writes.Add(-1) // replaced meanwhile: pin the new one
	}
}

// unpinWrites ends a pin of pinWrites.
func (kr *Keyring) unpinWrites(st *keyState) { st.writes.Add(-1) }

// waitWrites waits until no write of this process may still store a record
// sealed with a version older than ver: every state older than the one
// whose current version is ver has no pinned write. A write pinned after a
// state was replaced pins the newer one (pinWrites), so the wait ends.
func (kr *Keyring) waitWrites(ctx context.Context, ver uint32) error {
	for st := kr.state.Load(); st != nil; st = st.prev {
		if st.current >= ver {
			continue
		}
		for st.writes.Load() > 0 {
			if err := sleep.For(ctx, time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

// FingerprintKey returns the key card fingerprints are made with (HKDF of
// the master key, "aliasgate/fingerprint/v1"); callers derive per-account
// keys from it. It never rotates silently.
func (kr *Keyring) FingerprintKey() []byte { return append([]byte(nil), kr.fingerprintKey...) }

const (
	// metaKeyCurrent holds the first data-key version of the vault ("1").
	// It is set once; the current version is the highest dek/N present.
	metaKeyCurrent = "dek/current"
	metaKeyPrefix  = "dek/"
	dekAAD         = "aliasgate data key v"
	// maxKeyVersions bounds the versions a vault may have (a corrupt or
	// hostile store cannot make OpenKeyring loop for ever).
	maxKeyVersions = 1 << 16
)

// OpenKeyring derives the key-encryption and index keys from master and
// unwraps the vault's data keys from the store's metadata, creating the first
// one when the vault is new. A master key other than the one the vault was
// created with fails with ErrWrongMasterKey. The Keyring keeps store to
// load versions added later (Refresh, Rotate).
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
	numberKey, err := hkdf.Key(sha256.New, master, nil, "aliasgate/number/v1", 32)
	if err != nil {
		return nil, fmt.Errorf("vault: derive key: %w", err)
	}
	wrap, err := newAEAD(kek)
	if err != nil {
		return nil, err
	}
	kr := &Keyring{store: store, wrap: wrap, indexKey: indexKey, fingerprintKey: fpKey, numberKey: numberKey, rand: rand.Reader}

	cur, err := store.PutMetaIfAbsent(ctx, metaKeyCurrent, []byte("1"))
	if err != nil {
		return nil, fmt.Errorf("vault: read key version: %w", err)
	}
	v, err := strconv.ParseUint(string(cur), 10, 32)
	if err != nil || v == 0 || v > maxKeyVersions {
		return nil, fmt.Errorf("vault: stored key version is corrupt")
	}
	st := &keyState{current: uint32(v), aeads: map[uint32]cipher.AEAD{}, wrapped: map[uint32][]byte{}}
	for ver := uint32(1); ver <= st.current; ver++ {
		aead, wrapped, err := kr.loadDEK(ctx, ver, true)
		if err != nil {
			return nil, err
		}
		st.aeads[ver], st.wrapped[ver] = aead, wrapped
	}
	kr.state.Store(st)
	if _, err := kr.Refresh(ctx); err != nil {
		return nil, err
	}
	return kr, nil
}

// Initialized reports whether store holds a vault: one that OpenKeyring
// has set up (its first data-key version is set). A command that reads or
// changes an existing vault checks it before OpenKeyring, which would make
// one.
func Initialized(ctx context.Context, store Store) (bool, error) {
	return hasMeta(ctx, store, metaKeyCurrent, "key version")
}

// hasMeta reports whether store holds the meta key (what names it in an
// error).
func hasMeta(ctx context.Context, store Store, key, what string) (bool, error) {
	_, err := store.GetMeta(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("vault: read %s: %w", what, err)
}

// Current returns the version new records are sealed with.
func (kr *Keyring) Current() uint32 { return kr.state.Load().current }

// Versions returns the loaded data-key versions, oldest first.
func (kr *Keyring) Versions() []uint32 {
	st := kr.state.Load()
	out := make([]uint32, 0, len(st.aeads))
	for v := uint32(1); v <= st.current; v++ {
		if st.aeads[v] != nil {
			out = append(out, v)
		}
	}
	return out
}

// Refresh loads the versions that were added to the store since the
// Keyring last looked (by `aliasgate keys rotate` or another gateway) and
// returns the current version.
func (kr *Keyring) Refresh(ctx context.Context) (uint32, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	return kr.refreshLocked(ctx)
}

func (kr *Keyring) refreshLocked(ctx context.Context) (uint32, error) {
	old := kr.state.Load()
	next := &keyState{current: old.current, aeads: old.aeads, wrapped: old.wrapped, prev: old}
	cloned := false
	for next.current < maxKeyVersions {
		aead, wrapped, err := kr.loadDEK(ctx, next.current+1, false)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return old.current, err
		}
		if !cloned {
			next.aeads, next.wrapped, cloned = maps.Clone(old.aeads), maps.Clone(old.wrapped), true
		}
		next.current++
		next.aeads[next.current], next.wrapped[next.current] = aead, wrapped
	}
	if next.current != old.current {
		kr.state.Store(next)
	}
	return next.current, nil
}

// Rotate adds the next data-key version and makes it current: new records
// are sealed with it from now on (in this process; other gateways pick it
// up with Refresh). The version is written with PutMetaIfAbsent: when
// another gateway added the same version first, its key is adopted and
// created is false. It returns the new current version.
func (kr *Keyring) Rotate(ctx context.Context) (version uint32, created bool, err error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	return kr.rotateLocked(ctx)
}

// rotateLocked is Rotate with kr.mu held.
func (kr *Keyring) rotateLocked(ctx context.Context) (version uint32, created bool, err error) {
	cur, err := kr.refreshLocked(ctx)
	if err != nil {
		return 0, false, err
	}
	if cur >= maxKeyVersions {
		return 0, false, fmt.Errorf("vault: rotate: the vault already has %d key versions", cur)
	}
	ver := cur + 1
	proposed, err := kr.newWrappedDEK(ver)
	if err != nil {
		return 0, false, err
	}
	stored, err := kr.store.PutMetaIfAbsent(ctx, dekName(ver), proposed)
	if err != nil {
		return 0, false, fmt.Errorf("vault: rotate: store data key %d: %w", ver, err)
	}
	aead, err := kr.unwrapDEK(ver, stored)
	if err != nil {
		return 0, false, err
	}
	old := kr.state.Load()
	next := &keyState{current: ver, aeads: maps.Clone(old.aeads), wrapped: maps.Clone(old.wrapped), prev: old}
	next.aeads[ver], next.wrapped[ver] = aead, bytes.Clone(stored)
	kr.state.Store(next)
	return ver, bytes.Equal(stored, proposed), nil
}

// ErrKeyConflict: the store holds another data key under a version this
// Keyring seals or opens records with (a store failed over to older data,
// after which another process rotated): records this process sealed with
// its key cannot be opened through the store's, and the other way round.
var ErrKeyConflict = errors.New("vault: the store holds another data key under a version this process uses")

// Restore puts back into the store the data-key versions this Keyring
// holds and the store lacks, oldest first, and returns them (restored). A store
// rarely loses a version (they are set once and never removed), but one
// failed over to older data — an asynchronous standby, a restored backup —
// lacks the versions added since its copy while gateways go on sealing new
// records with them: until a version is back, no other process can open
// those records, and once the processes holding it stop nobody can. The
// versions missing are the newest, so Restore reads the store from the
// current version down to the first one it holds. The key worker calls it
// at every refresh.
//
// A store whose keys are wrapped under another master key (another vault)
// gets nothing: ErrWrongMasterKey. A version the store holds with another
// key (a rotation on the store after the failover: a fork) is
// ErrKeyConflict. The records this process
// sealed with its key of that version open only here, but Restore stops
// the fork from growing: the versions above it, which only this process
// holds, are put back all the same (set once: nobody else can have written
// another key under them without the store holding it), and when the
// conflicting version is the current one, Restore rotates, so that new
// records are sealed with a key every process can load (rotated is the new
// version, 0 when it did not rotate), unless the store already holds a
// newer version (another gateway rotated on finding the same fork), which
// it adopts instead.
func (kr *Keyring) Restore(ctx context.Context) (restored []uint32, rotated uint32, err error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	st := kr.state.Load()
	var missing []uint32
	var conflict uint32
	for ver := st.current; ver >= 1; ver-- {
		stored, err := kr.store.GetMeta(ctx, dekName(ver))
		if errors.Is(err, ErrNotFound) {
			missing = append(missing, ver)
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("vault: read data key %d: %w", ver, err)
		}
		if !bytes.Equal(stored, st.wrapped[ver]) {
			if err := kr.sameMaster(ver, stored); err != nil {
				return nil, 0, err
			}
			conflict = ver
		}
		break
	}
	slices.Reverse(missing)
	if len(missing) > 0 && missing[0] == 1 {
		// The store lost every version: it lost the vault's first-version
		// marker too (OpenKeyring would make a new vault there).
		if _, err := kr.store.PutMetaIfAbsent(ctx, metaKeyCurrent, []byte("1")); err != nil {
			return nil, 0, fmt.Errorf("vault: restore key version: %w", err)
		}
	}
	for _, ver := range missing {
		stored, err := kr.store.PutMetaIfAbsent(ctx, dekName(ver), st.wrapped[ver])
		if err != nil {
			return restored, 0, fmt.Errorf("vault: restore data key %d: %w", ver, err)
		}
		if !bytes.Equal(stored, st.wrapped[ver]) {
			if err := kr.sameMaster(ver, stored); err != nil {
				return restored, 0, err
			}
			conflict = ver // written meanwhile by another process: a fork too
			continue
		}
		restored = append(restored, ver)
	}
	if conflict == 0 {
		return restored, 0, nil
	}
	err = fmt.Errorf("%w: version %d", ErrKeyConflict, conflict)
	if conflict != st.current {
		return restored, 0, err // the current version is the store's
	}
	// Another gateway that found the same fork may have rotated already:
	// its version is one every process loads, so it is adopted, not
	// rotated past (one fork, one rotation, however many gateways).
	if cur, rerr := kr.refreshLocked(ctx); rerr == nil && cur > conflict {
		return restored, 0, fmt.Errorf("%w; new records are sealed with version %d, which the store holds", err, cur)
	}
	rotated, _, rerr := kr.rotateLocked(ctx)
	if rerr != nil {
		return restored, 0, fmt.Errorf("%w; new records are still sealed with it: %w", err, rerr)
	}
	return restored, rotated, fmt.Errorf("%w; new records are sealed with version %d, which the store holds", err, rotated)
}

// sameMaster checks that stored, the store's key of version ver, is
// wrapped under this Keyring's master key: a store that holds another
// vault's keys (another master key) gets none of this one's, which would
// keep that vault's gateways from opening it.
func (kr *Keyring) sameMaster(ver uint32, stored []byte) error {
	if _, err := kr.unwrapDEK(ver, stored); err != nil {
		return fmt.Errorf("vault: restore data keys: version %d of the store: %w", ver, err)
	}
	return nil
}

func dekName(ver uint32) string { return metaKeyPrefix + strconv.FormatUint(uint64(ver), 10) }

func dekAADFor(ver uint32) []byte { return []byte(dekAAD + strconv.FormatUint(uint64(ver), 10)) }

// loadDEK unwraps data key ver from the store and returns it with its
// wrapped form. A missing key is created when create is set (the first
// versions of a new vault), else it is ErrNotFound.
func (kr *Keyring) loadDEK(ctx context.Context, ver uint32, create bool) (cipher.AEAD, []byte, error) {
	wrapped, err := kr.store.GetMeta(ctx, dekName(ver))
	if errors.Is(err, ErrNotFound) {
		if !create {
			return nil, nil, ErrNotFound
		}
		proposed, werr := kr.newWrappedDEK(ver)
		if werr != nil {
			return nil, nil, werr
		}
		wrapped, err = kr.store.PutMetaIfAbsent(ctx, dekName(ver), proposed)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("vault: read data key %d: %w", ver, err)
	}
	aead, err := kr.unwrapDEK(ver, wrapped)
	return aead, bytes.Clone(wrapped), err
}

// newWrappedDEK makes a random data key and wraps it under the KEK.
func (kr *Keyring) newWrappedDEK(ver uint32) ([]byte, error) {
	dek := make([]byte, 32)
	if _, err := io.ReadFull(kr.rand, dek); err != nil {
		return nil, fmt.Errorf("vault: random: %w", err)
	}
	nonce := make([]byte, kr.wrap.NonceSize())
	if _, err := io.ReadFull(kr.rand, nonce); err != nil {
		return nil, fmt.Errorf("vault: random: %w", err)
	}
	out := kr.wrap.Seal(nonce, nonce, dek, dekAADFor(ver))
	clear(dek)
	return out, nil
}

func (kr *Keyring) unwrapDEK(ver uint32, wrapped []byte) (cipher.AEAD, error) {
	ns := kr.wrap.NonceSize()
	if len(wrapped) < ns {
		return nil, fmt.Errorf("vault: data key %d is corrupt", ver)
	}
	dek, err := kr.wrap.Open(nil, wrapped[:ns], wrapped[ns:], dekAADFor(ver))
	if err != nil {
		return nil, ErrWrongMasterKey
	}
	defer clear(dek)
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
	st := kr.state.Load()
	ct, err := kr.sealWith(st.aeads[st.current], alias, value)
	return st.current, ct, err
}

// sealVersion encrypts value for alias under data key ver.
func (kr *Keyring) sealVersion(ver uint32, alias string, value []byte) ([]byte, error) {
	aead := kr.state.Load().aeads[ver]
	if aead == nil {
		return nil, fmt.Errorf("vault: key version %d is not loaded", ver)
	}
	return kr.sealWith(aead, alias, value)
}

// sealWith returns nonce ‖ the sealed value, in one allocation that also
// holds the alias (the additional data) past the ciphertext's capacity:
// []byte(alias) handed to the AEAD would be an allocation of its own.
func (kr *Keyring) sealWith(aead cipher.AEAD, alias string, value []byte) ([]byte, error) {
	ns := aead.NonceSize()
	n := ns + len(value) + aead.Overhead()
	buf := make([]byte, n+len(alias))
	ad := buf[n:]
	copy(ad, alias)
	out := buf[:ns:n]
	if _, err := io.ReadFull(kr.rand, out); err != nil {
		return nil, fmt.Errorf("vault: random: %w", err)
	}
	return aead.Seal(out, out, value, ad), nil
}

// open decrypts a record. A ciphertext altered or moved to another alias
// fails with ErrTampered. A record sealed under a version newer than the
// ones loaded (another gateway rotated, and the re-encryption moved it)
// makes the Keyring refresh once from the store.
func (kr *Keyring) open(ctx context.Context, r *Record) ([]byte, error) {
	_, v, err := kr.openAppend(ctx, nil, r)
	return v, err
}

// openLen is the room openAppend needs for r: its alias (the additional
// data) and its value, which is shorter than its ciphertext.
func openLen(r *Record) int { return len(r.Alias) + len(r.Ciphertext) }

// openAppend is open into dst's spare capacity: it appends r's alias (the
// additional data) and its value to dst and returns the extended buffer
// and the value (a slice of it, capped at its end). When dst lacks the
// room (openLen), the buffer returned is a new one holding only these:
// dst is never copied, so that no value it holds is left behind in a
// buffer the caller does not know of. One buffer thus holds the values of
// a whole call, which the caller wipes once it has copied them.
func (kr *Keyring) openAppend(ctx context.Context, dst []byte, r *Record) (buf, v []byte, err error) {
	aead := kr.state.Load().aeads[r.KeyVersion]
	if aead == nil && r.KeyVersion > kr.Current() {
		if _, err := kr.Refresh(ctx); err != nil {
			return dst, nil, fmt.Errorf("vault: load key version %d: %w", r.KeyVersion, err)
		}
		aead = kr.state.Load().aeads[r.KeyVersion]
	}
	if aead == nil {
		return dst, nil, fmt.Errorf("%w: %d", ErrUnknownKeyVersion, r.KeyVersion)
	}
	ns := aead.NonceSize()
	if len(r.Ciphertext) < ns+aead.Overhead() {
		return dst, nil, ErrTampered
	}
	n := len(r.Alias)
	if cap(dst)-len(dst) < openLen(r) {
		dst = make([]byte, 0, openLen(r))
	}
	start := len(dst)
	dst = append(dst, r.Alias...)
	v, err = aead.Open(dst[start+n:start+n], r.Ciphertext[:ns], r.Ciphertext[ns:], dst[start:start+n])
	if err != nil {
		return dst[:start], nil, ErrTampered
	}
	return dst[:start+n+len(v)], v[:len(v):len(v)], nil
}

// indexKeyFor returns the HMAC index key of value under format f in the
// account stored as owner: HMAC-SHA256(index key, indexInput(owner, f,
// value)). Its HMAC state and input buffer come from a pool (getIndexMAC):
// hmac.New allocates and keys two SHA-256 states, which was most of the
// cost for a short value.
func (kr *Keyring) indexKeyFor(owner string, f Format, value string) []byte {
	return kr.appendIndexKey(nil, owner, f, value)
}

// appendIndexKey appends indexKeyFor(owner, f, value) to dst (sha256.Size
// bytes) and returns the extended buffer: with the room in dst, no
// allocation.
func (kr *Keyring) appendIndexKey(dst []byte, owner string, f Format, value string) []byte {
	m := kr.getIndexMAC()
	defer kr.putIndexMAC(m)
	return m.sum(dst, owner, f, value)
}

// indexMAC is a keyed HMAC-SHA256 state of the index key with a buffer
// for its input (which holds a value in clear while it is hashed: sum
// wipes it before it returns).
type indexMAC struct {
	h  hash.Hash
	in []byte
}

// maxIndexInput is the largest input buffer an indexMAC keeps in the pool
// (a short value's, with its account name); a larger one is dropped.
const maxIndexInput = 256

// getIndexMAC returns a reset index HMAC state; putIndexMAC gives it back.
func (kr *Keyring) getIndexMAC() *indexMAC {
	if m, ok := kr.indexMACs.Get().(*indexMAC); ok {
		return m
	}
	return &indexMAC{h: hmac.New(sha256.New, kr.indexKey)}
}

func (kr *Keyring) putIndexMAC(m *indexMAC) {
	if cap(m.in) > maxIndexInput {
		m.in = nil
	}
	kr.indexMACs.Put(m)
}

// sum appends to dst the index key of value under f in owner's account,
// and leaves m reset and its input buffer wiped. The input goes to the
// HMAC through m's buffer in pieces of at most maxIndexInput bytes (one
// piece for a short value, as before): a large value was copied whole
// into a buffer of its own for each format it fits (the pool keeps no
// buffer over maxIndexInput), a clear copy made only to be hashed: a
// reveal of 20 values of 256 KiB allocated 6 times the values
// (vaultapi TestRevealCopiesLargeValuesFewTimes).
func (m *indexMAC) sum(dst []byte, owner string, f Format, value string) []byte {
	if cap(m.in) < maxIndexInput {
		m.in = make([]byte, 0, maxIndexInput) // room for every piece: the pool keeps it
	}
	m.in = appendIndexInput(m.in[:0], owner, f, "")
	for {
		n := min(len(value), max(maxIndexInput-len(m.in), 1))
		m.in = append(m.in, value[:n]...)
		value = value[n:]
		m.h.Write(m.in)
		if len(value) == 0 {
			break
		}
		m.in = m.in[:0]
	}
	clear(m.in[:cap(m.in)]) // every piece: a later, shorter one leaves the earlier's tail
	dst = m.h.Sum(dst)
	m.h.Reset()
	return dst
}

// appendIndexInput appends what the index HMAC of value under format f in
// the account stored as owner is computed over. The default account (owner
// "") keeps the form from before accounts, format ‖ 0 ‖ value, so its
// existing index entries stay valid; any other account's input is
// 0x01 ‖ uvarint(len(owner)) ‖ owner ‖ format ‖ 0 ‖ value, which no
// default-account input starts like (a format name starts with a letter).
// The same value in two accounts thus has unrelated index keys, and so
// unrelated aliases.
func appendIndexInput(b []byte, owner string, f Format, value string) []byte {
	if owner != "" {
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(len(owner)))
		b = append(b, owner...)
	}
	b = append(b, f...)
	b = append(b, 0)
	return append(b, value...)
}
