package vault

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// varintBefore is decoder.varint as it was before uvarint read long
// varints from one eight-byte load: binary.Varint.
func varintBefore(d *decoder) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// varintCases are encodings around every length of a varint: the values
// at and beside each 7-bit boundary, as unsigned and signed varints,
// overlong spellings (continuation bytes before a zero), ten-byte ones
// that overflow and one that does not, and bytes cut at every length.
func varintCases() [][]byte {
	var out [][]byte
	for k := 0; k <= 64; k += 7 {
		for _, d := range []int64{-1, 0, 1} {
			u := uint64(1)<<k + uint64(d)
			out = append(out, binary.AppendUvarint(nil, u), binary.AppendVarint(nil, int64(u)), binary.AppendVarint(nil, -int64(u)))
		}
	}
	for _, v := range []int64{0, 1, -1, 63, -64, 64, -65, math.MaxInt64, math.MinInt64,
		time.Date(2026, 12, 7, 23, 59, 59, 999999999, time.UTC).UnixNano(), time.Date(1969, 1, 1, 0, 0, 0, 1, time.UTC).UnixNano(),
		time.Date(2262, 4, 11, 23, 47, 16, 0, time.UTC).UnixNano()} {
		out = append(out, binary.AppendVarint(nil, v), binary.AppendUvarint(nil, uint64(v)))
	}
	for n := 1; n <= 11; n++ {
		over := bytes.Repeat([]byte{0x80}, n)
		out = append(out, append(bytes.Clone(over), 0), append(bytes.Clone(over), 1), append(bytes.Clone(over), 2), append(bytes.Clone(over), 0x7F))
		ff := bytes.Repeat([]byte{0xFF}, n)
		out = append(out, append(bytes.Clone(ff), 0), append(bytes.Clone(ff), 1), append(bytes.Clone(ff), 2), ff)
	}
	var cut [][]byte
	for _, c := range out {
		for i := 0; i < len(c); i++ {
			cut = append(cut, c[:i])
		}
	}
	return append(out, cut...)
}

// TestDecoderVarintAgainstBefore: every varint of varintCases, alone and
// followed by up to ten more bytes (so that it is read from the
// eight-byte load or not), and two record times after a field, read as
// unsigned, signed and raw varints as before (compareUvarints); and
// random bytes.
func TestDecoderVarintAgainstBefore(t *testing.T) {
	tail := []byte{0x05, 0x80, 0x81, 0x01, 0x7F, 0xFF, 0x00, 0x02, 0x90, 0x03}
	opsList := [][]byte{nil, {1, 1, 1, 1, 1, 1, 1, 1}, {2}, {3, 1, 1, 1}, {0, 1, 2, 3, 0, 1, 2, 3}}
	for _, c := range varintCases() {
		for extra := 0; extra <= len(tail); extra++ {
			b := append(bytes.Clone(c), tail[:extra]...)
			for _, ops := range opsList {
				compareUvarints(t, b, ops)
			}
		}
	}
	now := time.Now().UnixNano()
	rec := binary.AppendVarint(binary.AppendVarint(appendString(nil, "pan"), now), now+int64(time.Hour))
	compareUvarints(t, append(rec, 0), []byte{2, 1, 1, 2})
	r := rand.New(rand.NewPCG(21, 3))
	for range 20000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = byte(r.Uint32())
			if r.IntN(2) == 0 {
				b[i] |= 0x80 // long varints
			}
		}
		ops := make([]byte, r.IntN(8))
		for i := range ops {
			ops[i] = byte(r.Uint32())
		}
		compareUvarints(t, b, ops)
	}
}

// FuzzDecoderVarintAgainstBefore: the decoder's uvarint, varint and raw
// against binary.Uvarint and binary.Varint (uvarintBefore, varintBefore)
// on fuzzed bytes read in fuzzed turns.
func FuzzDecoderVarintAgainstBefore(f *testing.F) {
	f.Add(binary.AppendVarint(nil, time.Now().UnixNano()), []byte{1})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x80, 0x01}, []byte{0, 1})
	f.Add(MarshalRecord(&Record{Format: FormatUUID, Storage: StorageVolatile, Ciphertext: make([]byte, 31),
		CreatedAt: time.Unix(1800000000, 1), ExpiresAt: time.Unix(1800003600, 1)}), []byte{3, 2, 2, 0, 2, 0, 1, 1, 2})
	f.Fuzz(func(t *testing.T, b, ops []byte) { compareUvarints(t, b, ops) })
}
