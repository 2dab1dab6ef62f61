package vault

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"testing"
	"time"
)

// spellUvarint appends u as a varint of n bytes (n at least its shortest
// length, at most ten): the shortest spelling, then continuation bytes
// before a zero group, as binary.Uvarint reads it (overlong).
func spellUvarint(b []byte, u uint64, n int) []byte {
	for i := 0; i < n-1; i++ {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
}

// reviewRecord returns MarshalRecord(r) with its two times spelled in
// createdLen and expiresLen bytes (less than their shortest: the
// shortest), and where the creation time starts. The times come after
// the classifiers and before the index key and the owner.
func reviewRecord(r *Record, createdLen, expiresLen int) ([]byte, int) {
	enc := MarshalRecord(r)
	tail := appendBytes(nil, r.IndexKey)
	if r.Owner != "" {
		tail = appendString(tail, r.Owner)
	}
	var exp int64
	if !r.ExpiresAt.IsZero() {
		exp = r.ExpiresAt.UnixNano()
	}
	times := binary.AppendVarint(binary.AppendVarint(nil, r.CreatedAt.UnixNano()), exp)
	at := len(enc) - len(tail) - len(times)
	b := bytes.Clone(enc[:at])
	for _, t := range []struct {
		v int64
		n int
	}{{r.CreatedAt.UnixNano(), createdLen}, {exp, expiresLen}} {
		u := uint64(t.v) << 1 // zigzag, as binary.AppendVarint
		if t.v < 0 {
			u = ^u
		}
		b = spellUvarint(b, u, max(t.n, len(binary.AppendUvarint(nil, u))))
	}
	return append(b, tail...), at
}

// TestUnmarshalRecordReviewTimes: records whose times are zero, negative,
// the extremes of int64 nanoseconds and every power of two between, with
// short and long fields around them (so that the times are read from the
// eight-byte load or not), decode to their own times and fields; each
// time spelled overlong in up to ten bytes decodes the same; every record
// cut at every length, or with a byte more, is refused; a time whose tenth
// byte overflows is refused.
func TestUnmarshalRecordReviewTimes(t *testing.T) {
	times := []int64{0, 1, -1, 63, -64, 64, -65, math.MaxInt64, math.MinInt64, math.MinInt64 + 1, math.MaxInt64 - 1,
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC).UnixNano(), time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC).UnixNano(),
		time.Date(1677, 9, 21, 0, 12, 43, 145224192, time.UTC).UnixNano(), time.Date(2026, 12, 8, 0, 0, 0, 1, time.UTC).UnixNano()}
	for k := 0; k < 63; k += 3 {
		times = append(times, 1<<k, -1<<k, 1<<k-1, -(1<<k)+1)
	}
	shapes := []Record{
		{Format: FormatUUID, Storage: StorageVolatile, Ciphertext: make([]byte, 31)},
		{Format: FormatFPESixTFour, Storage: StoragePersistent, KeyVersion: 300, Ciphertext: bytes.Repeat([]byte{0x80}, 200),
			Classifiers: []string{"pan", "x"}, IndexKey: bytes.Repeat([]byte{0xff}, 32), Owner: "acme"},
		{Format: "", Storage: "", Ciphertext: []byte{}, IndexKey: []byte{1}},
	}
	for si := range shapes {
		for i, created := range times {
			r := shapes[si]
			r.Alias = "a"
			r.CreatedAt = time.Unix(0, created).UTC()
			if exp := times[(i*7+si)%len(times)]; exp != 0 {
				r.ExpiresAt = time.Unix(0, exp).UTC()
			}
			if r.IndexKey != nil && len(r.IndexKey) == 0 {
				r.IndexKey = nil
			}
			enc := MarshalRecord(&r)
			if got, _ := reviewRecord(&r, 0, 0); !bytes.Equal(got, enc) {
				t.Fatalf("reviewRecord %x, MarshalRecord %x", got, enc)
			}
			for cl := 0; cl <= 10; cl++ {
				for el := 0; el <= 10; el += 1 + cl%3 {
					b, _ := reviewRecord(&r, cl, el)
					got, err := UnmarshalRecord("a", b)
					if err != nil {
						t.Fatalf("%x (times in %d and %d bytes): %v", b, cl, el, err)
					}
					if !got.CreatedAt.Equal(r.CreatedAt) || !got.ExpiresAt.Equal(r.ExpiresAt) || got.ExpiresAt.IsZero() != r.ExpiresAt.IsZero() ||
						got.CreatedAt.UnixNano() != created {
						t.Fatalf("%x: times %v, %v; want %v, %v", b, got.CreatedAt, got.ExpiresAt, r.CreatedAt, r.ExpiresAt)
					}
					want := r
					want.CreatedAt, want.ExpiresAt = got.CreatedAt, got.ExpiresAt
					if want.Ciphertext == nil {
						want.Ciphertext = []byte{}
					}
					if len(want.Classifiers) == 0 {
						want.Classifiers = nil
					}
					if !reflect.DeepEqual(got, &want) {
						t.Fatalf("%x: %+v; want %+v", b, got, &want)
					}
					if cl == 0 && el == 0 || cl == 10 && el == 10 {
						for n := 0; n < len(b); n++ {
							if _, err := UnmarshalRecord("a", b[:n]); err == nil {
								t.Fatalf("%x cut at %d: accepted", b, n)
							}
						}
						if _, err := UnmarshalRecord("a", append(bytes.Clone(b), 0)); err == nil {
							t.Fatalf("%x and a byte more: accepted", b)
						}
					}
				}
			}
			// A ten-byte time whose last byte is more than 1 overflows.
			b, at := reviewRecord(&r, 10, 0)
			bad := append(append(bytes.Clone(b[:at]), 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02), b[at+10:]...)
			if _, err := UnmarshalRecord("a", bad); err == nil {
				t.Fatalf("%x: a ten-byte time that overflows, accepted", bad)
			}
			bad[at+9] = 0x01 // 1<<63, zigzag for 1<<62: valid
			if got, err := UnmarshalRecord("a", bad); err != nil || got.CreatedAt.UnixNano() != 1<<62 {
				t.Fatalf("%x: %v, %v; want the time 1<<62", bad, got, err)
			}
		}
	}
}
