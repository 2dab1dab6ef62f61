package vault

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"time"
)

// Storage is how long a value is kept.
type Storage string

// Storage classes.
const (
	// StoragePersistent keeps the value until its alias is deleted.
	StoragePersistent Storage = "PERSISTENT"
	// StorageVolatile keeps the value for the vault's volatile TTL (default
	// 1 h), for data such as a CVC that must not be kept after authorization.
	StorageVolatile Storage = "VOLATILE"
)

// ParseStorage returns the storage class named s, whatever the case of its
// ASCII letters (only those: no other character is read as one of them);
// the empty string is StoragePersistent.
func ParseStorage(s string) (Storage, error) {
	switch {
	case s == "", equalFoldASCII(s, string(StoragePersistent)):
		return StoragePersistent, nil
	case equalFoldASCII(s, string(StorageVolatile)):
		return StorageVolatile, nil
	}
	return "", fmt.Errorf("%w: want PERSISTENT or VOLATILE", ErrInvalidStorage)
}

// equalFoldASCII reports whether s is upper, an upper-case ASCII name, in
// any case of its ASCII letters. Unlike strings.EqualFold (ſ is s, K is k)
// and strings.ToUpper (ı is I), no other character matches a letter.
func equalFoldASCII(s, upper string) bool {
	if len(s) != len(upper) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c != upper[i] {
			return false
		}
	}
	return true
}

// Record is what a store keeps under one alias. The value is never in it in
// clear: Ciphertext is AES-256-GCM under the data key of KeyVersion, with the
// alias as additional data.
type Record struct {
	Alias       string
	Format      Format
	Storage     Storage
	KeyVersion  uint32
	Ciphertext  []byte // nonce ‖ sealed value
	Classifiers []string
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: never
	// IndexKey is the HMAC index entry that points at this alias (nil for
	// volatile records, which have none), so that Delete can remove it.
	IndexKey []byte
	// Owner is the account that owns the record, "" for the vault's default
	// account (DefaultAccountMeta): records written before accounts existed
	// have none and so belong to it. Only the owner reaches the record
	// through the Service.
	Owner string
}

// Expired reports whether r has an expiry at or before now.
func (r *Record) Expired(now time.Time) bool {
	return !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)
}

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	c := *r
	c.Ciphertext = append([]byte(nil), r.Ciphertext...)
	c.Classifiers = append([]string(nil), r.Classifiers...)
	if r.IndexKey != nil {
		c.IndexKey = append([]byte(nil), r.IndexKey...)
	}
	return &c
}

// PutItem is one record to write.
type PutItem struct {
	Record *Record
}

// PutStatus says what Put did with an item.
type PutStatus int

// Put outcomes.
const (
	// PutCreated: the record and its index entry were written.
	PutCreated PutStatus = iota + 1
	// PutExisting: the index entry already pointed at a live alias; nothing
	// was written and PutResult.Record is the existing record.
	PutExisting
	// PutCollision: the alias is taken by another record; nothing was
	// written. The caller retries with a fresh alias.
	PutCollision
)

// PutResult is the outcome of one PutItem.
type PutResult struct {
	Status PutStatus
	Record *Record // the record now stored under the index key: the item's own Record when created, else the existing one
}

