package memstore

import (
	"crypto/sha256"
	"iter"
	"slices"
)

// The records map and the expiry queue hold no pointer per record: each
// alias is a fixed-size array key (aliasKey), not a string, and the encoded
// record is in a slab (slabs.go). A gateway holds a volatile record for
// every CVC it saw in the last TTL, hundreds of thousands under load, and
// the garbage collector follows every pointer of them at every cycle: with
// string keys that was three pointers per record (the map key, the queue
// entry, the encoding) and two objects; then one pointer and one object;
// now none, one object per slab, and neither the map nor the queue is
// scanned. See docs/DECISIONS.md.

// shortAlias is the longest alias an aliasKey holds itself (a 48-byte
// key). The aliases the vault makes are 16 to 36 characters with the
// environment name "live" or "test"; only a GENERIC_T_FOUR alias with a
// 16-character environment name (48) is longer. A longer alias is hashed
// (and its string kept in recordMap.long): correct, not pointer-free.
const shortAlias = 47

// hashedAlias is the n of an aliasKey that holds the SHA-256 of a longer
// alias (recordMap.long has the alias).
const hashedAlias = 0xFF

// aliasKey is an alias as a pointer-free map key: its bytes, or the
// SHA-256 of an alias longer than shortAlias.
type aliasKey struct {
	n uint8 // the alias's length, or hashedAlias
	b [shortAlias]byte
}

// keyOf returns the key of alias. Two aliases have the same key only when
// they are equal (a hashed key never equals a short one: their n differ).
func keyOf(alias string) aliasKey {
	var k aliasKey
	if len(alias) <= shortAlias {
		k.n = uint8(len(alias))
		copy(k.b[:], alias)
		return k
	}
	k.n = hashedAlias
	sum := sha256.Sum256([]byte(alias))
	copy(k.b[:], sum[:])
	return k
}

// recordMap maps aliases to entries.
type recordMap struct {
	m    map[aliasKey]entry
	long map[aliasKey]string // the aliases of hashed keys
}

func newRecordMap() recordMap {
	return recordMap{m: map[aliasKey]entry{}, long: map[aliasKey]string{}}
}

// get returns the entry of alias.
func (rm recordMap) get(alias string) (entry, bool) {
	e, ok := rm.m[keyOf(alias)]
	return e, ok
}

// set stores e under alias and returns its key.
func (rm recordMap) set(alias string, e entry) aliasKey {
	k := keyOf(alias)
	rm.setKey(k, alias, e)
	return k
}

// setKey stores e under alias, whose key (keyOf) is k.
func (rm recordMap) setKey(k aliasKey, alias string, e entry) {
	rm.m[k] = e
	if k.n == hashedAlias {
		rm.long[k] = alias
	}
}

func (rm recordMap) delKey(k aliasKey) {
	delete(rm.m, k)
	if k.n == hashedAlias {
		delete(rm.long, k)
	}
}

// alias returns the alias of a key of the map.
func (rm recordMap) alias(k aliasKey) string {
	if k.n == hashedAlias {
		return rm.long[k]
	}
	return string(k.b[:k.n])
}

func (rm recordMap) len() int { return len(rm.m) }

// all yields each key with its entry, in no order.
func (rm recordMap) all() iter.Seq2[aliasKey, entry] {
	return func(yield func(aliasKey, entry) bool) {
		for k, e := range rm.m {
			if !yield(k, e) {
				return
			}
		}
	}
}

// aliasesAfter returns the aliases greater than after, sorted (the scans
// of export.go).
func (rm recordMap) aliasesAfter(after string) []string {
	var out []string
	for k := range rm.m {
		if a := rm.alias(k); a > after {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}
