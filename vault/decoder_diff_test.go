package vault

import (
	"encoding/binary"
	"testing"
)

// uvarintBefore is decoder.uvarint as it was before its one-byte fast
// path: the oracle of FuzzDecoderAgainstBinary. Do not change it.
func (d *decoder) uvarintBefore() uint64 {
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

// FuzzDecoderAgainstBinary: on any bytes, a decoder reading unsigned
// varints (and length-prefixed fields, with ops choosing which) one after
// the other reads what it read before its one-byte fast path: the same
// values, the same bytes left, the same error at the same place.
func FuzzDecoderAgainstBinary(f *testing.F) {
	f.Add([]byte{0x00, 0x7f, 0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, []byte{0})
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, []byte{0})
	f.Add(MarshalRecord(&Record{Format: FormatFPESixTFour, Storage: StoragePersistent, KeyVersion: 200, Ciphertext: make([]byte, 130),
		Classifiers: []string{"pan"}, IndexKey: make([]byte, 32), Owner: "acct"}), []byte{1, 1, 0, 1, 1, 1})
	f.Fuzz(func(t *testing.T, b, ops []byte) {
		got, want := decoder{b: b}, decoder{b: b}
		for i := 0; i <= len(b); i++ {
			var g, w uint64
			if len(ops) > 0 && ops[i%len(ops)]&1 == 1 {
				// raw: a length, then that many bytes; the old way, by hand.
				gf := got.raw()
				g = uint64(len(gf))
				if n := want.uvarintBefore(); want.err == nil {
					if n > uint64(len(want.b)) {
						want.err = errCorrupt
					} else {
						w, want.b = n, want.b[n:]
					}
				}
			} else {
				g, w = got.uvarint(), want.uvarintBefore()
			}
			if g != w || len(got.b) != len(want.b) || got.err != want.err {
				t.Fatalf("%x, read %d: %d, %d left, %v; before %d, %d left, %v", b, i, g, len(got.b), got.err, w, len(want.b), want.err)
			}
		}
	})
}