// Store keeps records. Implementations must be safe for concurrent use and
// pass the conformance suite in vault/vaulttest. A store returns only live
// records: one whose ExpiresAt has passed is treated as absent.
type Store interface {
	// Get returns the records of aliases, in order, with nil for an alias that
	// is missing or expired.
	Get(ctx context.Context, aliases []string) ([]*Record, error)
	// LookupIndex returns, for each HMAC index key, the alias it points at,
	// or "" when there is none.
	LookupIndex(ctx context.Context, keys [][]byte) ([]string, error)
	// LookupRecords is LookupIndex followed by Get of the aliases found, in
	// one read (one transaction, query or lock, or answers a cache holds
	// for one state of the store: the records are those the index pointed
	// at): aliases[i] is what LookupIndex returns for keys[i]
	// and recs[i] what Get returns for aliases[i] (nil when aliases[i] is
	// "", or its record is missing or expired).
	LookupRecords(ctx context.Context, keys [][]byte) (aliases []string, recs []*Record, err error)
	// Put writes items atomically and durably (all or nothing; on return
	// with a nil error they survive a crash). For each item, in order: when
	// its IndexKey already points at a live record, the result is
	// PutExisting; else when its alias is taken, PutCollision; else the
	// record (and index entry) is written: PutCreated. Items of one call see
	// each other, so two items with the same index key give one record.
	Put(ctx context.Context, items []PutItem) ([]PutResult, error)
	// Delete removes the alias and its index entry when the record's Owner
	// is owner, atomically; ErrNotFound when the alias is absent or owned by
	// another account (the record then stays).
	Delete(ctx context.Context, alias, owner string) error
	// HandOut records that the live records of aliases were given to a
	// caller other than the one that created them (Service.Redact found
	// the value's alias, or met it in Put as PutExisting), so that Release
	// keeps them. live[i] reports whether aliases[i] has a live record: an
	// absent or expired alias gets nothing recorded. Recording an alias
	// again changes nothing. Each alias's check and mark are atomic with
	// Release and Delete of that alias: a Release that comes after the
	// mark keeps the record, one that came before removed it and the mark
	// reports it not live.
	HandOut(ctx context.Context, aliases []string) (live []bool, err error)
	// Release is Delete, unless HandOut recorded the alias since its
	// record was written: ErrHandedOut, and the record stays. The check
	// and the delete are atomic (a compare-and-delete). Delete removes
	// what HandOut recorded with the record.
	Release(ctx context.Context, alias, owner string) error
	// SetOwner gives the live record of alias, when its Owner is from, to
	// the account stored as to, atomically (the accounts migration,
	// Service.MigrateRecord): the index entry of its IndexKey is removed when
	// it points at alias; then the record's IndexKey becomes indexKey and
	// that entry points at alias, unless indexKey is nil or already points
	// at a live record (the record then keeps no index entry). The value,
	// classifiers and expiry stay. ErrNotFound when the alias is absent,
	// expired or not from's (the record then stays as it was).
	SetOwner(ctx context.Context, alias, from, to string, indexKey []byte) error
	// SetClassifiers replaces the classifiers of every alias given that
	// exists; ErrNotFound when none does.
	SetClassifiers(ctx context.Context, aliases []string, classifiers []string) error
	// GetMeta returns a vault-wide setting (such as a wrapped data key);
	// ErrNotFound when unset.
	GetMeta(ctx context.Context, key string) ([]byte, error)
	// PutMetaIfAbsent stores value under key unless the key is set, and
	// returns what is stored after the call (value, or the earlier one).
	PutMetaIfAbsent(ctx context.Context, key string, value []byte) ([]byte, error)
	// Close releases the store. Later calls return ErrClosed.
	Close() error
}

// Record encodings: the first byte of an encoded record. Version 2 is
// version 1 followed by the owner (a string); a record of the default
// account (Owner "") is written as version 1, byte for byte what the
// code before accounts wrote and reads.
const (
	recordVersion      = 1
	recordVersionOwned = 2
)

// MarshalRecord encodes r (without its alias, which is the key it is stored
// under) in a compact binary form for key-value stores.
func MarshalRecord(r *Record) []byte {
	return AppendRecord(make([]byte, 0, 64+len(r.Ciphertext)+len(r.IndexKey)+len(r.Owner)), r)
}

