package boltstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CompactResult reports a compaction.
type CompactResult struct {
	// Before and After are the file sizes in bytes.
	Before, After int64
	// Keys counts the keys copied, over every bucket.
	Keys int
}

// compactTxSize bounds the bytes copied in one transaction of Compact.
const compactTxSize = 64 << 20

// Compact rewrites the vault file at path into a fresh file with every page
// full (bbolt's Compact, FillPercent 1.0) and replaces path with it, the way
// etcd's defrag does. bbolt reuses the space that deletes and copy-on-write
// free but never gives it back to the file system, and pages split by
// inserts in random (HMAC and alias) order are about half full.
//
// The vault must not be in use: Compact holds the file's exclusive lock for
// the whole run (ErrLocked after timeout when a gateway has it), so no write
// can reach the old file after it was copied. The copy is written next to
// path (path + ".compact"), committed with fsync, and checked (every
// bucket's key count and the schema version) before it is renamed over
// path and the directory is fsynced. On any error the original is left as
// it was and the copy removed; a copy left by a crash is removed by the next
// run. No backup of the old file is kept: it would be a second copy of the
// encrypted card data, including the values deleted since. A path that is
// a symbolic link is followed: the file it names is replaced, and the link
// stays.
func Compact(path string, timeout time.Duration) (CompactResult, error) {
	var res CompactResult
	if timeout <= 0 {
		timeout = time.Second
	}
	// A link (the vault on another volume) is followed: the copy goes
	// next to the file it names and replaces that file, not the link,
	// which would leave the old file, deleted values and all, behind.
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return res, fmt.Errorf("boltstore: compact %s: %w", path, err)
	}
	path = real
	fi, err := os.Stat(path)
	if err != nil {
		return res, fmt.Errorf("boltstore: compact %s: %w", path, err)
	}
	res.Before = fi.Size()
	src, err := openDB(path, timeout, nil)
	if err != nil {
		return res, err
	}
	defer src.Close()
	if err := checkSchema(src); err != nil {
		return res, fmt.Errorf("boltstore: compact %s: %w", path, err)
	}
	tmp := path + ".compact"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("boltstore: compact %s: remove an old %s: %w", path, tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: timeout})
	if err != nil {
		return res, fmt.Errorf("boltstore: compact %s: create %s: %w", path, tmp, err)
	}
	if err := bolt.Compact(dst, src, compactTxSize); err != nil {
		dst.Close()
		return res, fmt.Errorf("boltstore: compact %s: copy: %w", path, err)
	}
	if res.Keys, err = sameKeys(src, dst); err != nil {
		dst.Close()
		return res, fmt.Errorf("boltstore: compact %s: the copy does not match: %w", path, err)
	}
	if err := dst.Close(); err != nil {
		return res, fmt.Errorf("boltstore: compact %s: close %s: %w", path, tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return res, fmt.Errorf("boltstore: compact %s: replace: %w", path, err)
	}
	ok = true
	if err := syncDir(filepath.Dir(path)); err != nil {
		return res, fmt.Errorf("boltstore: compact %s: the file was replaced but its directory could not be fsynced: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil {
		res.After = fi.Size()
	}
	return res, nil
}

// checkSchema fails unless db holds this package's schema version.
func checkSchema(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return ErrCorrupt
		}
		if v := meta.Get(keySchema); string(v) != SchemaVersion {
			return ErrSchema
		}
		return nil
	})
}

// sameKeys compares the top-level buckets of a and b and their key counts,
// and returns the number of keys.
func sameKeys(a, b *bolt.DB) (int, error) {
	count := func(db *bolt.DB) (map[string]int, error) {
		out := map[string]int{}
		err := db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
				out[string(name)] = bk.Stats().KeyN
				return nil
			})
		})
		return out, err
	}
	ca, err := count(a)
	if err != nil {
		return 0, err
	}
	cb, err := count(b)
	if err != nil {
		return 0, err
	}
	total := 0
	for name, n := range ca {
		if m, ok := cb[name]; !ok || m != n {
			return 0, fmt.Errorf("bucket %s: %d keys, the copy %d", name, n, m)
		}
		total += n
	}
	if len(cb) != len(ca) {
		return 0, fmt.Errorf("%d buckets, the copy %d", len(ca), len(cb))
	}
	if err := checkSchema(b); err != nil {
		return 0, err
	}
	return total, nil
}

// syncDir fsyncs a directory, making a rename in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
