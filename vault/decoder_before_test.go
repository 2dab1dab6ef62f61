package vault

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// uvarintBefore is decoder.uvarint as it was before its one-byte path.
func uvarintBefore(d *decoder) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// compareUvarints reads b as decoder.uvarint and as uvarintBefore, in
// turns with signed varints (decoder.varint against varintBefore), raw
// fields and bytes as ops says, and fails at the first value, rest or
// error that differs.
func compareUvarints(t *testing.T, b []byte, ops []byte) {
	t.Helper()
	got, want := decoder{b: b}, decoder{b: b}
	for i := 0; i < 64; i++ {
		op := byte(0)
		if len(ops) > 0 {
			op, ops = ops[0], ops[1:]
		}
		switch op % 4 {
		case 0:
			g, w := got.uvarint(), uvarintBefore(&want)
			if g != w {
				t.Fatalf("%x: uvarint %d = %d, want %d", b, i, g, w)
			}
		case 1:
			if g, w := got.varint(), varintBefore(&want); g != w {
				t.Fatalf("%x: varint %d = %d, want %d", b, i, g, w)
			}
		case 2:
			// raw reads its length with uvarint; the reference's field
			// is read as raw read it before.
			g := got.raw()
			n := uvarintBefore(&want)
			var w []byte
			if want.err == nil {
				if n > uint64(len(want.b)) {
					want.err = errCorrupt
				} else {
					w, want.b = want.b[:n:n], want.b[n:]
				}
			}
			if !bytes.Equal(g, w) || (g == nil) != (w == nil) || cap(g) != cap(w) {
				t.Fatalf("%x: raw %d = %x, want %x", b, i, g, w)
			}
		case 3:
			if g, w := got.byte(), want.byte(); g != w {
				t.Fatalf("%x: byte %d = %d, want %d", b, i, g, w)
			}
		}
		if got.err != want.err || !bytes.Equal(got.b, want.b) || len(got.b) != len(want.b) {
			t.Fatalf("%x: after read %d: rest %x (%v), want %x (%v)", b, i, got.b, got.err, want.b, want.err)
		}
	}
}

// TestDecoderUvarintAgainstBefore: one-byte, longer, overlong, cut and
// empty varints read as before.
func TestDecoderUvarintAgainstBefore(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {0x7f}, {0x80}, {0x80, 1}, {0xff, 0x7f, 3}, {1, 2, 3, 0x7f, 0x80},
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 1}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2}, MarshalRecord(&Record{Format: FormatFPESixTFour, Storage: StoragePersistent,
			Ciphertext: make([]byte, 44), Classifiers: []string{"pan"}, IndexKey: make([]byte, 32), Owner: "acme"})} {
		for _, ops := range [][]byte{nil, {2, 2, 0, 2, 0, 2}, {3, 2, 2, 0, 2, 0, 2, 0, 0, 2, 2}, {1, 3, 1, 3}} {
			compareUvarints(t, b, ops)
		}
	}
}

// FuzzDecoderUvarintAgainstBefore: decoder.uvarint and raw against the
// uvarint before its one-byte path, on fuzzed bytes read in fuzzed turns.
func FuzzDecoderUvarintAgainstBefore(f *testing.F) {
	f.Add([]byte{0x80, 1, 5, 'a', 'b'}, []byte{0, 2})
	f.Add(MarshalRecord(&Record{Format: FormatUUID, Storage: StorageVolatile, Ciphertext: make([]byte, 31)}), []byte{3, 2, 2, 0, 2, 0})
	f.Fuzz(func(t *testing.T, b, ops []byte) { compareUvarints(t, b, ops) })
}