// AppendRecord appends the encoding of MarshalRecord to b (a buffer the
// caller reuses) and returns the extended buffer.
func AppendRecord(b []byte, r *Record) []byte {
	if r.Owner == "" {
		b = append(b, recordVersion)
	} else {
		b = append(b, recordVersionOwned)
	}
	b = appendString(b, string(r.Format))
	b = appendString(b, string(r.Storage))
	b = binary.AppendUvarint(b, uint64(r.KeyVersion))
	b = appendBytes(b, r.Ciphertext)
	b = binary.AppendUvarint(b, uint64(len(r.Classifiers)))
	for _, c := range r.Classifiers {
		b = appendString(b, c)
	}
	b = binary.AppendVarint(b, r.CreatedAt.UnixNano())
	var exp int64
	if !r.ExpiresAt.IsZero() {
		exp = r.ExpiresAt.UnixNano()
	}
	b = binary.AppendVarint(b, exp)
	b = appendBytes(b, r.IndexKey)
	if r.Owner != "" {
		b = appendString(b, r.Owner)
	}
	return b
}

// UnmarshalRecord decodes what MarshalRecord wrote, for the given alias.
// The record shares no memory with b. It costs one allocation (a
// recordBox) for a record whose ciphertext, index key and classifiers fit
// in the box, as a card number's and a CVC's do, and one more when it has
// classifiers or an owner: one string that they are all substrings of.
func UnmarshalRecord(alias string, b []byte) (*Record, error) {
	d := decoder{b: b}
	v := d.byte()
	if v != recordVersion && v != recordVersionOwned {
		return nil, fmt.Errorf("vault: record version %d is not supported", v)
	}
	box := new(recordBox)
	r := &box.rec
	r.Alias = alias
	r.Format = formatOf(d.raw())
	r.Storage = storageOf(d.raw())
	r.KeyVersion = uint32(d.uvarint())
	ciphertext := d.raw()
	n := d.uvarint()
	if n > 1024 || n > uint64(len(d.b)) { // each classifier takes a byte at least
		d.err = errCorrupt
	}
	// The classifiers and the owner are substrings of tail, a copy of
	// what follows the classifier count; at gives where a field just
	// decoded starts in it.
	var tail string
	if d.err == nil && (n > 0 || v == recordVersionOwned) {
		tail = string(d.b)
	}
	end := len(d.b)
	at := func(f []byte) string {
		i := end - len(d.b) - len(f)
		return tail[i : i+len(f)]
	}
	if n > 0 && d.err == nil {
		if n <= uint64(len(box.cls)) {
			r.Classifiers = box.cls[:n:n]
		} else {
			r.Classifiers = make([]string, n)
		}
		for i := range r.Classifiers {
			f := d.raw()
			if d.err != nil {
				break
			}
			r.Classifiers[i] = at(f)
		}
	}
	r.CreatedAt = time.Unix(0, d.varint()).UTC()
	if exp := d.varint(); exp != 0 {
		r.ExpiresAt = time.Unix(0, exp).UTC()
	}
	indexKey := d.raw()
	if v == recordVersionOwned {
		if f := d.raw(); d.err == nil {
			if r.Owner = at(f); r.Owner == "" {
				d.err = errCorrupt // an owned record names its owner
			}
		}
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = errCorrupt
	}
	if d.err != nil {
		return nil, fmt.Errorf("vault: decode record: %w", d.err)
	}
	// The ciphertext and the index key are copied out of b (a store's
	// page, valid only in its transaction) into the box, or one
	// allocation when they do not fit, each slice capped so that neither
	// can grow into the other. The ciphertext is never nil (empty for an
	// empty field), the index key nil when empty.
	buf := box.b[:]
	if len(ciphertext)+len(indexKey) > len(buf) {
		buf = make([]byte, len(ciphertext)+len(indexKey))
	}
	r.Ciphertext = buf[:copy(buf, ciphertext):len(ciphertext)]
	if len(indexKey) != 0 {
		r.IndexKey = buf[len(ciphertext) : len(ciphertext)+len(indexKey) : len(ciphertext)+len(indexKey)]
		copy(r.IndexKey, indexKey)
	}
	return r, nil
}

// recordBox is what UnmarshalRecord allocates: the Record, with room for
// the ciphertext and index key of a short value (a card number: 44 bytes
// of ciphertext and a 32-byte index key) and for one classifier; 288
// bytes, one of the allocator's size classes.
type recordBox struct {
	rec Record
	cls [1]string
	b   [80]byte
}

var errCorrupt = errors.New("corrupt record")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendBytes is appendString of a byte slice, without the string a
// conversion made (AppendRecord's ciphertext and index key: two
// allocations a record written, the CVC's of every inbound request).
func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// uvarint decodes the next unsigned varint: binary.Uvarint's answer. One
// of a single byte (every length of a short value's record, its key
// version and classifier count) is read without the call
// (FuzzDecoderUvarintAgainstBefore); one of two to nine bytes with eight
// bytes to read (a record's times: a Unix time in nanoseconds,
// zigzag-encoded, takes nine) from one eight-byte load, its seven-bit
// groups packed without a loop (FuzzDecoderVarintAgainstBefore); anything
// else (a cut, overlong or ten-byte varint) by binary.Uvarint.
func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) > 0 && d.b[0] < 0x80 {
		v := uint64(d.b[0])
		d.b = d.b[1:]
		return v
	}
	if len(d.b) >= 8 {
		w := binary.LittleEndian.Uint64(d.b)
		if last := ^w & 0x8080808080808080; last != 0 {
			// The first byte without the continuation bit ends it.
			n := bits.TrailingZeros64(last)/8 + 1
			d.b = d.b[n:]
			return packGroups(w & (^uint64(0) >> (64 - 8*n)))
		}
		if len(d.b) >= 9 && d.b[8] < 0x80 {
			v := packGroups(w) | uint64(d.b[8])<<56
			d.b = d.b[9:]
			return v
		}
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// packGroups returns the seven low bits of each of the eight bytes of w
// (little-endian), packed: the value of a varint whose bytes w holds
// (those past its last byte cleared).
func packGroups(w uint64) uint64 {
	return w&0x7F | w>>1&(0x7F<<7) | w>>2&(0x7F<<14) | w>>3&(0x7F<<21) |
		w>>4&(0x7F<<28) | w>>5&(0x7F<<35) | w>>6&(0x7F<<42) | w>>7&(0x7F<<49)
}

// varint decodes the next signed varint: binary.Varint's answer (0 when it
// fails).
func (d *decoder) varint() int64 {
	ux := d.uvarint()
	return int64(ux>>1) ^ -int64(ux&1) // binary.Varint's x, or ^x when ux is odd
}

// raw returns the next length-prefixed field, in the decoded bytes (not a
// copy). A field of fewer than 128 bytes that is all there (a short
// value's every field) is cut here, with one update of d.b; anything else
// is rawLong's (FuzzDecoderVarintAgainstBefore).
func (d *decoder) raw() []byte {
	if b := d.b; d.err == nil && len(b) > 0 && b[0] < 0x80 {
		if n := int(b[0]) + 1; n <= len(b) {
			d.b = b[n:]
			return b[1:n:n]
		}
	}
	return d.rawLong()
}

// rawLong is raw read through uvarint: a long field, or one cut short.
func (d *decoder) rawLong() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	f := d.b[:n:n]
	d.b = d.b[n:]
	return f
}

// formatOf and storageOf return the constant for a decoded format or
// storage name without allocating (every record holds one of a few), and a
// copy for any other.
func formatOf(b []byte) Format {
	for _, f := range formats {
		if string(f) == string(b) {
			return f
		}
	}
	return Format(b)
}

func storageOf(b []byte) Storage {
	switch string(b) {
	case string(StoragePersistent):
		return StoragePersistent
	case string(StorageVolatile):
		return StorageVolatile
	}
	return Storage(b)
}
